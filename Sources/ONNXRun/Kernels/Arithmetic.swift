import Foundation

/// Binary arithmetic with numpy broadcasting: Add, Sub, Mul, Div, Pow, Max/Min/Sum/Mean (variadic),
/// and the opset-1..6 forms with `broadcast`/`axis` attributes.
struct BinaryArithmeticKernel: TensorKernel {
    enum Operation: Sendable { case add, sub, mul, div }
    let operation: Operation
    /// Opset < 7: `broadcast` flag and optional `axis`.
    let legacyBroadcast: Bool
    let legacyAxis: Int?

    init(_ operation: Operation, _ context: KernelContext) throws {
        try context.expectInputs(2)
        self.operation = operation
        if context.opsetVersion < 7 {
            legacyBroadcast = try context.int("broadcast", default: 0) != 0
            legacyAxis = try context.int("axis")
        } else {
            legacyBroadcast = false
            legacyAxis = nil
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let a = inputs[0], var b = inputs[1] else { throw ONNXRunError(.invalidInput, "both inputs are required") }
        guard a.dataType == b.dataType else {
            throw ONNXRunError(.invalidInput, "operand types differ: \(a.dataType) and \(b.dataType)")
        }
        if legacyBroadcast && a.shape != b.shape { b = try Broadcast.legacyAlign(b, to: a, axis: legacyAxis) }
        return [try Self.apply(operation, a, b)]
    }

    static func apply(_ operation: Operation, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        func run<T: Numeric>(_: T.Type, divide: (T, T) -> T) throws -> Tensor {
            switch operation {
            case .add: try Broadcast.apply(a, b, as: T.self, T.self, into: a.dataType, T.self, +)
            case .sub: try Broadcast.apply(a, b, as: T.self, T.self, into: a.dataType, T.self, -)
            case .mul: try Broadcast.apply(a, b, as: T.self, T.self, into: a.dataType, T.self, *)
            case .div: try Broadcast.apply(a, b, as: T.self, T.self, into: a.dataType, T.self, divide)
            }
        }
        func integer<T: FixedWidthInteger>(_: T.Type) throws -> Tensor {
            switch operation {
            case .add: try Broadcast.apply(a, b, as: T.self, T.self, into: a.dataType, T.self, &+)
            case .sub: try Broadcast.apply(a, b, as: T.self, T.self, into: a.dataType, T.self, &-)
            case .mul: try Broadcast.apply(a, b, as: T.self, T.self, into: a.dataType, T.self, &*)
            case .div:
                try Broadcast.apply(a, b, as: T.self, T.self, into: a.dataType, T.self) { x, y in
                    // Integer division by zero has no defined result; produce 0 rather than trap.
                    y == 0 ? 0 : (T.isSigned && y == -1 ? 0 &- x : x / y)
                }
            }
        }
        switch a.dataType {
        case .float: return try run(Float.self, divide: /)
        case .double: return try run(Double.self, divide: /)
        case .float16: return try run(Float16.self, divide: /)
        case .int32: return try integer(Int32.self)
        case .int64: return try integer(Int64.self)
        case .int8: return try integer(Int8.self)
        case .int16: return try integer(Int16.self)
        case .uint8: return try integer(UInt8.self)
        case .uint16: return try integer(UInt16.self)
        case .uint32: return try integer(UInt32.self)
        case .uint64: return try integer(UInt64.self)
        case .bfloat16:
            let fa = try Conversion.cast(a, to: .float), fb = try Conversion.cast(b, to: .float)
            return try Conversion.cast(try apply(operation, fa, fb), to: .bfloat16)
        default: throw ONNXRunError(.unsupportedType, "arithmetic on \(a.dataType) is not supported")
        }
    }
}

/// Sum, Max, Min and Mean over any number of inputs, with broadcasting.
struct VariadicKernel: TensorKernel {
    enum Operation: Sendable { case sum, max, min, mean }
    let operation: Operation

    init(_ operation: Operation, _ context: KernelContext) throws {
        guard context.inputCount >= 1 else { throw context.error(.invalidModel, "needs at least one input") }
        self.operation = operation
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let tensors = inputs.compactMap { $0 }
        guard var result = tensors.first else { throw ONNXRunError(.invalidInput, "needs at least one input") }
        for next in tensors.dropFirst() {
            guard next.dataType == result.dataType else {
                throw ONNXRunError(.invalidInput, "operand types differ: \(result.dataType) and \(next.dataType)")
            }
            result = try combine(result, next)
        }
        if tensors.count == 1 {
            result = try result.reshaped(to: result.shape)  // a view is fine: outputs are never written
        }
        if operation == .mean {
            let n = try Tensor(zeros: result.dataType, shape: [])
            switch result.dataType {
            case .float: n.pointer(as: Float.self)[0] = Float(tensors.count)
            case .double: n.pointer(as: Double.self)[0] = Double(tensors.count)
            case .float16: n.pointer(as: Float16.self)[0] = Float16(Float(tensors.count))
            default: throw ONNXRunError(.unsupportedType, "Mean of \(result.dataType) is not supported")
            }
            result = try BinaryArithmeticKernel.apply(.div, result, n)
        }
        return [result]
    }

    private func combine(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        switch operation {
        case .sum, .mean: return try BinaryArithmeticKernel.apply(.add, a, b)
        case .max, .min:
            let isMax = operation == .max
            func run<T: Comparable>(_: T.Type) throws -> Tensor {
                try Broadcast.apply(a, b, as: T.self, T.self, into: a.dataType, T.self) { x, y in
                    isMax ? (x >= y ? x : y) : (x <= y ? x : y)
                }
            }
            func runFloat<T: BinaryFloatingPoint>(_: T.Type) throws -> Tensor {
                try Broadcast.apply(a, b, as: T.self, T.self, into: a.dataType, T.self) { x, y in
                    if x.isNaN || y.isNaN { return T.nan }
                    return isMax ? (x >= y ? x : y) : (x <= y ? x : y)
                }
            }
            switch a.dataType {
            case .float: return try runFloat(Float.self)
            case .double: return try runFloat(Double.self)
            case .float16: return try runFloat(Float16.self)
            case .int8: return try run(Int8.self)
            case .int16: return try run(Int16.self)
            case .int32: return try run(Int32.self)
            case .int64: return try run(Int64.self)
            case .uint8: return try run(UInt8.self)
            case .uint16: return try run(UInt16.self)
            case .uint32: return try run(UInt32.self)
            case .uint64: return try run(UInt64.self)
            default: throw ONNXRunError(.unsupportedType, "\(operation) of \(a.dataType) is not supported")
            }
        }
    }
}

extension KernelRegistry {
    static func registerArithmetic(_ r: inout KernelRegistry) {
        r.register("Add", since: 1, 6, 7, 13, 14) { try BinaryArithmeticKernel(.add, $0) }
        r.register("Sub", since: 1, 6, 7, 13, 14) { try BinaryArithmeticKernel(.sub, $0) }
        r.register("Mul", since: 1, 6, 7, 13, 14) { try BinaryArithmeticKernel(.mul, $0) }
        r.register("Div", since: 1, 6, 7, 13, 14) { try BinaryArithmeticKernel(.div, $0) }
        r.register("Sum", since: 1, 6, 8, 13) { try VariadicKernel(.sum, $0) }
        r.register("Mean", since: 1, 6, 8, 13) { try VariadicKernel(.mean, $0) }
        r.register("Max", since: 1, 6, 8, 12, 13) { try VariadicKernel(.max, $0) }
        r.register("Min", since: 1, 6, 8, 12, 13) { try VariadicKernel(.min, $0) }
    }
}
