internal import CKernels

/// Direct 2-D depthwise convolution (one input and one output channel per group, as in MobileNet
/// and ShuffleNet). The im2col + sgemm path would run one tiny product (m = 1) per channel; here
/// the SIMD kernels of `CKernels/depthwise.c` read each input plane in place, masking the loads
/// that fall in the padding, and compute the output plane with its bias and activation in one
/// pass (3×3 with strides 1 and 2 specialized, other windows by a generic row kernel).
extension ConvKernel {
    /// Writes the depthwise convolution of input planes `planes` (batch · channels + channel) of
    /// `x` to the same output planes of `y`: channel c uses the kH×kW weights at `w + c·kH·kW` and
    /// `bias[c]` (0 without bias), then `activation`. Like the sgemm path, every output sums its
    /// window's products first and adds that sum to the bias. With `shuffleGroups` g > 1, channel
    /// c reads input channel (c mod g)·(channels/g) + c / g (see `ConvKernel.inputShuffle`).
    static func depthwise2D(
        _ x: UnsafePointer<Float>, weights w: UnsafePointer<Float>, planes: Range<Int>, channels: Int,
        shuffleGroups: Int = 1, input: [Int], _ g: WindowGeometry.Resolved, bias: [Float]?,
        activation: FusedActivation?, into y: UnsafeMutablePointer<Float>
    ) {
        let (height, width) = (input[0], input[1])
        var geometry = ck_depthwise_geometry(
            height: height, width: width, pad_top: g.padBegin[0], pad_left: g.padBegin[1],
            kernel_h: g.kernel[0], kernel_w: g.kernel[1], stride_h: g.strides[0], stride_w: g.strides[1],
            dilation_h: g.dilations[0], dilation_w: g.dilations[1], out_h: g.output[0], out_w: g.output[1])
        let function = activation.kernelParameters
        (bias ?? []).withUnsafeBufferPointer { values in
            var epilogue = ck_depthwise_epilogue(
                bias: bias == nil ? nil : values.baseAddress, has_activation: function.present, activation: function.kind,
                a: function.a, b: function.b)
            ck_depthwise_f32(x, &geometry, w, channels, shuffleGroups, &epilogue, planes.lowerBound, planes.upperBound, y)
        }
    }
}
