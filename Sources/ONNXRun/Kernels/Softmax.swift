import Foundation

/// Softmax, LogSoftmax and Hardmax.
///
/// Opset < 13 coerces the input to 2-D at `axis` (default 1) and normalizes each row of
/// the flattened [prod(shape[..<axis]), prod(shape[axis...])] matrix; opset ≥ 13 normalizes along
/// the single axis `axis` (default -1). Both are a loop over (outer, length, inner) blocks.
struct SoftmaxKernel: TensorKernel {
    enum Operation: Sendable { case softmax, logSoftmax, hardmax }
    let operation: Operation
    let axis: Int
    /// True for opset < 13: everything from `axis` on is one row.
    let coerceTo2D: Bool

    init(_ operation: Operation, _ context: KernelContext) throws {
        try context.expectInputs(1)
        self.operation = operation
        coerceTo2D = context.opsetVersion < 13
        axis = try context.int("axis", default: coerceTo2D ? 1 : -1)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        let rank = x.rank
        // A scalar behaves as a one-element vector.
        // Opset < 13 also accepts axis == rank (rows of one element).
        let lower = -max(rank, 1)
        let upper = coerceTo2D ? max(rank, 1) : max(rank, 1) - 1
        guard axis >= lower && axis <= upper else {
            throw ONNXRunError(.invalidAttribute, "axis \(axis) is out of range for rank \(rank)")
        }
        let shape = rank == 0 ? [1] : x.shape
        let a = axis < 0 ? axis + shape.count : axis
        let outer = shape[..<a].reduce(1, *)
        let length: Int, inner: Int
        if coerceTo2D {
            length = shape[a...].reduce(1, *)
            inner = 1
        } else {
            length = shape[a]
            inner = shape[(a + 1)...].reduce(1, *)
        }
        switch x.dataType {
        case .float:
            let out = try Tensor(uninitialized: .float, shape: x.shape)
            apply(x.pointer(as: Float.self), out.pointer(as: Float.self), outer: outer, length: length, inner: inner)
            return [out]
        case .double:
            let out = try Tensor(uninitialized: .double, shape: x.shape)
            apply(x.pointer(as: Double.self), out.pointer(as: Double.self), outer: outer, length: length, inner: inner)
            return [out]
        case .float16, .bfloat16:
            let result = try compute([Conversion.cast(x, to: .float)], context)[0]
            return [try Conversion.cast(result, to: x.dataType)]
        default:
            throw ONNXRunError(.unsupportedType, "expects a floating-point tensor, got \(x.dataType)")
        }
    }

    private func apply<T: BinaryFloatingPoint & ElementaryFunctions>(
        _ x: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>, outer: Int, length: Int, inner: Int
    ) {
        guard length > 0 else { return }
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * length * inner + i
                // Element j of this lane is at base + j * inner.
                var maximum = x[base], argmax = 0
                for j in 1..<length {
                    let v = x[base + j * inner]
                    if v > maximum { maximum = v; argmax = j }
                }
                switch operation {
                case .hardmax:
                    for j in 0..<length { y[base + j * inner] = j == argmax ? 1 : 0 }
                case .softmax:
                    var sum: T = 0
                    for j in 0..<length {
                        let e = T.exp(x[base + j * inner] - maximum)
                        y[base + j * inner] = e
                        sum += e
                    }
                    let scale = 1 / sum
                    for j in 0..<length { y[base + j * inner] *= scale }
                case .logSoftmax:
                    var sum: T = 0
                    for j in 0..<length { sum += T.exp(x[base + j * inner] - maximum) }
                    let offset = maximum + T.log(sum)
                    for j in 0..<length { y[base + j * inner] = x[base + j * inner] - offset }
                }
            }
        }
    }
}

/// exp and log for the float types the softmax kernels compute in.
protocol ElementaryFunctions {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
}

extension Float: ElementaryFunctions {
    static func exp(_ x: Float) -> Float { Foundation.exp(x) }
    static func log(_ x: Float) -> Float { Foundation.log(x) }
}

extension Double: ElementaryFunctions {
    static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    static func log(_ x: Double) -> Double { Foundation.log(x) }
}

extension KernelRegistry {
    static func registerSoftmax(_ r: inout KernelRegistry) {
        r.register("Softmax", since: 1, 11, 13) { try SoftmaxKernel(.softmax, $0) }
        r.register("LogSoftmax", since: 1, 11, 13) { try SoftmaxKernel(.logSoftmax, $0) }
        r.register("Hardmax", since: 1, 11, 13) { try SoftmaxKernel(.hardmax, $0) }
    }
}
