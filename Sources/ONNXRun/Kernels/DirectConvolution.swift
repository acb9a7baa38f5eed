internal import CKernels

/// Direct convolution for ungrouped 2-D float convolutions with a short reduction (input channels
/// × window taps ≤ `maximumReduction`): network stems (3 channels, 6×6 or 7×7 windows) and small
/// stride-2 downsampling layers. For them im2col writes and OpenBLAS then packs a matrix many
/// times the size of the product's output, and the product has few rows; here sixteen output
/// channels are accumulated in registers straight from a zero-padded copy of the input, whose
/// rows hold even columns, then odd ones, for stride 2 (`CKernels/direct_conv.c`, AVX-512 only,
/// row strides 1 and 2).
struct DirectConvolution: Sendable {
    /// Longest reduction (input channels · kernel height · kernel width) taken by this path.
    static let maximumReduction = 1024
    /// Longest reduction taken whatever the output width. Longer ones only when output rows fill
    /// most of their 16-lane vectors: YOLO's 64-channel stride-2 layers (reduction 576, rows of
    /// 40) are 12–17% faster here than by im2col and OpenBLAS, but with rows of 20 (16 + 4 lanes)
    /// the 96-channel ones (864) were 25% slower.
    static let anyWidthReduction = 512
    /// Most input channels of a 1×1 convolution taken by this path: with fewer, the product's
    /// reduction is too short for OpenBLAS to reach its speed.
    static let maximumPointwiseChannels = 32
    /// Largest padded input copy, in floats (beyond it im2col's bands use less memory).
    static let maximumPaddedFloats = 16 << 20

    let outChannels: Int
    let inChannels: Int
    let kernel: (height: Int, width: Int)
    /// Weights in blocks of 16 output channels, see `ck_direct_conv_pack`.
    let packed: Tensor

    /// Packs the weights, or returns nil when this path does not apply.
    init?(weights: Tensor, strides: [Int]?, group: Int) {
        guard ck_direct_conv_available() != 0, group == 1, weights.dataType == .float, weights.rank == 4 else { return nil }
        let (o, c, h, w) = (weights.shape[0], weights.shape[1], weights.shape[2], weights.shape[3])
        guard o > 0, c > 0, c * h * w <= Self.maximumReduction, h * w > 1 || c <= Self.maximumPointwiseChannels,
              [1, 2].contains((strides ?? [1, 1]).last ?? 1),
              let packed = try? Tensor(uninitialized: .float, shape: [ck_direct_conv_packed_count(o, c, h, w)])
        else { return nil }
        ck_direct_conv_pack(weights.pointer(as: Float.self), o, c, h, w, packed.pointer(as: Float.self))
        (outChannels, inChannels, kernel, self.packed) = (o, c, (h, w), packed)
    }

    /// Writes the convolution of `x` (batch × inChannels × height × width) plus the bias, with the
    /// fused activation applied, to `y`; returns false, computing nothing, when the geometry does
    /// not suit. Bias and activation are applied to each output row while it is in cache.
    func run(_ x: UnsafePointer<Float>, batch: Int, height: Int, width: Int, _ g: WindowGeometry.Resolved,
             bias: [Float]?, activation: FusedActivation?, into y: UnsafeMutablePointer<Float>, threads: Int) -> Bool {
        guard g.strides[1] == 1 || g.strides[1] == 2, g.kernel == [kernel.height, kernel.width] else { return false }
        let usedLanes = g.output[1], computedLanes = (g.output[1] + 15) / 16 * 16
        if inChannels * kernel.height * kernel.width > Self.anyWidthReduction && usedLanes * 5 < computedLanes * 4 { return false }
        let (paddedH, paddedW) = g.paddedPlane
        guard inChannels * paddedH * paddedW <= Self.maximumPaddedFloats else { return false }
        // Without padding, and with every row and column reached (1×1 stride-1 layers), the input
        // planes already are the planes the kernel reads (stride 2 reads them with columns split).
        if g.padBegin == [0, 0] && paddedH == height && paddedW == width && g.strides[1] == 1 {
            run(x, batch: batch, height: height, width: width, g, padded: nil, bias: bias, activation: activation,
                into: y, threads: threads)
            return true
        }
        BufferCache.withScratch(floats: inChannels * paddedH * paddedW) { padded in
            run(x, batch: batch, height: height, width: width, g, padded: padded, bias: bias, activation: activation,
                into: y, threads: threads)
        }
        return true
    }

    /// `run` with the scratch space for the zero-bordered input planes, or nil to read the input
    /// planes in place.
    private func run(_ x: UnsafePointer<Float>, batch: Int, height: Int, width: Int, _ g: WindowGeometry.Resolved,
                     padded scratch: UnsafeMutablePointer<Float>?, bias: [Float]?, activation: FusedActivation?,
                     into y: UnsafeMutablePointer<Float>, threads: Int) {
        let (sH, sW, dH, dW) = (g.strides[0], g.strides[1], g.dilations[0], g.dilations[1])
        let (outH, outW) = (g.output[0], g.output[1])
        let (paddedH, paddedW) = g.paddedPlane
        let blocks = (outChannels + 15) / 16
        let reduction = inChannels * kernel.height * kernel.width
        for n in 0..<batch {
            let image = x + n * inChannels * height * width
            let padded: UnsafePointer<Float>
            if let scratch {
                let top = g.padBegin[0], left = g.padBegin[1], split: Int32 = sW == 2 ? 1 : 0
                Parallel.forEach(inChannels, threads: threads, costPerItem: paddedH * paddedW) { channels in
                    for c in channels {
                        ck_direct_conv_pad_plane(image + c * height * width, height, width, top, left, paddedH, paddedW, split,
                                                 scratch + c * paddedH * paddedW)
                    }
                }
                padded = UnsafePointer(scratch)
            } else {
                padded = image
            }
            let output = y + n * outChannels * outH * outW
            let function = activation.kernelParameters
            let parameters = ck_direct_conv_activation(kind: function.kind, a: function.a, b: function.b)
            (bias ?? []).withUnsafeBufferPointer { values in
                let biasPointer = bias == nil ? nil : values.baseAddress
                withUnsafePointer(to: parameters) { parametersPointer in
                    let activationPointer = function.present == 0 ? nil : parametersPointer
                    Parallel.forEach(blocks * outH, threads: threads, costPerItem: 16 * outW * reduction) { items in
                        for item in items {
                            let (block, row) = (item / outH, item % outH)
                            ck_direct_conv_rows_f32(padded, inChannels, paddedH, paddedW, packed.pointer(as: Float.self), block,
                                                    kernel.height, kernel.width, sH, sW, dH, dW, biasPointer, activationPointer,
                                                    output, outChannels, outH, outW, row, row + 1)
                        }
                    }
                }
            }
        }
    }
}
