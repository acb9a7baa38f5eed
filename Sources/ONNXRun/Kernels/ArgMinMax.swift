/// ArgMax and ArgMin: int64 positions of the extreme element along `axis`.
///
/// Ties go to the first position, or the last with `select_last_index` (opset ≥ 12). A NaN counts
/// as more extreme than any number (as in numpy), so the first NaN wins.
struct ArgExtremeKernel: TensorKernel {
    let isMax: Bool
    let axis: Int
    let keepDims: Bool
    let selectLast: Bool

    init(max isMax: Bool, _ context: KernelContext) throws {
        try context.expectInputs(1)
        self.isMax = isMax
        axis = try context.int("axis", default: 0)
        keepDims = try context.int("keepdims", default: 1) != 0
        selectLast = context.opsetVersion >= 12 ? try context.int("select_last_index", default: 0) != 0 : false
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        let rank = max(x.rank, 1)
        let a = try DataMovement.axis(axis, rank: rank)
        let dims = x.rank == 0 ? [1] : x.shape
        let n = dims[a]
        var shape = dims
        if keepDims { shape[a] = 1 } else { shape.remove(at: a) }
        let out = try Tensor(uninitialized: .int64, shape: x.rank == 0 ? [] : shape)
        guard out.count > 0 else { return [out] }
        guard n > 0 else { throw ONNXRunError(.invalidInput, "cannot take the arg\(isMax ? "max" : "min") of an empty axis \(axis) in shape \(x.shape)") }
        let outer = DataMovement.product(dims, 0..<a)
        let inner = DataMovement.product(dims, (a + 1)..<dims.count)
        let result = out.pointer(as: Int64.self)

        func scan<T>(_ p: UnsafePointer<T>, better: (T, T) -> Bool, equal: (T, T) -> Bool) {
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * n * inner + i
                    var best = p[base], bestIndex = 0
                    for k in 1..<n {
                        let v = p[base + k * inner]
                        if better(v, best) || (selectLast && equal(v, best)) {
                            best = v
                            bestIndex = k
                        }
                    }
                    result[o * inner + i] = Int64(bestIndex)
                }
            }
        }
        let isMax = self.isMax
        func integer<T: FixedWidthInteger>(_: T.Type) {
            scan(x.pointer(as: T.self), better: isMax ? { $0 > $1 } : { $0 < $1 }, equal: { $0 == $1 })
        }
        func floating<T: BinaryFloatingPoint>(_: T.Type) {
            // NaN beats numbers; among NaNs, equality decides first/last.
            scan(
                x.pointer(as: T.self),
                better: isMax ? { $0 > $1 || ($0.isNaN && !$1.isNaN) } : { $0 < $1 || ($0.isNaN && !$1.isNaN) },
                equal: { $0 == $1 || ($0.isNaN && $1.isNaN) })
        }
        switch x.dataType {
        case .float: floating(Float.self)
        case .double: floating(Double.self)
        case .float16: floating(Float16.self)
        case .bfloat16: return try compute([try Conversion.cast(x, to: .float)], context)
        case .int8: integer(Int8.self)
        case .int16: integer(Int16.self)
        case .int32: integer(Int32.self)
        case .int64: integer(Int64.self)
        case .uint8, .bool: integer(UInt8.self)
        case .uint16: integer(UInt16.self)
        case .uint32: integer(UInt32.self)
        case .uint64: integer(UInt64.self)
        default: throw ONNXRunError(.unsupportedType, "arg\(isMax ? "max" : "min") of \(x.dataType) is not supported")
        }
        return [out]
    }
}

extension KernelRegistry {
    static func registerArgMinMax(_ r: inout KernelRegistry) {
        r.register("ArgMax", since: 1, 11, 12, 13) { try ArgExtremeKernel(max: true, $0) }
        r.register("ArgMin", since: 1, 11, 12, 13) { try ArgExtremeKernel(max: false, $0) }
    }
}
