import Foundation

/// Signal processing and detection: DFT, STFT and NonMaxSuppression.

/// A direct DFT of `count` complex samples: X[k] = Σ x[n]·e^(∓2πikn/N).
private func transform(_ re: [Double], _ im: [Double], length: Int, outputs: Int, inverse: Bool) -> ([Double], [Double]) {
    var outRe = [Double](repeating: 0, count: outputs), outIm = [Double](repeating: 0, count: outputs)
    let sign = inverse ? 1.0 : -1.0
    for k in 0..<outputs {
        var sr = 0.0, si = 0.0
        for n in 0..<Swift.min(re.count, length) {
            let angle = sign * 2 * Double.pi * Double((k * n) % Swift.max(length, 1)) / Double(length)
            let (c, s) = (Foundation.cos(angle), Foundation.sin(angle))
            sr += re[n] * c - im[n] * s
            si += re[n] * s + im[n] * c
        }
        outRe[k] = inverse ? sr / Double(length) : sr
        outIm[k] = inverse ? si / Double(length) : si
    }
    return (outRe, outIm)
}

extension KernelRegistry {
    static func registerSignal(_ r: inout KernelRegistry) {
        r.register("DFT", since: 17, 20) { c in
            try c.expectInputs(1, 3)
            let inverse = try c.int("inverse", default: 0) != 0, onesided = try c.int("onesided", default: 0) != 0
            let attributeAxis = c.opsetVersion < 20 ? try c.int("axis", default: 1) : nil
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                guard x.rank >= 2, let last = x.shape.last, last == 1 || last == 2 else { throw ONNXRunError(.invalidInput, "DFT input must end in a dimension of 1 (real) or 2 (complex), got \(x.shape)") }
                var axis = try attributeAxis ?? (inputs.optionalTensor(2).map { try Conversion.integers($0)[0] } ?? -2)
                if axis < 0 { axis += x.rank }
                guard axis >= 0 && axis < x.rank - 1 else { throw ONNXRunError(.invalidAttribute, "axis \(axis) is out of range for \(x.shape)") }
                let n = x.shape[axis]
                let requested = try inputs.optionalTensor(1).map { try Conversion.integers($0)[0] }
                let length = requested ?? (inverse && onesided ? 2 * (n - 1) : n)
                let outCount = inverse ? length : (onesided ? length / 2 + 1 : length)
                let outLast = inverse && onesided ? 1 : 2
                var shape = x.shape
                shape[axis] = outCount
                shape[x.rank - 1] = outLast
                let values = try Elements(x).doubles
                let outer = DataMovement.product(x.shape, 0..<axis), inner = DataMovement.product(x.shape, (axis + 1)..<(x.rank - 1))
                var out = [Double](repeating: 0, count: try Tensor.elementCount(shape))
                for o in 0..<outer {
                    for i in 0..<inner {
                        var re = [Double](repeating: 0, count: length), im = [Double](repeating: 0, count: length)
                        for t in 0..<Swift.min(n, length) {
                            let base = ((o * n + t) * inner + i) * last
                            re[t] = values[base]
                            im[t] = last == 2 ? values[base + 1] : 0
                        }
                        if inverse && onesided {
                            // Rebuild the Hermitian-symmetric full spectrum from its first half.
                            for k in n..<length where length - k < n {
                                re[k] = re[length - k]
                                im[k] = -im[length - k]
                            }
                        }
                        let (yr, yi) = transform(re, im, length: length, outputs: outCount, inverse: inverse)
                        for k in 0..<outCount {
                            let base = ((o * outCount + k) * inner + i) * outLast
                            out[base] = yr[k]
                            if outLast == 2 { out[base + 1] = yi[k] }
                        }
                    }
                }
                return [.tensor(try Conversion.cast(try Tensor(shape: shape, scalars: out), to: x.dataType))]
            }
        }
        r.register("STFT", since: 17) { c in
            try c.expectInputs(2, 4)
            let onesided = try c.int("onesided", default: 1) != 0
            return ValueKernel { inputs, _ in
                let signal = try inputs.tensor(0)
                guard signal.rank == 3, let last = signal.shape.last, last == 1 || last == 2 else { throw ONNXRunError(.invalidInput, "signal must be [batch, length, 1 or 2], got \(signal.shape)") }
                let step = try Conversion.integers(try inputs.tensor(1))[0]
                let window = try inputs.optionalTensor(2).map { try Elements($0).doubles }
                let frameLength = try inputs.optionalTensor(3).map { try Conversion.integers($0)[0] } ?? window?.count ?? 0
                guard step > 0, frameLength > 0, frameLength <= signal.shape[1] else { throw ONNXRunError(.invalidInput, "bad frame_step \(step) or frame_length \(frameLength)") }
                let (batch, length) = (signal.shape[0], signal.shape[1])
                let frames = (length - frameLength) / step + 1
                let bins = onesided ? frameLength / 2 + 1 : frameLength
                let values = try Elements(signal).doubles
                var out = [Double](repeating: 0, count: batch * frames * bins * 2)
                for b in 0..<batch {
                    for f in 0..<frames {
                        var re = [Double](repeating: 0, count: frameLength), im = re
                        for t in 0..<frameLength {
                            let base = (b * length + f * step + t) * last
                            let w = window?[t] ?? 1
                            re[t] = values[base] * w
                            im[t] = last == 2 ? values[base + 1] * w : 0
                        }
                        let (yr, yi) = transform(re, im, length: frameLength, outputs: bins, inverse: false)
                        for k in 0..<bins {
                            out[((b * frames + f) * bins + k) * 2] = yr[k]
                            out[((b * frames + f) * bins + k) * 2 + 1] = yi[k]
                        }
                    }
                }
                return [.tensor(try Conversion.cast(try Tensor(shape: [batch, frames, bins, 2], scalars: out), to: signal.dataType))]
            }
        }
        r.register("NonMaxSuppression", since: 10, 11) { c in
            try c.expectInputs(2, 5)
            let centerPoint = try c.int("center_point_box", default: 0) != 0
            return ValueKernel { inputs, _ in
                let boxes = try inputs.tensor(0), scores = try inputs.tensor(1)
                guard boxes.rank == 3, boxes.shape[2] == 4, scores.rank == 3, scores.shape[0] == boxes.shape[0], scores.shape[2] == boxes.shape[1] else {
                    throw ONNXRunError(.invalidInput, "boxes \(boxes.shape) and scores \(scores.shape) do not match [batch, boxes, 4] / [batch, classes, boxes]")
                }
                let maxPerClass = try inputs.optionalTensor(2).map { try Conversion.integers($0).first ?? 0 } ?? 0
                let iouThreshold = try inputs.optionalTensor(3).map { Double(try Conversion.floats($0).first ?? 0) } ?? 0
                let scoreThreshold = try inputs.optionalTensor(4).map { Double(try Conversion.floats($0).first ?? 0) }
                let b = try Elements(boxes).doubles, s = try Elements(scores).doubles
                let (batches, classes, count) = (scores.shape[0], scores.shape[1], scores.shape[2])
                func corners(_ batch: Int, _ i: Int) -> (Double, Double, Double, Double) {
                    let p = (batch * count + i) * 4
                    if centerPoint {
                        let (xc, yc, w, h) = (b[p], b[p + 1], b[p + 2], b[p + 3])
                        return (yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2)
                    }
                    return (Swift.min(b[p], b[p + 2]), Swift.min(b[p + 1], b[p + 3]), Swift.max(b[p], b[p + 2]), Swift.max(b[p + 1], b[p + 3]))
                }
                func iou(_ batch: Int, _ i: Int, _ j: Int) -> Double {
                    let a = corners(batch, i), q = corners(batch, j)
                    let h = Swift.max(0, Swift.min(a.2, q.2) - Swift.max(a.0, q.0)), w = Swift.max(0, Swift.min(a.3, q.3) - Swift.max(a.1, q.1))
                    let intersection = h * w
                    let union = (a.2 - a.0) * (a.3 - a.1) + (q.2 - q.0) * (q.3 - q.1) - intersection
                    return union <= 0 ? 0 : intersection / union
                }
                var selected: [Int64] = []
                for batch in 0..<batches {
                    for cls in 0..<classes {
                        let base = (batch * classes + cls) * count
                        var candidates = (0..<count).filter { scoreThreshold == nil || s[base + $0] > scoreThreshold! }
                        candidates.sort { s[base + $0] > s[base + $1] || (s[base + $0] == s[base + $1] && $0 < $1) }
                        var kept: [Int] = []
                        for i in candidates where kept.count < maxPerClass {
                            if kept.allSatisfy({ iou(batch, i, $0) <= iouThreshold }) { kept.append(i) }
                        }
                        for i in kept { selected += [Int64(batch), Int64(cls), Int64(i)] }
                    }
                }
                return [.tensor(try Tensor(shape: [selected.count / 3, 3], scalars: selected))]
            }
        }
    }
}

extension KernelRegistry {
    /// CausalConvWithState (opset 27): depthwise causal 1-D convolution over
    /// [past_state, input], returning the last k − 1 positions as the next state; Binarizer and
    /// ArrayFeatureExtractor (ai.onnx.ml).
    static func registerSequenceModels(_ r: inout KernelRegistry) {
        r.register("CausalConvWithState", since: 27) { c in
            try c.expectInputs(2, 4)
            let activation = try c.string("activation", default: "none")
            guard ["none", "silu", "swish"].contains(activation) else { throw c.error(.invalidAttribute, "activation must be none, silu or swish, got '\(activation)'") }
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0), w = try inputs.tensor(1)
                guard x.rank == 3, w.rank == 3, w.shape[0] == x.shape[1], w.shape[1] == 1 else {
                    throw ONNXRunError(.shapeMismatch, "input \(x.shape) and weight \(w.shape) must be (B, C, L) and (C, 1, k)")
                }
                let (batch, channels, length, k) = (x.shape[0], x.shape[1], x.shape[2], w.shape[2])
                let xs = try Elements(x).doubles, ws = try Elements(w).doubles
                let bias = try inputs.optionalTensor(2).map { try Elements($0).doubles }
                let past = try inputs.optionalTensor(3).map { try Elements($0).doubles }
                let width = length + k - 1
                var output = [Double](repeating: 0, count: batch * channels * length)
                var state = [Double](repeating: 0, count: batch * channels * (k - 1))
                for b in 0..<batch {
                    for ch in 0..<channels {
                        let row = b * channels + ch
                        let padded = (0..<width).map { t -> Double in
                            t < k - 1 ? (past?[row * (k - 1) + t] ?? 0) : xs[row * length + t - (k - 1)]
                        }
                        for t in 0..<length {
                            var sum = bias?[ch] ?? 0
                            for j in 0..<k { sum += ws[ch * k + j] * padded[t + j] }
                            // Round through float first, as the reference casts the conv output.
                            let v = x.dataType == .float ? Double(Float(sum)) : sum
                            output[row * length + t] = activation == "none" ? v : v / (1 + Foundation.exp(-v))
                        }
                        for j in 0..<(k - 1) { state[row * (k - 1) + j] = padded[width - (k - 1) + j] }
                    }
                }
                return [
                    .tensor(try Conversion.cast(try Tensor(shape: [batch, channels, length], scalars: output), to: x.dataType)),
                    .tensor(try Conversion.cast(try Tensor(shape: [batch, channels, k - 1], scalars: state), to: x.dataType)),
                ]
            }
        }
        r.register("Binarizer", domain: "ai.onnx.ml", since: 1) { c in
            let threshold = Double(try c.float("threshold", default: 0))
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                let values = try Elements(x).doubles.map { $0 > threshold ? 1.0 : 0.0 }
                return [.tensor(try Conversion.cast(try Tensor(shape: x.shape, scalars: values), to: x.dataType))]
            }
        }
        r.register("ArrayFeatureExtractor", domain: "ai.onnx.ml", since: 1) { c in
            try c.expectInputs(2)
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0), indices = try Conversion.integers(try inputs.tensor(1))
                guard x.rank >= 1, let last = x.shape.last else { throw ONNXRunError(.invalidInput, "input must have rank 1 or more") }
                let rows = x.count / Swift.max(last, 1)
                var positions: [Int] = []
                for r in 0..<rows {
                    for i in indices {
                        guard i >= 0 && i < last else { throw ONNXRunError(.outOfRange, "index \(i) is out of range for a last dimension of \(last)") }
                        positions.append(r * last + i)
                    }
                }
                let shape = x.rank == 1 ? [1, indices.count] : Array(x.shape.dropLast()) + [indices.count]
                return [.tensor(try take(x, positions, shape: shape))]
            }
        }
    }
}
