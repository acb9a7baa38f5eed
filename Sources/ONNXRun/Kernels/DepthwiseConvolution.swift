internal import CKernels

/// Direct 2-D depthwise convolution (one input and one output channel per group, as in MobileNet
/// and ShuffleNet). The im2col + sgemm path would run one tiny product (m = 1) per channel; here
/// each plane is copied once into a zero-bordered buffer and the SIMD kernels of
/// `CKernels/depthwise.c` compute the output plane with its bias and activation in one pass
/// (3×3 with strides 1 and 2 specialized, other windows by a generic row kernel).
extension ConvKernel {
    /// Writes the depthwise convolution of input planes `planes` (batch · channels + channel) of
    /// `x` to the same output planes of `y`: channel c uses the kH×kW weights at `w + c·kH·kW` and
    /// `bias[c]` (0 without bias), then `activation`. Like the sgemm path, every output sums its
    /// window's products first and adds that sum to the bias.
    static func depthwise2D(
        _ x: UnsafePointer<Float>, weights w: UnsafePointer<Float>, planes: Range<Int>, channels: Int,
        input: [Int], _ g: WindowGeometry.Resolved, bias: [Float]?, activation: FusedActivation?,
        into y: UnsafeMutablePointer<Float>
    ) {
        let height = input[0], width = input[1]
        let outH = g.output[0], outW = g.output[1]
        let kH = g.kernel[0], kW = g.kernel[1]
        let sH = g.strides[0], sW = g.strides[1], dH = g.dilations[0], dW = g.dilations[1]
        let (paddedH, paddedW) = g.paddedPlane
        let function = activation.kernelParameters
        var epilogue = ck_depthwise_epilogue(
            bias: 0, has_activation: function.present, activation: function.kind, a: function.a, b: function.b)
        BufferCache.withScratch(floats: paddedH * paddedW) { padded in
            // The border is zeroed once; every plane overwrites the same interior.
            padded.initialize(repeating: 0, count: paddedH * paddedW)
            for p in planes {
                let channel = p % channels
                epilogue.bias = bias?[channel] ?? 0
                g.copyIntoPaddedPlane(x + p * height * width, height: height, width: width, into: padded)
                ck_depthwise_plane_f32(padded, paddedW, w + channel * kH * kW, kH, kW, sH, sW, dH, dW,
                                       &epilogue, y + p * outH * outW, outH, outW)
            }
        }
    }
}
