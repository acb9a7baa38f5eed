internal import CKernels

/// Transpose: output axis `i` is input axis `perm[i]` (default: axes reversed).
struct TransposeKernel: TensorKernel {
    let perm: [Int]?

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        perm = try context.ints("perm")
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        let perm = self.perm ?? Array((0..<x.rank).reversed())
        guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else {
            throw ONNXRunError(.invalidAttribute, "perm \(perm) is not a permutation of the \(x.rank) axes of shape \(x.shape)")
        }
        let shape = perm.map { x.shape[$0] }
        // Moving only size-1 axes keeps the element order: a view suffices.
        let moved = perm.filter { x.shape[$0] != 1 }
        if zip(moved, moved.dropFirst()).allSatisfy({ $0 < $1 }) { return [try x.reshaped(to: shape)] }
        return try DataMovement.mappingStrings([x], data: [0]) { substituted in
            [try Self.transpose(substituted[0]!, perm: perm, shape: shape, context: context)]
        }
    }

    static func transpose(_ x: Tensor, perm: [Int], shape: [Int], context: RunContext) throws -> Tensor {
        let size = try DataMovement.elementSize(x.dataType)
        let out = try Tensor(uninitialized: x.dataType, shape: shape)
        guard out.count > 0 else { return out }

        // Drop size-1 axes, then merge input axes that stay adjacent and in order.
        let nonUnit = x.shape.indices.filter { x.shape[$0] != 1 }
        var position = [Int](repeating: -1, count: x.rank)
        for (p, axis) in nonUnit.enumerated() { position[axis] = p }
        let dims = nonUnit.map { x.shape[$0] }
        let kept = perm.filter { x.shape[$0] != 1 }.map { position[$0] }
        var groups: [[Int]] = []  // compacted input axes per merged output axis, in output order
        for axis in kept {
            if var last = groups.last, last.last! + 1 == axis {
                last.append(axis)
                groups[groups.count - 1] = last
            } else {
                groups.append([axis])
            }
        }
        // Merged input shape: groups sorted by their first input axis.
        let inputOrder = groups.indices.sorted { groups[$0][0] < groups[$1][0] }
        var mergedSize = [Int](repeating: 1, count: groups.count)
        for (g, axes) in groups.enumerated() { mergedSize[g] = axes.reduce(1) { $0 * dims[$1] } }
        var mergedStride = [Int](repeating: 1, count: groups.count)
        var step = 1
        for g in inputOrder.reversed() {
            mergedStride[g] = step
            step *= mergedSize[g]
        }

        let n = groups.count
        if n >= 2 && inputOrder == Array(0..<(n - 2)) + [n - 1, n - 2] {
            // Matrix transposes (rows × cols in the input become cols × rows), one per index of
            // the leading axes that stay in place: a channel-last move such as YOLO's head.
            let rows = mergedSize[n - 1], cols = mergedSize[n - 2]
            let batch = mergedSize[0..<(n - 2)].reduce(1, *)
            let source = UnsafeRawPointer(x.storage.bytes), destination = out.storage.bytes
            Parallel.forEach(batch, threads: context.threads, costPerItem: rows * cols) { matrices in
                for b in matrices {
                    let offset = b * rows * cols * size
                    transpose2D(source + offset, destination + offset, rows: rows, cols: cols, elementSize: size)
                }
            }
        } else {
            DataMovement.stridedCopy(
                from: x.storage.bytes, base: 0, strides: mergedStride, shape: mergedSize, elementSize: size,
                into: out.storage.bytes, threads: context.threads)
        }
        return out
    }

    /// Writes the transpose of a row-major `rows × cols` matrix, in cache-sized tiles.
    static func transpose2D(_ source: UnsafeRawPointer, _ destination: UnsafeMutableRawPointer, rows: Int, cols: Int, elementSize: Int) {
        func typed<T>(_: T.Type) {
            let s = source.assumingMemoryBound(to: T.self), d = destination.assumingMemoryBound(to: T.self)
            let tile = 32
            var r0 = 0
            while r0 < rows {
                let r1 = min(r0 + tile, rows)
                var c0 = 0
                while c0 < cols {
                    let c1 = min(c0 + tile, cols)
                    for r in r0..<r1 {
                        for c in c0..<c1 { d[c * rows + r] = s[r * cols + c] }
                    }
                    c0 = c1
                }
                r0 = r1
            }
        }
        switch elementSize {
        case 1: typed(UInt8.self)
        case 2: typed(UInt16.self)
        case 4: ck_transpose_32(source, destination, rows, cols)  // 8×8 blocks in registers
        case 8: typed(UInt64.self)
        case 16: typed(SIMD2<UInt64>.self)
        default:
            DataMovement.stridedCopy(from: source, base: 0, strides: [1, cols], shape: [cols, rows], elementSize: elementSize, into: destination)
        }
    }
}

extension KernelRegistry {
    static func registerTranspose(_ r: inout KernelRegistry) {
        r.register("Transpose", since: 1, 13, 21, 23) { try TransposeKernel($0) }
    }
}
