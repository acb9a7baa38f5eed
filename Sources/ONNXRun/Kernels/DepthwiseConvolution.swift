/// Direct 2-D depthwise convolution (one input and one output channel per group, as in MobileNet
/// and ShuffleNet). The im2col + sgemm path would run one tiny product (m = 1) per channel; here
/// each output row is accumulated straight from the input rows the window touches.
extension ConvKernel {
    /// Adds the depthwise convolution of input planes `planes` (batch · channels + channel) of `x`
    /// to the same output planes of `y`, which already hold the bias (or zeros). Channel c uses the
    /// kH×kW weights at `w + c·kH·kW`. Like the sgemm path, every output sums its window's
    /// products first and adds that sum to the bias.
    static func depthwise2D(
        _ x: UnsafePointer<Float>, weights w: UnsafePointer<Float>, planes: Range<Int>, channels: Int,
        input: [Int], _ g: WindowGeometry.Resolved, into y: UnsafeMutablePointer<Float>
    ) {
        let height = input[0], width = input[1]
        let outH = g.output[0], outW = g.output[1]
        let kH = g.kernel[0], kW = g.kernel[1]
        let sH = g.strides[0], sW = g.strides[1], dH = g.dilations[0], dW = g.dilations[1]
        let pH = g.padBegin[0], pW = g.padBegin[1]
        if sH == 1 && sW == 1 {
            return depthwise2DStride1(x, weights: w, planes: planes, channels: channels, input: input, g, into: y)
        }
        // For each kernel column: the output columns whose input column lies inside [0, width).
        var firsts = [Int](repeating: 0, count: kW), lasts = [Int](repeating: 0, count: kW)
        for kw in 0..<kW {
            let shift = kw * dW - pW
            firsts[kw] = shift >= 0 ? 0 : min(outW, (-shift + sW - 1) / sW)
            lasts[kw] = width - 1 - shift < 0 ? 0 : min(outW, (width - 1 - shift) / sW + 1)
        }
        let sum = UnsafeMutablePointer<Float>.allocate(capacity: outW)
        defer { sum.deallocate() }
        firsts.withUnsafeBufferPointer { firsts in
            lasts.withUnsafeBufferPointer { lasts in
                for p in planes {
                    let plane = x + p * height * width
                    let kernel = w + (p % channels) * kH * kW
                    for oh in 0..<outH {
                        sum.update(repeating: 0, count: outW)
                        for kh in 0..<kH {
                            let ih = oh * sH + kh * dH - pH
                            if ih < 0 || ih >= height { continue }
                            let row = plane + ih * width
                            for kw in 0..<kW {
                                let weight = kernel[kh * kW + kw]
                                let src = row + (kw * dW - pW)
                                let first = firsts[kw], last = lasts[kw]
                                if first >= last { continue }
                                if sW == 1 {
                                    for ow in first..<last { sum[ow] += weight * src[ow] }
                                } else {
                                    for ow in first..<last { sum[ow] += weight * src[ow * sW] }
                                }
                            }
                        }
                        let line = y + (p * outH + oh) * outW
                        for ow in 0..<outW { line[ow] = sum[ow] + line[ow] }
                    }
                }
            }
        }
    }

    /// Stride 1: each plane is copied into a zero-bordered buffer, so every tap becomes one long
    /// contiguous multiply-add over the whole plane (rows of the padded width), which vectorizes;
    /// the columns that fall in the border are dropped when the rows are written out. The padding
    /// adds exact zeros, so the sums are those of `depthwise2D`'s general loop.
    private static func depthwise2DStride1(
        _ x: UnsafePointer<Float>, weights w: UnsafePointer<Float>, planes: Range<Int>, channels: Int,
        input: [Int], _ g: WindowGeometry.Resolved, into y: UnsafeMutablePointer<Float>
    ) {
        let height = input[0], width = input[1]
        let outH = g.output[0], outW = g.output[1]
        let kH = g.kernel[0], kW = g.kernel[1], dH = g.dilations[0], dW = g.dilations[1]
        let pH = g.padBegin[0], pW = g.padBegin[1]
        // The padded plane: exactly the rows and columns the windows reach (input + both pads).
        let paddedH = outH + (kH - 1) * dH, paddedW = outW + (kW - 1) * dW
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: paddedH * paddedW)
        defer { padded.deallocate() }
        padded.initialize(repeating: 0, count: paddedH * paddedW)
        // Sums at every padded column of the output rows; the last row stops at its last output.
        let length = (outH - 1) * paddedW + outW
        let sum = UnsafeMutablePointer<Float>.allocate(capacity: length)
        defer { sum.deallocate() }
        // Input rows and columns that land inside the padded plane (all of them for stride 1).
        let rows = min(height, paddedH - pH), columns = min(width, paddedW - pW)
        for p in planes {
            let plane = x + p * height * width
            for ih in 0..<rows {
                (padded + (ih + pH) * paddedW + pW).update(from: plane + ih * width, count: columns)
            }
            let kernel = w + (p % channels) * kH * kW
            sum.update(repeating: 0, count: length)
            for kh in 0..<kH {
                for kw in 0..<kW {
                    let weight = kernel[kh * kW + kw]
                    let src = UnsafePointer(padded + kh * dH * paddedW + kw * dW)
                    for i in 0..<length { sum[i] += weight * src[i] }
                }
            }
            for oh in 0..<outH {
                let line = y + (p * outH + oh) * outW, row = sum + oh * paddedW
                for ow in 0..<outW { line[ow] = row[ow] + line[ow] }
            }
        }
    }
}
