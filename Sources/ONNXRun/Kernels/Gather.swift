/// Gather: picks entries of `data` along `axis` by an integer `indices` tensor of any rank.
///
/// Output shape: `data.shape[..<axis] + indices.shape + data.shape[(axis+1)...]`. Negative indices
/// count from the end; anything outside `-dim..<dim` is an `.outOfRange` error.
struct GatherKernel: TensorKernel {
    let axis: Int

    init(_ context: KernelContext) throws {
        try context.expectInputs(2)
        axis = try context.int("axis", default: 0)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let data = inputs[0], let indices = inputs[1] else { throw ONNXRunError(.invalidInput, "data and indices are required") }
        guard indices.dataType == .int32 || indices.dataType == .int64 else {
            throw ONNXRunError(.invalidInput, "indices must be int32 or int64, got \(indices.dataType)")
        }
        guard data.rank > 0 else { throw ONNXRunError(.invalidInput, "data must have rank 1 or more, got a scalar") }
        let a = try DataMovement.axis(axis, rank: data.rank)
        let positions = try Self.normalize(indices, dimension: data.shape[a], axis: a)
        return try DataMovement.mappingStrings([data], data: [0]) { substituted in
            [try Self.gather(substituted[0]!, positions, indicesShape: indices.shape, axis: a)]
        }
    }

    /// The indices as non-negative positions, checked against the axis size.
    static func normalize(_ indices: Tensor, dimension: Int, axis: Int) throws -> [Int] {
        var positions = [Int](repeating: 0, count: indices.count)
        func check<T: FixedWidthInteger>(_: T.Type) throws {
            let p = indices.pointer(as: T.self)
            for i in 0..<indices.count {
                let v = Int(p[i])
                let n = v < 0 ? v + dimension : v
                guard n >= 0 && n < dimension else {
                    throw ONNXRunError(.outOfRange, "index \(v) is out of range for axis \(axis) of size \(dimension)")
                }
                positions[i] = n
            }
        }
        if indices.dataType == .int32 { try check(Int32.self) } else { try check(Int64.self) }
        return positions
    }

    static func gather(_ data: Tensor, _ positions: [Int], indicesShape: [Int], axis: Int) throws -> Tensor {
        let size = try DataMovement.elementSize(data.dataType)
        let shape = Array(data.shape[..<axis]) + indicesShape + Array(data.shape[(axis + 1)...])
        let out = try Tensor(uninitialized: data.dataType, shape: shape)
        guard out.count > 0 else { return out }
        let outer = DataMovement.product(data.shape, 0..<axis)
        let block = DataMovement.product(data.shape, (axis + 1)..<data.rank) * size
        let stride = data.shape[axis] * block
        let source = data.storage.bytes
        if block == size, size <= 8 {
            // One element per index (gathering along the last axis): typed loads beat memcpy calls.
            func typed<T>(_: T.Type) {
                let s = source.assumingMemoryBound(to: T.self), d = out.pointer(as: T.self)
                let n = data.shape[axis]
                var k = 0
                for o in 0..<outer {
                    let base = o * n
                    for p in positions {
                        d[k] = s[base + p]
                        k += 1
                    }
                }
            }
            switch size {
            case 1: typed(UInt8.self)
            case 2: typed(UInt16.self)
            case 4: typed(UInt32.self)
            default: typed(UInt64.self)
            }
            return out
        }
        var destination = out.storage.bytes
        for o in 0..<outer {
            let base = source + o * stride
            for p in positions {
                destination.copyMemory(from: base + p * block, byteCount: block)
                destination += block
            }
        }
        return out
    }
}

extension KernelRegistry {
    static func registerGather(_ r: inout KernelRegistry) {
        r.register("Gather", since: 1, 11, 13) { try GatherKernel($0) }
    }
}
