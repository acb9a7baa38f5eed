/// Index-driven data movement: Pad, GatherElements, GatherND, ScatterElements, ScatterND, Scatter,
/// DepthToSpace, SpaceToDepth, ReverseSequence. Each computes flat source positions and copies
/// elements of any type; scatter reductions compute in Double or Int64.

/// Multi-index ↔ flat offset helpers.
private struct Layout {
    let shape: [Int]
    let strides: [Int]
    init(_ shape: [Int]) {
        self.shape = shape
        var s = [Int](repeating: 1, count: shape.count)
        var step = 1
        for axis in shape.indices.reversed() {
            s[axis] = step
            step *= shape[axis]
        }
        strides = s
    }
    func index(of flat: Int) -> [Int] {
        var rest = flat
        return strides.map { stride in
            let v = rest / stride
            rest %= stride
            return v
        }
    }
    func flat(_ index: [Int]) -> Int { zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 } }
}

/// An index value checked against `size` (negative counts from the end).
private func checkedIndex(_ raw: Int64, size: Int, what: String = "index") throws -> Int {
    let v = raw < 0 ? Int(raw) + size : Int(raw)
    guard v >= 0 && v < size else { throw ONNXRunError(.outOfRange, "\(what) \(raw) is out of range for a dimension of size \(size)") }
    return v
}

private func indexValues(_ t: Tensor) throws -> [Int64] {
    guard let read = Conversion.integerReader(t), t.dataType == .int64 || t.dataType == .int32 else {
        throw ONNXRunError(.invalidInput, "indices must be int32 or int64, got \(t.dataType)")
    }
    return (0..<t.count).map(read)
}

/// A copy of `base` with element `targets[k]` replaced by element `k` of `updates` (any element
/// type; a later write to the same target wins).
func overlay(_ base: Tensor, _ updates: Tensor, targets: [Int]) throws -> Tensor {
    if base.dataType == .string {
        var strings = base.strings
        for (k, t) in targets.enumerated() { strings[t] = updates.strings[k] }
        return try Tensor(shape: base.shape, strings: strings)
    }
    let size = try DataMovement.elementSize(base.dataType)
    let out = try Tensor(uninitialized: base.dataType, shape: base.shape)
    if base.byteCount > 0 { out.storage.bytes.copyMemory(from: base.storage.bytes, byteCount: base.byteCount) }
    for (k, t) in targets.enumerated() {
        (out.storage.bytes + t * size).copyMemory(from: updates.storage.bytes + k * size, byteCount: size)
    }
    return out
}

/// Scatter with an optional reduction: `data` with `updates[k]` applied at flat `targets[k]`.
private func scatter(_ data: Tensor, _ updates: Tensor, targets: [Int], reduction: String) throws -> Tensor {
    guard data.dataType == updates.dataType else { throw ONNXRunError(.invalidInput, "updates are \(updates.dataType), data is \(data.dataType)") }
    if reduction == "none" { return try overlay(data, updates, targets: targets) }
    let a = try Elements(data), u = try Elements(updates)
    func combine<T>(_ x: T, _ y: T, add: (T, T) -> T, mul: (T, T) -> T, less: (T, T) -> Bool) throws -> T {
        switch reduction {
        case "add": return add(x, y)
        case "mul": return mul(x, y)
        case "max": return less(x, y) ? y : x
        case "min": return less(y, x) ? y : x
        default: throw ONNXRunError(.invalidAttribute, "reduction must be none, add, mul, max or min, got '\(reduction)'")
        }
    }
    if var ints = a.integers, let updateInts = u.integers {
        for (k, t) in targets.enumerated() { ints[t] = try combine(ints[t], updateInts[k], add: &+, mul: &*, less: <) }
        return try Conversion.cast(try Tensor(shape: data.shape, scalars: ints), to: data.dataType)
    }
    var values = a.doubles
    for (k, t) in targets.enumerated() { values[t] = try combine(values[t], u.doubles[k], add: +, mul: *, less: <) }
    return try Conversion.cast(try Tensor(shape: data.shape, scalars: values), to: data.dataType)
}

extension KernelRegistry {
    static func registerIndexing(_ r: inout KernelRegistry) {
        r.register("Pad", since: 1, 2, 11, 13, 18, 19, 21, 23, 24, 25) { c in
            let mode = try c.string("mode", default: "constant")
            guard ["constant", "reflect", "edge", "wrap"].contains(mode) else { throw c.error(.invalidAttribute, "unknown pad mode '\(mode)'") }
            let attributePads = c.opsetVersion < 11 ? try c.ints(c.opsetVersion < 2 ? "paddings" : "pads") : nil
            let attributeValue = c.opsetVersion < 11 ? Double(try c.float("value", default: 0)) : 0
            let legacy = c.opsetVersion < 11
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                let rank = x.rank
                var pads: [Int]
                var fill: Tensor
                if legacy {
                    pads = attributePads ?? []
                    fill = try Conversion.cast(try Tensor(shape: [1], scalars: [attributeValue]), to: x.dataType == .string ? .double : x.dataType)
                } else {
                    pads = try Conversion.integers(try inputs.tensor(1))
                    fill = try inputs.optionalTensor(2) ?? Tensor(zeros: x.dataType, shape: [1])
                    if let axesTensor = try inputs.optionalTensor(3) {
                        let axes = try Conversion.integers(axesTensor).map { try DataMovement.axis($0, rank: rank) }
                        guard pads.count == 2 * axes.count else { throw ONNXRunError(.invalidInput, "pads has \(pads.count) values for \(axes.count) axes") }
                        var full = [Int](repeating: 0, count: 2 * rank)
                        for (i, axis) in axes.enumerated() {
                            full[axis] = pads[i]
                            full[rank + axis] = pads[axes.count + i]
                        }
                        pads = full
                    }
                }
                guard pads.count == 2 * rank else { throw ONNXRunError(.invalidInput, "pads has \(pads.count) values, a rank-\(rank) input needs \(2 * rank)") }
                if fill.dataType != x.dataType { fill = try Conversion.cast(fill, to: x.dataType) }
                let outShape = (0..<rank).map { x.shape[$0] + pads[$0] + pads[rank + $0] }
                guard outShape.allSatisfy({ $0 >= 0 }) else { throw ONNXRunError(.invalidInput, "pads \(pads) remove more than the input \(x.shape) has") }
                let inLayout = Layout(x.shape), outLayout = Layout(outShape)
                let count = try Tensor.elementCount(outShape)
                if mode != "constant" && x.count == 0 && count > 0 { throw ONNXRunError(.invalidInput, "cannot \(mode)-pad an empty tensor") }
                var positions = [Int](repeating: 0, count: count)
                for o in 0..<count {
                    var flat = 0, outside = false
                    for (axis, v) in outLayout.index(of: o).enumerated() {
                        let n = x.shape[axis]
                        var i = v - pads[axis]
                        if i < 0 || i >= n {
                            switch mode {
                            case "edge": i = Swift.min(Swift.max(i, 0), n - 1)
                            case "wrap": i = ((i % n) + n) % n
                            case "reflect":
                                if n == 1 { i = 0 } else {
                                    let period = 2 * (n - 1)
                                    i = ((i % period) + period) % period
                                    if i >= n { i = period - i }
                                }
                            default: outside = true
                            }
                        }
                        flat += i * inLayout.strides[axis]
                    }
                    positions[o] = outside ? -1 : flat
                }
                return [.tensor(try take(x, positions, shape: outShape, fill: fill))]
            }
        }
        r.register("GatherElements", since: 11, 13) { c in
            try c.expectInputs(2)
            let axisAttribute = try c.int("axis", default: 0)
            return ValueKernel { inputs, _ in
                let data = try inputs.tensor(0), indices = try inputs.tensor(1)
                let axis = try DataMovement.axis(axisAttribute, rank: data.rank)
                guard indices.rank == data.rank else { throw ONNXRunError(.invalidInput, "indices must have the rank of data") }
                let values = try indexValues(indices)
                let dataLayout = Layout(data.shape), indexLayout = Layout(indices.shape)
                let positions = try (0..<indices.count).map { k -> Int in
                    var index = indexLayout.index(of: k)
                    index[axis] = try checkedIndex(values[k], size: data.shape[axis])
                    return dataLayout.flat(index)
                }
                return [.tensor(try take(data, positions, shape: indices.shape))]
            }
        }
        @Sendable func scatterElements(_ c: KernelContext, reductionAllowed: Bool) throws -> ValueKernel {
            try c.expectInputs(3)
            let axisAttribute = try c.int("axis", default: 0)
            let reduction = reductionAllowed ? try c.string("reduction", default: "none") : "none"
            return ValueKernel { inputs, _ in
                let data = try inputs.tensor(0), indices = try inputs.tensor(1), updates = try inputs.tensor(2)
                let axis = try DataMovement.axis(axisAttribute, rank: data.rank)
                guard indices.shape == updates.shape, indices.rank == data.rank else { throw ONNXRunError(.invalidInput, "indices and updates must share a shape of data's rank") }
                let values = try indexValues(indices)
                let dataLayout = Layout(data.shape), indexLayout = Layout(indices.shape)
                let targets = try (0..<indices.count).map { k -> Int in
                    var index = indexLayout.index(of: k)
                    index[axis] = try checkedIndex(values[k], size: data.shape[axis])
                    return dataLayout.flat(index)
                }
                return [.tensor(try scatter(data, updates, targets: targets, reduction: reduction))]
            }
        }
        r.register("ScatterElements", since: 11, 13, 16, 18) { try scatterElements($0, reductionAllowed: $0.opsetVersion >= 16) }
        r.register("Scatter", since: 9, 11) { try scatterElements($0, reductionAllowed: false) }
        r.register("GatherND", since: 11, 12, 13) { c in
            try c.expectInputs(2)
            let batchDims = try c.int("batch_dims", default: 0)
            return ValueKernel { inputs, _ in
                let data = try inputs.tensor(0), indices = try inputs.tensor(1)
                guard let depth = indices.shape.last, indices.rank >= 1, batchDims + depth <= data.rank else {
                    throw ONNXRunError(.invalidInput, "indices of shape \(indices.shape) do not fit data of shape \(data.shape)")
                }
                let values = try indexValues(indices)
                let sliceShape = Array(data.shape[(batchDims + depth)...])
                let sliceSize = sliceShape.reduce(1, *)
                let outShape = Array(indices.shape.dropLast()) + sliceShape
                let batch = data.shape[..<batchDims].reduce(1, *)
                let tuples = indices.count / Swift.max(depth, 1)
                let perBatch = tuples / Swift.max(batch, 1)
                let dataLayout = Layout(data.shape)
                var positions: [Int] = []
                positions.reserveCapacity(tuples * sliceSize)
                for t in 0..<(depth == 0 ? indices.count : tuples) {
                    let b = perBatch == 0 ? 0 : t / perBatch
                    var index = Layout(Array(data.shape[..<batchDims])).index(of: b) + [Int](repeating: 0, count: data.rank - batchDims)
                    for d in 0..<depth {
                        index[batchDims + d] = try checkedIndex(values[t * depth + d], size: data.shape[batchDims + d])
                    }
                    let start = dataLayout.flat(index)
                    for s in 0..<sliceSize { positions.append(start + s) }
                }
                return [.tensor(try take(data, positions, shape: outShape))]
            }
        }
        r.register("ScatterND", since: 11, 13, 16, 18) { c in
            try c.expectInputs(3)
            let reduction = c.opsetVersion >= 16 ? try c.string("reduction", default: "none") : "none"
            return ValueKernel { inputs, _ in
                let data = try inputs.tensor(0), indices = try inputs.tensor(1), updates = try inputs.tensor(2)
                guard let depth = indices.shape.last, depth <= data.rank else { throw ONNXRunError(.invalidInput, "indices do not fit data") }
                let values = try indexValues(indices)
                let sliceSize = data.shape[depth...].reduce(1, *)
                let dataLayout = Layout(data.shape)
                var targets: [Int] = []
                for t in 0..<(indices.count / Swift.max(depth, 1)) {
                    var index = [Int](repeating: 0, count: data.rank)
                    for d in 0..<depth { index[d] = try checkedIndex(values[t * depth + d], size: data.shape[d]) }
                    let start = dataLayout.flat(index)
                    for s in 0..<sliceSize { targets.append(start + s) }
                }
                guard targets.count == updates.count else { throw ONNXRunError(.shapeMismatch, "updates hold \(updates.count) values, indices select \(targets.count)") }
                return [.tensor(try scatter(data, updates, targets: targets, reduction: reduction))]
            }
        }
        @Sendable func spaceDepth(_ c: KernelContext, toSpace: Bool) throws -> ValueKernel {
            try c.expectInputs(1)
            let block = try c.required("blocksize", c.int)
            let crd = try c.string("mode", default: "DCR") == "CRD"
            guard block > 0 else { throw c.error(.invalidAttribute, "blocksize must be positive") }
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                guard x.rank == 4 else { throw ONNXRunError(.invalidInput, "expects a 4-D input, got \(x.shape)") }
                let (n, ch, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
                let inLayout = Layout(x.shape)
                if toSpace {
                    guard ch % (block * block) == 0 else { throw ONNXRunError(.invalidInput, "channels \(ch) not divisible by blocksize² \(block * block)") }
                    let oc = ch / (block * block)
                    let outShape = [n, oc, h * block, w * block]
                    var positions: [Int] = []
                    positions.reserveCapacity(x.count)
                    for b in 0..<n { for c2 in 0..<oc { for y in 0..<(h * block) { for xx in 0..<(w * block) {
                        let (bh, bw) = (y % block, xx % block)
                        let source = crd ? c2 * block * block + bh * block + bw : (bh * block + bw) * oc + c2
                        positions.append(inLayout.flat([b, source, y / block, xx / block]))
                    } } } }
                    return [.tensor(try take(x, positions, shape: outShape))]
                }
                guard h % block == 0, w % block == 0 else { throw ONNXRunError(.invalidInput, "spatial size not divisible by blocksize") }
                let outShape = [n, ch * block * block, h / block, w / block]
                var positions: [Int] = []
                positions.reserveCapacity(x.count)
                for b in 0..<n { for oc in 0..<(ch * block * block) { for y in 0..<(h / block) { for xx in 0..<(w / block) {
                    let (c2, offset) = crd ? (oc / (block * block), oc % (block * block)) : (oc % ch, oc / ch)
                    positions.append(inLayout.flat([b, c2, y * block + offset / block, xx * block + offset % block]))
                } } } }
                return [.tensor(try take(x, positions, shape: outShape))]
            }
        }
        r.register("DepthToSpace", since: 1, 11, 13) { try spaceDepth($0, toSpace: true) }
        r.register("SpaceToDepth", since: 1, 13) { try spaceDepth($0, toSpace: false) }
        r.register("ReverseSequence", since: 10) { c in
            try c.expectInputs(2)
            let timeAxis = try c.int("time_axis", default: 0), batchAxis = try c.int("batch_axis", default: 1)
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                let lengths = try Conversion.integers(try inputs.tensor(1))
                let layout = Layout(x.shape)
                let positions = (0..<x.count).map { flat -> Int in
                    var index = layout.index(of: flat)
                    let length = lengths[index[batchAxis]]
                    if index[timeAxis] < length { index[timeAxis] = length - 1 - index[timeAxis] }
                    return layout.flat(index)
                }
                return [.tensor(try take(x, positions, shape: x.shape))]
            }
        }
    }
}
