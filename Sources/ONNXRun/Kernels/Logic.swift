/// Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual), boolean logic (And, Or, Xor,
/// Not) and bitwise operators (BitwiseAnd/Or/Xor/Not, BitShift), all with numpy broadcasting.
struct CompareKernel: TensorKernel {
    enum Relation: Sendable { case equal, less, greater, lessOrEqual, greaterOrEqual }
    let relation: Relation

    init(_ relation: Relation, _ context: KernelContext) throws {
        try context.expectInputs(2)
        self.relation = relation
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let a = inputs[0], let b = inputs[1] else { throw ONNXRunError(.invalidInput, "both inputs are required") }
        guard a.dataType == b.dataType else { throw ONNXRunError(.invalidInput, "operand types differ: \(a.dataType) and \(b.dataType)") }
        let relation = self.relation
        func run<T: Comparable>(_: T.Type) throws -> Tensor {
            try Broadcast.apply(a, b, as: T.self, T.self, into: .bool, UInt8.self) { x, y in
                let result: Bool = switch relation {
                case .equal: x == y
                case .less: x < y
                case .greater: x > y
                case .lessOrEqual: x <= y
                case .greaterOrEqual: x >= y
                }
                return result ? 1 : 0
            }
        }
        switch a.dataType {
        case .float: return [try run(Float.self)]
        case .double: return [try run(Double.self)]
        case .float16: return [try run(Float16.self)]
        case .int8: return [try run(Int8.self)]
        case .int16: return [try run(Int16.self)]
        case .int32: return [try run(Int32.self)]
        case .int64: return [try run(Int64.self)]
        case .uint8, .bool: return [try run(UInt8.self)]
        case .uint16: return [try run(UInt16.self)]
        case .uint32: return [try run(UInt32.self)]
        case .uint64: return [try run(UInt64.self)]
        case .bfloat16: return try compute([Conversion.cast(a, to: .float), Conversion.cast(b, to: .float)], context)
        case .string where relation == .equal:
            let shape = try Broadcast.shape(a.shape, b.shape)
            let out = try Tensor(uninitialized: .bool, shape: shape)
            let p = out.pointer(as: UInt8.self), left = a.strings, right = b.strings
            Broadcast.forEachRow(outShape: shape, aStrides: Broadcast.strides(of: a.shape, in: shape), bStrides: Broadcast.strides(of: b.shape, in: shape)) { o, ia, ib, n, sa, sb in
                for j in 0..<n { p[o + j] = left[ia + j * sa] == right[ib + j * sb] ? 1 : 0 }
            }
            return [out]
        default: throw ONNXRunError(.unsupportedType, "comparison of \(a.dataType) is not supported")
        }
    }
}

/// And, Or, Xor on bool tensors.
struct BooleanKernel: TensorKernel {
    let combine: @Sendable (UInt8, UInt8) -> UInt8
    init(_ context: KernelContext, _ combine: @escaping @Sendable (UInt8, UInt8) -> UInt8) throws {
        try context.expectInputs(2)
        self.combine = combine
    }
    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let a = inputs[0], let b = inputs[1], a.dataType == .bool, b.dataType == .bool else {
            throw ONNXRunError(.invalidInput, "expects two bool tensors")
        }
        return [try Broadcast.apply(a, b, as: UInt8.self, UInt8.self, into: .bool, UInt8.self, combine)]
    }
}

/// BitwiseAnd/Or/Xor and BitShift on integer tensors.
struct BitwiseKernel: TensorKernel {
    enum Operation: Sendable { case and, or, xor, shiftLeft, shiftRight }
    let operation: Operation
    init(_ operation: Operation, _ context: KernelContext) throws {
        try context.expectInputs(2)
        self.operation = operation
    }
    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let a = inputs[0], let b = inputs[1], a.dataType == b.dataType else { throw ONNXRunError(.invalidInput, "expects two tensors of one integer type") }
        let operation = self.operation
        func run<T: FixedWidthInteger>(_: T.Type) throws -> Tensor {
            try Broadcast.apply(a, b, as: T.self, T.self, into: a.dataType, T.self) { x, y in
                switch operation {
                case .and: x & y
                case .or: x | y
                case .xor: x ^ y
                // Shifts by a negative amount or by the width or more fill with zeros (left) or
                // with the sign bit (right), as the conformance cases expect.
                case .shiftLeft: y < 0 || y >= T.bitWidth ? 0 : x << y
                case .shiftRight: y < 0 || y >= T.bitWidth ? (x < 0 ? ~0 : 0) : x >> y
                }
            }
        }
        switch a.dataType {
        case .int8: return [try run(Int8.self)]
        case .int16: return [try run(Int16.self)]
        case .int32: return [try run(Int32.self)]
        case .int64: return [try run(Int64.self)]
        case .uint8: return [try run(UInt8.self)]
        case .uint16: return [try run(UInt16.self)]
        case .uint32: return [try run(UInt32.self)]
        case .uint64: return [try run(UInt64.self)]
        default: throw ONNXRunError(.unsupportedType, "bitwise operations on \(a.dataType) are not supported")
        }
    }
}

/// Not (bool) and BitwiseNot (integers).
struct InvertKernel: TensorKernel {
    init(_ context: KernelContext) throws { try context.expectInputs(1) }
    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        let out = try Tensor(uninitialized: x.dataType, shape: x.shape)
        if x.dataType == .bool {
            let s = x.pointer(as: UInt8.self), d = out.pointer(as: UInt8.self)
            for i in 0..<x.count { d[i] = s[i] == 0 ? 1 : 0 }
            return [out]
        }
        guard x.dataType.isInteger else { throw ONNXRunError(.unsupportedType, "expects bool or integer, got \(x.dataType)") }
        let s = x.pointer(as: UInt8.self), d = out.pointer(as: UInt8.self)
        for i in 0..<x.byteCount { d[i] = ~s[i] }
        return [out]
    }
}

extension KernelRegistry {
    static func registerLogic(_ r: inout KernelRegistry) {
        r.register("Equal", since: 1, 7, 11, 13, 19) { try CompareKernel(.equal, $0) }
        r.register("Less", since: 1, 7, 9, 13) { try CompareKernel(.less, $0) }
        r.register("Greater", since: 1, 7, 9, 13) { try CompareKernel(.greater, $0) }
        r.register("LessOrEqual", since: 12, 16) { try CompareKernel(.lessOrEqual, $0) }
        r.register("GreaterOrEqual", since: 12, 16) { try CompareKernel(.greaterOrEqual, $0) }
        r.register("And", since: 1, 7) { try BooleanKernel($0) { $0 & $1 } }
        r.register("Or", since: 1, 7) { try BooleanKernel($0) { $0 | $1 } }
        r.register("Xor", since: 1, 7) { try BooleanKernel($0) { $0 ^ $1 } }
        r.register("Not", since: 1) { try InvertKernel($0) }
        r.register("BitwiseNot", since: 18) { try InvertKernel($0) }
        r.register("BitwiseAnd", since: 18) { try BitwiseKernel(.and, $0) }
        r.register("BitwiseOr", since: 18) { try BitwiseKernel(.or, $0) }
        r.register("BitwiseXor", since: 18) { try BitwiseKernel(.xor, $0) }
        r.register("BitShift", since: 11) { c in
            let direction = try c.required("direction", c.string)
            guard direction == "LEFT" || direction == "RIGHT" else { throw c.error(.invalidAttribute, "direction must be LEFT or RIGHT, got '\(direction)'") }
            return try BitwiseKernel(direction == "LEFT" ? .shiftLeft : .shiftRight, c)
        }
    }
}
