internal import CKernels

/// An activation applied in place to a kernel's output block, right after it is computed (used by
/// fused operators such as `FusedConv`, so the output is not read again in a separate pass).
enum FusedActivation: Sendable, Equatable {
    case relu
    case leakyRelu(alpha: Float)
    case clip(min: Float, max: Float)
    case sigmoid
    case tanh
    case hardSigmoid(alpha: Float, beta: Float)
    /// GELU, erf form: 0.5 · x · (1 + erf(x / √2)).
    case gelu
    /// GELU, tanh form: 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))).
    case geluTanh
    /// HardSwish: x · max(0, min(1, x/6 + 1/2)).
    case hardSwish
    /// SiLU (Swish): x · sigmoid(x).
    case silu

    /// The custom domain of this project's fused operators.
    static let domain = "com.onnx-run"

    /// Parses the `activation` / `activation_params` attributes of a fused node.
    init?(name: String, parameters: [Float]) {
        func parameter(_ i: Int, _ fallback: Float) -> Float { i < parameters.count ? parameters[i] : fallback }
        switch name {
        case "Relu": self = .relu
        case "LeakyRelu": self = .leakyRelu(alpha: parameter(0, 0.01))
        case "Clip": self = .clip(min: parameter(0, -.infinity), max: parameter(1, .infinity))
        case "Sigmoid": self = .sigmoid
        case "Tanh": self = .tanh
        case "HardSigmoid": self = .hardSigmoid(alpha: parameter(0, 0.2), beta: parameter(1, 0.5))
        case "Gelu": self = .gelu
        case "GeluTanh": self = .geluTanh
        case "HardSwish": self = .hardSwish
        case "SiLU": self = .silu
        default: return nil
        }
    }

    /// The attribute form: operator name and parameters.
    var attributes: (name: String, parameters: [Float]) {
        switch self {
        case .relu: ("Relu", [])
        case .leakyRelu(let a): ("LeakyRelu", [a])
        case .clip(let lo, let hi): ("Clip", [lo, hi])
        case .sigmoid: ("Sigmoid", [])
        case .tanh: ("Tanh", [])
        case .hardSigmoid(let a, let b): ("HardSigmoid", [a, b])
        case .gelu: ("Gelu", [])
        case .geluTanh: ("GeluTanh", [])
        case .hardSwish: ("HardSwish", [])
        case .silu: ("SiLU", [])
        }
    }

    /// Applies the activation to `count` floats in place, split across up to `threads` threads.
    func apply(_ p: UnsafeMutablePointer<Float>, count: Int, threads: Int = 1) {
        vectorFunction.apply(UnsafePointer(p), into: p, count: count, threads: threads)
    }

    /// The same function as one of the C kernels' vectorized elementwise functions.
    var vectorFunction: VectorFunction {
        switch self {
        case .relu: VectorFunction(CK_ACT_RELU)
        case .leakyRelu(let alpha): VectorFunction(CK_ACT_LEAKY_RELU, alpha)
        case .clip(let lo, let hi): VectorFunction(CK_ACT_CLIP, lo, hi)
        case .sigmoid: VectorFunction(CK_ACT_SIGMOID)
        case .tanh: VectorFunction(CK_ACT_TANH)
        case .hardSigmoid(let alpha, let beta): VectorFunction(CK_ACT_HARD_SIGMOID, alpha, beta)
        case .gelu: VectorFunction(CK_ACT_GELU)
        case .geluTanh: VectorFunction(CK_ACT_GELU_TANH)
        case .hardSwish: VectorFunction(CK_ACT_HARD_SWISH)
        case .silu: VectorFunction(CK_ACT_SILU)
        }
    }
}

extension Optional where Wrapped == FusedActivation {
    /// The form the C kernels' epilogues take an optional activation in: a flag (0 for none), the
    /// function and its two parameters (Relu and zeros when there is none, never applied).
    var kernelParameters: (present: Int32, kind: ck_activation, a: Float, b: Float) {
        guard let function = self?.vectorFunction else { return (0, CK_ACT_RELU, 0, 0) }
        return (1, function.kind, function.a, function.b)
    }
}

/// One of the elementwise float functions of `CKernels/activations.c` (SIMD, chosen by CPU at run
/// time), with its parameters.
struct VectorFunction: Sendable {
    let kind: ck_activation
    let a: Float
    let b: Float

    init(_ kind: ck_activation, _ a: Float = 0, _ b: Float = 0) {
        self.kind = kind
        self.a = a
        self.b = b
    }

    /// Exp and erf based functions cost about ten simple ones per element.
    private var costPerElement: Int {
        switch kind {
        case CK_ACT_RELU, CK_ACT_LEAKY_RELU, CK_ACT_CLIP, CK_ACT_HARD_SIGMOID, CK_ACT_HARD_SWISH: 1
        default: 10
        }
    }

    /// Writes f(source[i]) to destination[i] for i < count (the two may be equal), split across up
    /// to `threads` threads.
    func apply(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, count: Int, threads: Int = 1) {
        let (kind, a, b) = (kind, a, b)
        if threads <= 1 { return ck_activation_f32(kind, a, b, source, destination, count) }
        Parallel.forEach(count, threads: threads, costPerItem: costPerElement) { range in
            ck_activation_f32(kind, a, b, source + range.lowerBound, destination + range.lowerBound, range.count)
        }
    }
}
