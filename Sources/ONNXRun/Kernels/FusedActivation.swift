import Foundation

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

    /// Applies the activation to `count` floats in place.
    func apply(_ p: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .relu:
            for i in 0..<count { let v = p[i]; p[i] = v < 0 ? 0 : v }  // NaN stays NaN
        case .leakyRelu(let alpha):
            for i in 0..<count where p[i] < 0 { p[i] *= alpha }
        case .clip(let lo, let hi):
            for i in 0..<count { p[i] = Swift.min(Swift.max(p[i], lo), hi) }
        case .sigmoid:
            for i in 0..<count { p[i] = 1 / (1 + Foundation.exp(-p[i])) }
        case .tanh:
            for i in 0..<count { p[i] = Foundation.tanh(p[i]) }
        case .hardSigmoid(let alpha, let beta):
            for i in 0..<count { p[i] = Swift.max(0, Swift.min(1, alpha * p[i] + beta)) }
        case .gelu:
            // The same float operations as the exported graph: Div by √2, Erf, Add 1, Mul x, Mul 0.5.
            let root2 = Float(2).squareRoot()
            for i in 0..<count { let x = p[i]; p[i] = x * (Foundation.erf(x / root2) + 1) * 0.5 }
        case .geluTanh:
            let c = Float((2 / Double.pi).squareRoot())
            for i in 0..<count {
                // x³ rounded once, as Pow(x, 3) computes it.
                let x = p[i], cube = Float(Double(x) * Double(x) * Double(x))
                p[i] = 0.5 * x * (1 + Foundation.tanh(c * (x + 0.044715 * cube)))
            }
        case .hardSwish:
            for i in 0..<count { let x = p[i]; p[i] = x * Swift.max(0, Swift.min(1, x * (1 / 6) + 0.5)) }
        case .silu:
            // As the exported graph computes it: Sigmoid rounded to float, then the product.
            for i in 0..<count { let x = p[i]; p[i] = x * (1 / (1 + Foundation.exp(-x))) }
        }
    }
}
