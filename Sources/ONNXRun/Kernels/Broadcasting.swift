/// Numpy-style broadcasting helpers shared by elementwise kernels.
enum Broadcast {
    /// The broadcast shape of `a` and `b`, or a shape-mismatch error.
    static func shape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if da == db || db == 1 {
                result[i] = da
            } else if da == 1 {
                result[i] = db
            } else {
                throw ONNXRunError(.shapeMismatch, "shapes \(a) and \(b) cannot be broadcast together (dimension \(i): \(da) vs \(db))")
            }
        }
        return result
    }

    /// Element strides of `shape` aligned to `outShape`, 0 along broadcast dimensions.
    static func strides(of shape: [Int], in outShape: [Int]) -> [Int] {
        let offset = outShape.count - shape.count
        var strides = [Int](repeating: 0, count: outShape.count)
        var step = 1
        for i in (0..<shape.count).reversed() {
            strides[i + offset] = shape[i] == 1 ? 0 : step
            step *= shape[i]
        }
        return strides
    }

    /// Calls `body(outStart, aStart, bStart, count, aStep, bStep)` for each run along the innermost
    /// dimension of the broadcast iteration over `outShape`.
    @inline(__always)
    static func forEachRow(
        outShape: [Int], aStrides: [Int], bStrides: [Int],
        _ body: (_ out: Int, _ a: Int, _ b: Int, _ count: Int, _ aStep: Int, _ bStep: Int) -> Void
    ) {
        let rank = outShape.count
        if rank == 0 {
            body(0, 0, 0, 1, 0, 0)
            return
        }
        let inner = outShape[rank - 1]
        let aStep = aStrides[rank - 1], bStep = bStrides[rank - 1]
        var total = 1
        for d in outShape { total *= d }
        if total == 0 { return }
        var index = [Int](repeating: 0, count: rank)
        var aOffset = 0, bOffset = 0, out = 0
        while out < total {
            body(out, aOffset, bOffset, inner, aStep, bStep)
            out += inner
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                aOffset += aStrides[axis]
                bOffset += bStrides[axis]
                if index[axis] < outShape[axis] { break }
                aOffset -= aStrides[axis] * outShape[axis]
                bOffset -= bStrides[axis] * outShape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// Applies `op` elementwise with broadcasting, writing into a new tensor of type `outType`.
    @inline(__always)
    static func apply<A, B, R>(
        _ a: Tensor, _ b: Tensor, as: A.Type, _: B.Type, into outType: DataType, _: R.Type, _ op: (A, B) -> R
    ) throws -> Tensor {
        let outShape = try shape(a.shape, b.shape)
        let out = try Tensor(uninitialized: outType, shape: outShape)
        let pa = a.pointer(as: A.self), pb = b.pointer(as: B.self), po = out.pointer(as: R.self)
        if a.shape == b.shape {
            for i in 0..<out.count { po[i] = op(pa[i], pb[i]) }
        } else if b.count == 1 {
            let scalar = pb[0]
            for i in 0..<out.count { po[i] = op(pa[i], scalar) }
        } else if a.count == 1 {
            let scalar = pa[0]
            for i in 0..<out.count { po[i] = op(scalar, pb[i]) }
        } else {
            let sa = strides(of: a.shape, in: outShape), sb = strides(of: b.shape, in: outShape)
            forEachRow(outShape: outShape, aStrides: sa, bStrides: sb) { o, ia, ib, n, stepA, stepB in
                if stepA == 1 && stepB == 1 {
                    for j in 0..<n { po[o + j] = op(pa[ia + j], pb[ib + j]) }
                } else if stepA == 1 && stepB == 0 {
                    let v = pb[ib]
                    for j in 0..<n { po[o + j] = op(pa[ia + j], v) }
                } else if stepA == 0 && stepB == 1 {
                    let v = pa[ia]
                    for j in 0..<n { po[o + j] = op(v, pb[ib + j]) }
                } else {
                    for j in 0..<n { po[o + j] = op(pa[ia + j * stepA], pb[ib + j * stepB]) }
                }
            }
        }
        return out
    }

    /// For opset < 7 `broadcast=1`: reshapes `b` so its dimensions line up with `a` from `axis`.
    static func legacyAlign(_ b: Tensor, to a: Tensor, axis: Int?) throws -> Tensor {
        let start = axis.map { $0 < 0 ? $0 + a.rank : $0 } ?? (a.rank - b.rank)
        guard start >= 0, start + b.rank <= a.rank else {
            throw ONNXRunError(.shapeMismatch, "cannot broadcast \(b.shape) into \(a.shape) at axis \(start)")
        }
        // Old exporters write B's trailing 1s; drop them if they would overflow A's rank.
        let shape = Array(repeating: 1, count: start) + b.shape + Array(repeating: 1, count: a.rank - start - b.rank)
        return try b.reshaped(to: shape)
    }
}
