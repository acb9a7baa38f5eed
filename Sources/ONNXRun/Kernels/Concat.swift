/// Concat and Split: joining tensors along an axis and cutting one apart.

/// Concat: joins inputs of one type and rank along `axis` (default 1 in opset 1, required from 4).
struct ConcatKernel: TensorKernel {
    let axis: Int

    init(_ context: KernelContext) throws {
        guard context.inputCount >= 1 else { throw context.error(.invalidModel, "needs at least one input") }
        axis = context.opsetVersion < 4 ? try context.int("axis", default: 1) : try context.required("axis", context.int)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let tensors = try inputs.enumerated().map { index, t in
            guard let t else { throw ONNXRunError(.invalidInput, "input \(index) is missing") }
            return t
        }
        return try DataMovement.mappingStrings(tensors, data: Array(tensors.indices)) { substituted in
            [try Self.concatenate(substituted.map { $0! }, axis: axis, threads: context.threads)]
        }
    }

    /// Output bytes below which one thread copies everything (a chunk's copy must outweigh
    /// handing it to another thread).
    static let parallelBytes = 128 << 10

    /// `tensors` joined along `axis`. Large outputs are copied by up to `threads` threads, each
    /// filling its own stretch of the output.
    static func concatenate(_ tensors: [Tensor], axis: Int, threads: Int = 1) throws -> Tensor {
        let first = tensors[0]
        let rank = first.rank
        guard rank > 0 else { throw ONNXRunError(.invalidInput, "cannot concatenate scalars") }
        let a = try DataMovement.axis(axis, rank: rank)
        var shape = first.shape
        shape[a] = 0
        for (index, t) in tensors.enumerated() {
            guard t.dataType == first.dataType else {
                throw ONNXRunError(.invalidInput, "input \(index) is \(t.dataType), input 0 is \(first.dataType)")
            }
            guard t.rank == rank, (0..<rank).allSatisfy({ $0 == a || t.shape[$0] == first.shape[$0] }) else {
                throw ONNXRunError(.shapeMismatch, "input \(index) of shape \(t.shape) does not match input 0 of shape \(first.shape) outside axis \(axis)")
            }
            shape[a] += t.shape[a]
        }
        let size = try DataMovement.elementSize(first.dataType)
        let out = try Tensor(uninitialized: first.dataType, shape: shape)
        let outer = DataMovement.product(shape, 0..<a)
        let inner = DataMovement.product(shape, (a + 1)..<rank) * size
        let blocks = tensors.map { $0.shape[a] * inner }
        let total = out.count * size
        guard threads > 1, total >= Self.parallelBytes, first.dataType != .string else {
            var destination = out.storage.bytes
            for o in 0..<outer {
                for (t, block) in zip(tensors, blocks) where block > 0 {
                    destination.copyMemory(from: t.storage.bytes + o * block, byteCount: block)
                    destination += block
                }
            }
            return out
        }
        // The output is a sequence of segments (for each outer index, one block per input); each
        // chunk copies the parts of the segments that fall in its byte range of the output.
        let rowBytes = blocks.reduce(0, +)
        let chunkBytes = 64 << 10
        let destination = out.storage.bytes, sources = tensors.map { UnsafeRawPointer($0.storage.bytes) }
        Parallel.forEach((total + chunkBytes - 1) / chunkBytes, threads: threads, costPerItem: chunkBytes) { chunks in
            let low = chunks.lowerBound * chunkBytes, high = min(total, chunks.upperBound * chunkBytes)
            var position = low
            while position < high {
                let o = position / rowBytes
                var offset = position - o * rowBytes, input = 0
                while offset >= blocks[input] { offset -= blocks[input]; input += 1 }
                let length = min(blocks[input] - offset, high - position)
                (destination + position).copyMemory(from: sources[input] + o * blocks[input] + offset, byteCount: length)
                position += length
            }
        }
        return out
    }
}

/// Split: cuts the input along `axis` into one part per output. Part sizes come from the `split`
/// attribute (before opset 13; also an optional input in opset 1), the `split` input (opset ≥ 13),
/// `num_outputs` (opset ≥ 18, last part smaller when uneven), or else equal parts.
struct SplitKernel: TensorKernel {
    let axis: Int
    let outputCount: Int
    let attributeSplit: [Int]?
    let splitInput: Bool
    let numOutputs: Int?

    init(_ context: KernelContext) throws {
        let version = context.opsetVersion
        if version == 1 || version >= 13 {
            try context.expectInputs(1, 2)
        } else {
            try context.expectInputs(1)
        }
        axis = try context.int("axis", default: 0)
        outputCount = context.node.outputs.count
        guard outputCount >= 1 else { throw context.error(.invalidModel, "needs at least one output") }
        attributeSplit = version < 13 ? try context.ints("split") : nil
        splitInput = (version == 1 || version >= 13) && context.hasInput(1)
        numOutputs = version >= 18 ? try context.int("num_outputs") : nil
        if let numOutputs {
            guard !splitInput else { throw context.error(.invalidModel, "takes either the split input or num_outputs, not both") }
            guard numOutputs == outputCount else {
                throw context.error(.invalidModel, "num_outputs is \(numOutputs) but the node has \(outputCount) outputs")
            }
        }
        if let attributeSplit, attributeSplit.count != outputCount {
            throw context.error(.invalidAttribute, "split \(attributeSplit) has \(attributeSplit.count) parts for \(outputCount) outputs")
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        guard x.rank > 0 else { throw ONNXRunError(.invalidInput, "cannot split a scalar") }
        let a = try DataMovement.axis(axis, rank: x.rank)
        let dim = x.shape[a]
        var sizes: [Int]
        if splitInput, inputs.count > 1, let s = inputs[1] {
            sizes = try Conversion.integers(s)
            guard sizes.count == outputCount else {
                throw ONNXRunError(.invalidInput, "split \(sizes) has \(sizes.count) parts for \(outputCount) outputs")
            }
        } else if let attributeSplit {
            sizes = attributeSplit
        } else if numOutputs != nil {
            let chunk = (dim + outputCount - 1) / outputCount
            sizes = (0..<outputCount).map { max(0, min(chunk, dim - $0 * chunk)) }
        } else {
            guard dim % outputCount == 0 else {
                throw ONNXRunError(.shapeMismatch, "axis \(axis) of size \(dim) cannot be split into \(outputCount) equal parts")
            }
            sizes = Array(repeating: dim / outputCount, count: outputCount)
        }
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == dim else {
            throw ONNXRunError(.shapeMismatch, "split \(sizes) does not add up to \(dim), the size of axis \(axis)")
        }
        return try DataMovement.mappingStrings([x], data: [0]) { substituted in
            let x = substituted[0]!
            let size = try DataMovement.elementSize(x.dataType)
            let outer = DataMovement.product(x.shape, 0..<a)
            let inner = DataMovement.product(x.shape, (a + 1)..<x.rank) * size
            var offset = 0
            return try sizes.map { part in
                var shape = x.shape
                shape[a] = part
                let out = try Tensor(uninitialized: x.dataType, shape: shape)
                let block = part * inner, stride = dim * inner
                if block > 0 {
                    for o in 0..<outer {
                        (out.storage.bytes + o * block).copyMemory(from: x.storage.bytes + o * stride + offset, byteCount: block)
                    }
                }
                offset += block
                return out
            }
        }
    }
}

extension KernelRegistry {
    static func registerConcatSplit(_ r: inout KernelRegistry) {
        r.register("Concat", since: 1, 4, 11, 13) { try ConcatKernel($0) }
        r.register("Split", since: 1, 2, 11, 13, 18) { try SplitKernel($0) }
    }
}
