internal import CKernels

/// Direct 2-D depthwise convolution (one input and one output channel per group, as in MobileNet
/// and ShuffleNet). The im2col + sgemm path would run one tiny product (m = 1) per channel; here
/// each plane is copied once into a zero-bordered buffer and the SIMD kernel of
/// `CKernels/depthwise.c` accumulates the window taps row by row (strides 1 and 2 vectorized).
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
        // The padded plane: exactly the rows and columns the windows reach.
        let paddedH = (outH - 1) * sH + (kH - 1) * dH + 1, paddedW = (outW - 1) * sW + (kW - 1) * dW + 1
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: paddedH * paddedW)
        defer { padded.deallocate() }
        // The border is zeroed once; every plane overwrites the same interior.
        padded.initialize(repeating: 0, count: paddedH * paddedW)
        let rows = max(0, min(height, paddedH - pH)), columns = max(0, min(width, paddedW - pW))
        for p in planes {
            let plane = x + p * height * width
            for ih in 0..<rows {
                (padded + (ih + pH) * paddedW + pW).update(from: plane + ih * width, count: columns)
            }
            ck_depthwise_plane_f32(padded, paddedW, w + (p % channels) * kH * kW, kH, kW, sH, sW, dH, dW,
                                   y + p * outH * outW, outH, outW)
        }
    }
}
