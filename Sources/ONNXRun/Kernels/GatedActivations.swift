import Foundation

/// Swish (opset 24): Y = X · sigmoid(alpha · X). SwiGLU (opset 28): Y = Swish_alpha(A) · B for A and
/// B of identical shape (no broadcasting).
///
/// Double computes in double; float, float16 and bfloat16 in float, rounding each step to the input
/// type for the narrow ones (as a computation in that type would).
struct SwishKernel: TensorKernel {
    let alpha: Float
    let gated: Bool

    init(_ context: KernelContext, gated: Bool) throws {
        try context.expectInputs(gated ? 2 : 1)
        alpha = try context.float("alpha", default: 1)
        self.gated = gated
    }

    private var op: String { gated ? "SwiGLU" : "Swish" }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        var linear: Tensor? = nil
        if gated {
            guard let b = inputs[1] else { throw ONNXRunError(.invalidInput, "B is required") }
            guard b.shape == x.shape, b.dataType == x.dataType else {
                throw ONNXRunError(.shapeMismatch, "SwiGLU needs A and B of one shape and type, got \(x) and \(b)")
            }
            linear = b
        }
        switch x.dataType {
        case .double:
            let out = try Tensor(uninitialized: .double, shape: x.shape)
            let px = x.pointer(as: Double.self), py = out.pointer(as: Double.self)
            let pb = linear?.pointer(as: Double.self)
            let a = Double(alpha)
            for i in 0..<x.count {
                let v = px[i] * (1 / (1 + Foundation.exp(-a * px[i])))
                py[i] = pb.map { v * $0[i] } ?? v
            }
            return [out]
        case .float, .float16, .bfloat16:
            let round = NarrowRounding(x.dataType)
            let xf = try Conversion.cast(x, to: .float), bf = try linear.map { try Conversion.cast($0, to: .float) }
            let out = try Tensor(uninitialized: .float, shape: x.shape)
            let px = xf.pointer(as: Float.self), py = out.pointer(as: Float.self)
            let pb = bf?.pointer(as: Float.self)
            let a = round(alpha)
            for i in 0..<x.count {
                let e = round(Foundation.exp(round(-a * px[i])))
                let v = round(px[i] * round(1 / round(1 + e)))
                py[i] = pb.map { round(v * $0[i]) } ?? v
            }
            return [try Conversion.cast(out, to: x.dataType)]
        default:
            throw ONNXRunError(.unsupportedType, "\(op) of \(x.dataType) is not supported")
        }
    }
}

extension KernelRegistry {
    static func registerGatedActivations(_ r: inout KernelRegistry) {
        r.register("Swish", since: 24) { try SwishKernel($0, gated: false) }
        r.register("SwiGLU", since: 28) { try SwishKernel($0, gated: true) }
    }
}
