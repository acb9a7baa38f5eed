import Foundation
internal import CKernels

/// Winograd F(4×4, 3×3) convolution for ungrouped 3×3 float convolutions with stride 1 and
/// dilation 1: a 4×4 output tile costs 36 multiplies per channel pair instead of 144.
///
/// The weights are transformed once at plan time into U[ξ] (36 matrices of K × C). At run time the
/// tiles of the whole batch are taken a block at a time: the input transform (C) writes V[ξ]
/// (C × tiles), 36 OpenBLAS products give M[ξ] = U[ξ]·V[ξ] (K × tiles), and the output transform
/// (C) turns M back into output tiles, adding the bias and applying the fused activation.
struct WinogradConvolution: Sendable {
    /// Set the environment variable ONNX_RUN_WINOGRAD=0 (read once, at the first convolution
    /// planned) to send every convolution down the im2col path instead, e.g. to compare the two.
    static let isEnabled = ProcessInfo.processInfo.environment["ONNX_RUN_WINOGRAD"] != "0"

    /// Fewest input and output channels for which the products outweigh the transforms.
    static let minimumChannels = 16
    /// Fewest tiles per image: below, the 36 products are too thin to beat one im2col product.
    static let minimumTiles = 16
    /// Bytes of one V[ξ] and M[ξ] pair of a block of tiles (the operands of one product).
    static let sliceBudget = 512 << 10
    /// Most tiles in a block, so that V and M of a block stay within a few megabytes.
    static let maxBlock = 1024

    let inChannels: Int
    let outChannels: Int
    /// U[ξ][k][c], 36 × outChannels × inChannels.
    let transformedWeights: Tensor

    /// True when an output map of this size (height, width) has enough tiles for this path.
    static func suits(output: [Int]) -> Bool {
        output.count == 2 && ((output[0] + 3) / 4) * ((output[1] + 3) / 4) >= minimumTiles
    }

    /// Transforms the weights, or returns nil when the convolution is not one this path computes
    /// (or is too small to gain from it). `outputSize` gives the output map's (height, width) when
    /// it is known at plan time; it is asked only once the weights qualify, since finding it may
    /// run shape inference, and a map with too few tiles gets no transformed weights (four times
    /// the weights' size).
    init?(weights: Tensor, strides: [Int]?, dilations: [Int]?, group: Int, outputSize: () -> [Int]? = { nil }) {
        guard Self.isEnabled, group == 1, weights.dataType == .float, weights.shape.count == 4,
              weights.shape[2] == 3, weights.shape[3] == 3,
              (strides ?? [1, 1]) == [1, 1], (dilations ?? [1, 1]) == [1, 1],
              weights.shape[0] >= Self.minimumChannels, weights.shape[1] >= Self.minimumChannels
        else { return nil }
        if let size = outputSize(), !Self.suits(output: size) { return nil }
        guard let u = try? Tensor(uninitialized: .float, shape: [Int(CK_WINOGRAD_ELEMENTS), weights.shape[0], weights.shape[1]])
        else { return nil }
        outChannels = weights.shape[0]
        inChannels = weights.shape[1]
        ck_winograd_f43_weights(weights.pointer(as: Float.self), outChannels, inChannels, u.pointer(as: Float.self))
        transformedWeights = u
    }

    /// Computes the convolution of `input` (batch × inChannels × height × width) into `output`
    /// when the resolved geometry `g` suits this path; returns false, computing nothing, otherwise.
    /// The transforms run at `simdLevel` (tests lower it; see ck_winograd.h).
    func run(
        _ input: UnsafePointer<Float>, batch: Int, height: Int, width: Int, _ g: WindowGeometry.Resolved,
        bias: [Float]?, activation: FusedActivation?, into output: UnsafeMutablePointer<Float>, threads: Int,
        simdLevel: Int32 = ck_cpu_level()
    ) -> Bool {
        guard g.kernel == [3, 3], g.strides == [1, 1], g.dilations == [1, 1], batch >= 1,
              height * width < 1 << 30, g.padBegin.allSatisfy({ $0 < 1 << 16 }) else { return false }
        guard Self.suits(output: g.output) else { return false }
        let outHeight = g.output[0], outWidth = g.output[1]
        let tilesPerImage = ((outHeight + 3) / 4) * ((outWidth + 3) / 4)
        let shape = ck_winograd_shape(
            channels: inChannels, out_channels: outChannels, height: height, width: width,
            out_height: outHeight, out_width: outWidth, pad_top: g.padBegin[0], pad_left: g.padBegin[1],
            tiles_h: (outHeight + 3) / 4, tiles_w: (outWidth + 3) / 4)

        // Equal blocks of at most `sliceBudget` bytes per V[ξ] and M[ξ] (but at least 16 tiles each).
        let elements = Int(CK_WINOGRAD_ELEMENTS)
        let tiles = batch * tilesPerImage
        let bytesPerTile = (inChannels + outChannels) * MemoryLayout<Float>.size
        let largestBlock = min(Self.maxBlock, max(16, Self.sliceBudget / bytesPerTile))
        let blockCount = (tiles + largestBlock - 1) / largestBlock
        let blockTiles = (tiles + blockCount - 1) / blockCount
        let inputSlice = ck_winograd_slice_stride(inChannels, blockTiles)
        let productSlice = ck_winograd_slice_stride(outChannels, blockTiles)
        return BufferCache.withScratch(floats: elements * (inputSlice + productSlice)) { scratch in
            transform(input, tiles: tiles, blockTiles: blockTiles, shape: shape, transformedInput: scratch, inputSlice: inputSlice,
                      products: scratch + elements * inputSlice, productSlice: productSlice, bias: bias,
                      activation: activation, into: output, threads: threads, simdLevel: simdLevel)
            return true
        }
    }

    /// The three Winograd stages over blocks of `blockTiles` tiles, in the given scratch space.
    private func transform(
        _ input: UnsafePointer<Float>, tiles: Int, blockTiles: Int, shape: ck_winograd_shape,
        transformedInput: UnsafeMutablePointer<Float>, inputSlice: Int, products: UnsafeMutablePointer<Float>,
        productSlice: Int, bias: [Float]?, activation: FusedActivation?,
        into output: UnsafeMutablePointer<Float>, threads: Int, simdLevel: Int32
    ) {
        let elements = Int(CK_WINOGRAD_ELEMENTS)
        let u = UnsafePointer(transformedWeights.pointer(as: Float.self))
        let (inChannels, outChannels) = (inChannels, outChannels)
        let function = activation.kernelParameters
        bias.withUnsafeBufferPointer { biasValues in
            let epilogue = ck_winograd_epilogue(
                bias: biasValues?.baseAddress, has_activation: function.present,
                activation: function.kind, a: function.a, b: function.b)
            for first in stride(from: 0, to: tiles, by: blockTiles) {
                let count = min(blockTiles, tiles - first)
                Parallel.forEach(inChannels, threads: threads, costPerItem: count * 256) { channels in
                    withUnsafePointer(to: shape) {
                        ck_winograd_f43_input($0, input, first, count, channels.lowerBound, channels.upperBound, transformedInput, blockTiles, simdLevel)
                    }
                }
                // Each worker multiplies its own rows of every U[ξ], then transforms those channels back.
                Parallel.forEach(outChannels, threads: threads, costPerItem: count * inChannels * elements) { rows in
                    BLAS.$threads.withValue(1) {
                        for element in 0..<elements {
                            BLAS.sgemm(
                                m: rows.count, n: count, k: inChannels, alpha: 1,
                                a: u + (element * outChannels + rows.lowerBound) * inChannels, lda: inChannels,
                                b: transformedInput + element * inputSlice, ldb: blockTiles, beta: 0,
                                c: products + element * productSlice + rows.lowerBound * blockTiles, ldc: blockTiles)
                        }
                    }
                    withUnsafePointer(to: shape) { shape in
                        withUnsafePointer(to: epilogue) {
                            ck_winograd_f43_output(shape, products, blockTiles, first, count, rows.lowerBound, rows.upperBound, $0, output, simdLevel)
                        }
                    }
                }
            }
        }
    }
}

extension Optional where Wrapped == [Float] {
    /// Calls `body` with a buffer over the array's elements, or nil when there is no array.
    fileprivate func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>?) -> R) -> R {
        switch self {
        case .some(let values): values.withUnsafeBufferPointer { body($0) }
        case .none: body(nil)
        }
    }
}
