import Foundation
internal import CKernels

/// Elementwise float functions: activations (Relu, Sigmoid, Tanh, LeakyRelu, Elu, ...) and math
/// (Abs, Neg, Exp, Log, Sqrt, ...). Computed in Float for float32/float16/bfloat16 and in Double for double.
struct UnaryFloatKernel: TensorKernel {
    let single: @Sendable (Float) -> Float
    let double: @Sendable (Double) -> Double
    /// The same function as a SIMD C kernel, used for float32 tensors when there is one.
    let vector: VectorFunction?

    init(_ context: KernelContext, single: @escaping @Sendable (Float) -> Float, double: @escaping @Sendable (Double) -> Double, vector: VectorFunction? = nil) throws {
        try context.expectInputs(1)
        self.single = single
        self.double = double
        self.vector = vector
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        switch x.dataType {
        case .float:
            let out = try Tensor(uninitialized: .float, shape: x.shape)
            let s = x.pointer(as: Float.self), d = out.pointer(as: Float.self), f = single
            if let vector {
                vector.apply(s, into: d, count: x.count, threads: context.threads)
            } else {
                for i in 0..<x.count { d[i] = f(s[i]) }
            }
            return [out]
        case .double:
            let out = try Tensor(uninitialized: .double, shape: x.shape)
            let s = x.pointer(as: Double.self), d = out.pointer(as: Double.self), f = double
            for i in 0..<x.count { d[i] = f(s[i]) }
            return [out]
        case .float16, .bfloat16:
            let wide = try Conversion.cast(x, to: .float)
            let result = try compute([wide], context)[0]
            return [try Conversion.cast(result, to: x.dataType)]
        default:
            throw ONNXRunError(.unsupportedType, "expects a floating-point tensor, got \(x.dataType)")
        }
    }
}

/// Relu on float tensors with the SIMD kernel, split between threads; other types go through
/// `UnaryFloatKernel`.
struct ReluKernel: TensorKernel {
    let generic: UnaryFloatKernel

    init(_ context: KernelContext) throws {
        generic = try UnaryFloatKernel(context, single: { $0 < 0 ? 0 : $0 }, double: { $0 < 0 ? 0 : $0 })
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0], x.dataType == .float else { return try generic.compute(inputs, context) }
        let out = try Tensor(uninitialized: .float, shape: x.shape)
        VectorFunction(CK_ACT_RELU).apply(x.pointer(as: Float.self), into: out.pointer(as: Float.self), count: x.count, threads: context.threads)
        return [out]
    }
}

extension KernelRegistry {
    static func registerActivations(_ r: inout KernelRegistry) {
        func unary(_ name: String, since: Int..., single: @escaping @Sendable (Float) -> Float, double: @escaping @Sendable (Double) -> Double, vector: VectorFunction? = nil) {
            for v in since {
                r.register(name, since: v) { try UnaryFloatKernel($0, single: single, double: double, vector: vector) }
            }
        }
        for v in [1, 6, 13, 14] { r.register("Relu", since: v) { try ReluKernel($0) } }
        unary("Sigmoid", since: 1, 6, 13, single: { 1 / (1 + Foundation.exp(-$0)) }, double: { 1 / (1 + Foundation.exp(-$0)) }, vector: VectorFunction(CK_ACT_SIGMOID))
        unary("Tanh", since: 1, 6, 13, single: { Foundation.tanh($0) }, double: { Foundation.tanh($0) }, vector: VectorFunction(CK_ACT_TANH))
        unary("Exp", since: 1, 6, 13, single: { Foundation.exp($0) }, double: { Foundation.exp($0) }, vector: VectorFunction(CK_ACT_EXP))
        unary("Log", since: 1, 6, 13, single: { Foundation.log($0) }, double: { Foundation.log($0) })
        unary("Sqrt", since: 1, 6, 13, single: { $0.squareRoot() }, double: { $0.squareRoot() })
        unary("Reciprocal", since: 1, 6, 13, single: { 1 / $0 }, double: { 1 / $0 })
        unary("Softplus", since: 1, single: { Foundation.log1p(Foundation.exp(-Swift.abs($0))) + Swift.max($0, 0) }, double: { Foundation.log1p(Foundation.exp(-Swift.abs($0))) + Swift.max($0, 0) })
        unary("Softsign", since: 1, single: { $0 / (1 + Swift.abs($0)) }, double: { $0 / (1 + Swift.abs($0)) })
        unary("Erf", since: 9, 13, single: { Foundation.erf($0) }, double: { Foundation.erf($0) }, vector: VectorFunction(CK_ACT_ERF))
        unary("Sin", since: 7, single: { Foundation.sin($0) }, double: { Foundation.sin($0) })
        unary("Cos", since: 7, single: { Foundation.cos($0) }, double: { Foundation.cos($0) })

        func parameterized(_ name: String, since: Int..., make: @escaping @Sendable (KernelContext) throws -> UnaryFloatKernel) {
            for v in since { r.register(name, since: v, factory: make) }
        }
        parameterized("LeakyRelu", since: 1, 6, 16) { c in
            let alpha = try c.float("alpha", default: 0.01)
            let a = Double(alpha)
            return try UnaryFloatKernel(c, single: { $0 >= 0 ? $0 : alpha * $0 }, double: { $0 >= 0 ? $0 : a * $0 }, vector: VectorFunction(CK_ACT_LEAKY_RELU, alpha))
        }
        parameterized("Elu", since: 1, 6) { c in
            let alpha = try c.float("alpha", default: 1)
            let a = Double(alpha)
            return try UnaryFloatKernel(c, single: { $0 >= 0 ? $0 : alpha * (Foundation.exp($0) - 1) }, double: { $0 >= 0 ? $0 : a * (Foundation.exp($0) - 1) })
        }
        parameterized("HardSigmoid", since: 1, 6) { c in
            let alpha = try c.float("alpha", default: 0.2), beta = try c.float("beta", default: 0.5)
            let a = Double(alpha), b = Double(beta)
            return try UnaryFloatKernel(c, single: { Swift.max(0, Swift.min(1, alpha * $0 + beta)) }, double: { Swift.max(0, Swift.min(1, a * $0 + b)) }, vector: VectorFunction(CK_ACT_HARD_SIGMOID, alpha, beta))
        }
        parameterized("Selu", since: 1, 6) { c in
            let alpha = try c.float("alpha", default: 1.67326319217681884765625), gamma = try c.float("gamma", default: 1.05070102214813232421875)
            let a = Double(alpha), g = Double(gamma)
            return try UnaryFloatKernel(c, single: { $0 > 0 ? gamma * $0 : gamma * (alpha * Foundation.exp($0) - alpha) }, double: { $0 > 0 ? g * $0 : g * (a * Foundation.exp($0) - a) })
        }
    }
}
