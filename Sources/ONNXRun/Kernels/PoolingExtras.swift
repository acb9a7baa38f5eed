import Foundation

/// LpPool, MaxUnpool, Col2Im, Unique and CenterCropPad.

/// Calls `body` with every multi-index of `shape` in row-major order.
private func forEachIndex(_ shape: [Int], _ body: ([Int]) -> Void) {
    guard !shape.contains(0) else { return }
    var index = [Int](repeating: 0, count: shape.count)
    while true {
        body(index)
        var axis = shape.count - 1
        while axis >= 0 {
            index[axis] += 1
            if index[axis] < shape[axis] { break }
            index[axis] = 0
            axis -= 1
        }
        if axis < 0 { return }
    }
}

private func flat(_ index: [Int], _ shape: [Int]) -> Int {
    var offset = 0
    for (i, s) in zip(index, shape) { offset = offset * s + i }
    return offset
}

extension KernelRegistry {
    static func registerPoolingExtras(_ r: inout KernelRegistry) {
        r.register("LpPool", since: 1, 2, 11, 18, 22) { c in
            try c.expectInputs(1)
            let geometry = try WindowGeometry(c, kernelRequired: true)
            let p = Double(try c.int("p", default: 2))
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                let spatial = Array(x.shape[2...])
                let g = try geometry.resolve(input: spatial, kernel: geometry.kernelShape ?? [])
                let values = try Elements(x).doubles
                let planes = x.shape[0] * x.shape[1], inSize = spatial.reduce(1, *), outSize = g.output.reduce(1, *)
                var out = [Double](repeating: 0, count: planes * outSize)
                for plane in 0..<planes {
                    var o = 0
                    forEachIndex(g.output) { position in
                        var sum = 0.0
                        forEachIndex(g.kernel) { tap in
                            var index = [Int](repeating: 0, count: spatial.count)
                            for d in 0..<spatial.count {
                                index[d] = position[d] * g.strides[d] + tap[d] * g.dilations[d] - g.padBegin[d]
                                if index[d] < 0 || index[d] >= spatial[d] { return }
                            }
                            sum += Foundation.pow(Swift.abs(values[plane * inSize + flat(index, spatial)]), p)
                        }
                        out[plane * outSize + o] = Foundation.pow(sum, 1 / p)
                        o += 1
                    }
                }
                return [.tensor(try Conversion.cast(try Tensor(shape: Array(x.shape[..<2]) + g.output, scalars: out), to: x.dataType))]
            }
        }
        r.register("MaxUnpool", since: 9, 11, 22) { c in
            try c.expectInputs(2, 3)
            let kernel = try c.required("kernel_shape", c.ints)
            let strides = try c.ints("strides") ?? Array(repeating: 1, count: kernel.count)
            let pads = try c.ints("pads") ?? Array(repeating: 0, count: 2 * kernel.count)
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0), indices = try Conversion.integers(try inputs.tensor(1))
                // Indices address the inferred output; a larger output_shape pads it at the end.
                let inferred = Array(x.shape[..<2]) + (0..<kernel.count).map { d in
                    (x.shape[2 + d] - 1) * strides[d] + kernel[d] - pads[d] - pads[kernel.count + d]
                }
                let shape = try inputs.optionalTensor(2).map { try Conversion.integers($0) } ?? inferred
                guard shape.count == inferred.count, zip(shape, inferred).allSatisfy({ $0 >= $1 }) else {
                    throw ONNXRunError(.invalidInput, "output_shape \(shape) is smaller than the unpooled shape \(inferred)")
                }
                let total = try Tensor.elementCount(inferred)
                var scattered = [Int](repeating: -1, count: total)
                for (k, target) in indices.enumerated() {
                    guard target >= 0 && target < total else { throw ONNXRunError(.outOfRange, "index \(target) is outside an output of \(total) elements") }
                    scattered[target] = k
                }
                var positions: [Int] = []
                positions.reserveCapacity(try Tensor.elementCount(shape))
                forEachIndex(shape) { index in
                    positions.append(zip(index, inferred).allSatisfy { $0 < $1 } ? scattered[flat(index, inferred)] : -1)
                }
                return [.tensor(try take(x, positions, shape: shape))]
            }
        }
        r.register("Col2Im", since: 18) { c in
            try c.expectInputs(3)
            let dilationAttribute = try c.ints("dilations"), padAttribute = try c.ints("pads"), strideAttribute = try c.ints("strides")
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                let image = try Conversion.integers(try inputs.tensor(1)), block = try Conversion.integers(try inputs.tensor(2))
                let n = image.count
                let dilation = dilationAttribute ?? Array(repeating: 1, count: n), stride = strideAttribute ?? Array(repeating: 1, count: n)
                let pads = padAttribute ?? Array(repeating: 0, count: 2 * n)
                let blockSize = block.reduce(1, *)
                guard x.rank == 3, x.shape[1] % blockSize == 0 else { throw ONNXRunError(.invalidInput, "input \(x.shape) does not hold blocks of \(block)") }
                let channels = x.shape[1] / blockSize
                var positions: [Int] = []
                for d in 0..<n {
                    let span: Int = image[d] + pads[d] + pads[n + d] - dilation[d] * (block[d] - 1) - 1
                    positions.append(span / stride[d] + 1)
                }
                guard positions.reduce(1, *) == x.shape[2] else { throw ONNXRunError(.shapeMismatch, "input has \(x.shape[2]) blocks, the image and block shapes give \(positions.reduce(1, *))") }
                let values = try Elements(x).doubles
                let imageSize = image.reduce(1, *)
                var out = [Double](repeating: 0, count: x.shape[0] * channels * imageSize)
                for b in 0..<x.shape[0] {
                    for ch in 0..<channels {
                        var k = 0
                        forEachIndex(block) { tap in
                            var l = 0
                            forEachIndex(positions) { position in
                                var index = [Int](repeating: 0, count: n), inside = true
                                for d in 0..<n {
                                    index[d] = position[d] * stride[d] + tap[d] * dilation[d] - pads[d]
                                    if index[d] < 0 || index[d] >= image[d] { inside = false }
                                }
                                if inside {
                                    out[(b * channels + ch) * imageSize + flat(index, image)] += values[((b * x.shape[1]) + ch * blockSize + k) * x.shape[2] + l]
                                }
                                l += 1
                            }
                            k += 1
                        }
                    }
                }
                return [.tensor(try Conversion.cast(try Tensor(shape: [x.shape[0], channels] + image, scalars: out), to: x.dataType))]
            }
        }
        r.register("Unique", since: 11) { c in
            try c.expectInputs(1)
            let axisAttribute = try c.int("axis"), sorted = try c.int("sorted", default: 1) != 0
            return ValueKernel { inputs, _ in
                var x = try inputs.tensor(0)
                if axisAttribute == nil { x = try x.reshaped(to: [x.count]) }
                let axis = try DataMovement.axis(axisAttribute ?? 0, rank: x.rank)
                let n = x.shape[axis], inner = DataMovement.product(x.shape, (axis + 1)..<x.rank), outer = DataMovement.product(x.shape, 0..<axis)
                let isString = x.dataType == .string
                let numbers = isString ? [] : try Elements(x).doubles
                func slice(_ j: Int) -> [Int] { (0..<outer).flatMap { o in (0..<inner).map { (o * n + j) * inner + $0 } } }
                func less(_ p: Int, _ q: Int) -> Bool {
                    for (a, b) in zip(slice(p), slice(q)) {
                        if isString { if x.strings[a] != x.strings[b] { return x.strings[a] < x.strings[b] } }
                        else if numbers[a] != numbers[b] { return numbers[a] < numbers[b] }
                    }
                    return false
                }
                func same(_ p: Int, _ q: Int) -> Bool { !less(p, q) && !less(q, p) }
                var firsts: [Int] = [], inverse = [Int](repeating: 0, count: n), counts: [Int] = []
                for j in 0..<n {
                    if let k = firsts.firstIndex(where: { same($0, j) }) {
                        inverse[j] = k
                        counts[k] += 1
                    } else {
                        inverse[j] = firsts.count
                        firsts.append(j)
                        counts.append(1)
                    }
                }
                var order = Array(firsts.indices)
                if sorted { order.sort { less(firsts[$0], firsts[$1]) } }
                var rank = [Int](repeating: 0, count: order.count)
                for (newIndex, old) in order.enumerated() { rank[old] = newIndex }
                var shape = x.shape
                shape[axis] = order.count
                var positions: [Int] = []
                for o in 0..<outer { for k in order { for i in 0..<inner { positions.append((o * n + firsts[k]) * inner + i) } } }
                return [
                    .tensor(try take(x, positions, shape: shape)),
                    .tensor(try Tensor(shape: [order.count], scalars: order.map { Int64(firsts[$0]) })),
                    .tensor(try Tensor(shape: [n], scalars: inverse.map { Int64(rank[$0]) })),
                    .tensor(try Tensor(shape: [order.count], scalars: order.map { Int64(counts[$0]) })),
                ]
            }
        }
        r.register("CenterCropPad", since: 18) { c in
            try c.expectInputs(2)
            let axesAttribute = try c.ints("axes")
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0), target = try Conversion.integers(try inputs.tensor(1))
                let axes = try (axesAttribute ?? Array(0..<x.rank)).map { try DataMovement.axis($0, rank: x.rank) }
                guard target.count == axes.count else { throw ONNXRunError(.invalidInput, "shape has \(target.count) values for \(axes.count) axes") }
                var shape = x.shape, offset = [Int](repeating: 0, count: x.rank)
                for (i, a) in axes.enumerated() {
                    shape[a] = target[i]
                    // Crop takes the centre (extra element at the end); padding splits the same way.
                    offset[a] = target[i] <= x.shape[a] ? (x.shape[a] - target[i]) / 2 : -((target[i] - x.shape[a]) / 2)
                }
                var positions: [Int] = []
                forEachIndex(shape) { index in
                    var source = [Int](repeating: 0, count: x.rank)
                    for d in 0..<x.rank {
                        source[d] = index[d] + offset[d]
                        if source[d] < 0 || source[d] >= x.shape[d] { positions.append(-1); return }
                    }
                    positions.append(flat(source, x.shape))
                }
                return [.tensor(try take(x, positions, shape: shape))]
            }
        }
    }
}
