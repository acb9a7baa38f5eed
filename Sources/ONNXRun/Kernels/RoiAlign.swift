import Foundation

/// RoiAlign (avg/max pooling of bilinear samples per output bin, half_pixel or output_half_pixel
/// coordinates) and MelWeightMatrix (triangular mel filterbank).
extension KernelRegistry {
    static func registerRoiAlign(_ r: inout KernelRegistry) {
        r.register("RoiAlign", since: 10, 16, 22) { c in
            try c.expectInputs(3)
            let mode = try c.string("mode", default: "avg")
            guard mode == "avg" || mode == "max" else { throw c.error(.invalidAttribute, "mode must be avg or max") }
            let halfPixel = try c.opsetVersion >= 16 && c.string("coordinate_transformation_mode", default: "half_pixel") == "half_pixel"
            let outH = try c.int("output_height", default: 1), outW = try c.int("output_width", default: 1)
            let samplingRatio = try c.int("sampling_ratio", default: 0)
            let spatialScale = Double(try c.float("spatial_scale", default: 1))
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0), rois = try Elements(try inputs.tensor(1)).doubles
                let batchIndices = try Conversion.integers(try inputs.tensor(2))
                guard x.rank == 4 else { throw ONNXRunError(.invalidInput, "X must be (N, C, H, W), got \(x.shape)") }
                let (channels, height, width) = (x.shape[1], x.shape[2], x.shape[3])
                let data = try Elements(x).doubles
                let count = batchIndices.count
                var out = [Double](repeating: 0, count: count * channels * outH * outW)
                for n in 0..<count {
                    let batch = batchIndices[n]
                    guard batch >= 0 && batch < x.shape[0] else { throw ONNXRunError(.outOfRange, "batch index \(batch) is out of range for \(x.shape[0]) images") }
                    let offset = halfPixel ? 0.5 : 0
                    let startW = rois[n * 4] * spatialScale - offset, startH = rois[n * 4 + 1] * spatialScale - offset
                    var roiW = rois[n * 4 + 2] * spatialScale - offset - startW, roiH = rois[n * 4 + 3] * spatialScale - offset - startH
                    if !halfPixel { roiW = Swift.max(roiW, 1); roiH = Swift.max(roiH, 1) }
                    let binH = roiH / Double(outH), binW = roiW / Double(outW)
                    let gridH = samplingRatio > 0 ? samplingRatio : Int((roiH / Double(outH)).rounded(.up))
                    let gridW = samplingRatio > 0 ? samplingRatio : Int((roiW / Double(outW)).rounded(.up))
                    let samples = Double(Swift.max(gridH * gridW, 1))
                    for ch in 0..<channels {
                        let plane = (batch * channels + ch) * height * width
                        for ph in 0..<outH { for pw in 0..<outW {
                            var value = 0.0, seen = false
                            for iy in 0..<gridH { for ix in 0..<gridW {
                                var y = startH + Double(ph) * binH + (Double(iy) + 0.5) * binH / Double(gridH)
                                var xx = startW + Double(pw) * binW + (Double(ix) + 0.5) * binW / Double(gridW)
                                var sample = 0.0
                                if !(y < -1 || y > Double(height) || xx < -1 || xx > Double(width)) {
                                    y = Swift.max(y, 0); xx = Swift.max(xx, 0)
                                    var y0 = Int(y), x0 = Int(xx), y1 = y0 + 1, x1 = x0 + 1
                                    if y0 >= height - 1 { y0 = height - 1; y1 = y0; y = Double(y0) }
                                    if x0 >= width - 1 { x0 = width - 1; x1 = x0; xx = Double(x0) }
                                    let ly = y - Double(y0), lx = xx - Double(x0), hy = 1 - ly, hx = 1 - lx
                                    let terms = [hy * hx * data[plane + y0 * width + x0], hy * lx * data[plane + y0 * width + x1],
                                                 ly * hx * data[plane + y1 * width + x0], ly * lx * data[plane + y1 * width + x1]]
                                    sample = mode == "avg" ? terms.reduce(0, +) : terms.max()!
                                }
                                if mode == "avg" { value += sample } else { value = seen ? Swift.max(value, sample) : sample; seen = true }
                            } }
                            out[((n * channels + ch) * outH + ph) * outW + pw] = mode == "avg" ? value / samples : value
                        } }
                    }
                }
                return [.tensor(try Conversion.cast(try Tensor(shape: [count, channels, outH, outW], scalars: out), to: x.dataType))]
            }
        }
        r.register("MelWeightMatrix", since: 17) { c in
            try c.expectInputs(5)
            let code = try c.int("output_datatype", default: 1)
            guard let type = DataType(rawValue: Int32(code)) else { throw c.error(.invalidAttribute, "unknown output_datatype \(code)") }
            return ValueKernel { inputs, _ in
                let bins = try Conversion.integers(try inputs.tensor(0))[0], dftLength = try Conversion.integers(try inputs.tensor(1))[0]
                let sampleRate = try Conversion.integers(try inputs.tensor(2))[0]
                let low = try Elements(try inputs.tensor(3)).doubles[0], high = try Elements(try inputs.tensor(4)).doubles[0]
                let spectrogramBins = dftLength / 2 + 1
                let lowMel = 2595 * Foundation.log1p(low / 700) / Foundation.log(10.0), highMel = 2595 * Foundation.log1p(high / 700) / Foundation.log(10.0)
                let step = (highMel - lowMel) / Double(bins + 2)
                let edges = (0..<(bins + 2)).map { i -> Int in
                    let hz = 700 * Foundation.expm1((Double(i) * step + lowMel) / 2595 * Foundation.log(10.0))
                    return Int((Double(dftLength + 1) * hz / Double(sampleRate)).rounded(.down))
                }
                var out = [Double](repeating: 0, count: spectrogramBins * bins)
                for i in 0..<bins {
                    let (left, center, right) = (edges[i], edges[i + 1], edges[i + 2])
                    if center == left {
                        if center >= 0 && center < spectrogramBins { out[center * bins + i] = 1 }
                    } else {
                        for j in left...center where j >= 0 && j < spectrogramBins { out[j * bins + i] = Double(j - left) / Double(center - left) }
                    }
                    if right > center {
                        for j in center..<right where j >= 0 && j < spectrogramBins { out[j * bins + i] = Double(right - j) / Double(right - center) }
                    }
                }
                return [.tensor(try Conversion.cast(try Tensor(shape: [spectrogramBins, bins], scalars: out), to: type))]
            }
        }
    }
}
