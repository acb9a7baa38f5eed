import Foundation
import Testing
import CKernels
@testable import ONNXRun

/// Direct convolution by definition: explicit padding, any number of spatial axes.
private func referenceConv(
    _ x: Tensor, _ w: Tensor, _ b: Tensor?, group: Int, strides: [Int], dilations: [Int], padBegin: [Int], padEnd: [Int]
) -> Tensor {
    let xs = try! x.scalars(as: Float.self), ws = try! w.scalars(as: Float.self)
    let bias = b.map { try! $0.scalars(as: Float.self) }
    let n = x.shape[0], c = x.shape[1], m = w.shape[0]
    let inSpatial = Array(x.shape[2...]), kernel = Array(w.shape[2...])
    let rank = inSpatial.count
    var outSpatial: [Int] = []
    for i in 0..<rank {
        let extent: Int = (kernel[i] - 1) * dilations[i] + 1
        let span: Int = inSpatial[i] + padBegin[i] + padEnd[i] - extent
        outSpatial.append(span / strides[i] + 1)
    }
    let cg = c / group, mg = m / group
    let xStrides = rowMajorStrides(x.shape), wStrides = rowMajorStrides(w.shape)
    var out: [Float] = []
    for batch in 0..<n {
        for oc in 0..<m {
            let g = oc / mg
            for o in allIndices(outSpatial) {
                var sum = bias?[oc] ?? 0
                for ic in 0..<cg {
                    for k in allIndices(kernel) {
                        var xOffset = batch * xStrides[0] + (g * cg + ic) * xStrides[1]
                        var inside = true
                        for i in 0..<rank {
                            let p = o[i] * strides[i] + k[i] * dilations[i] - padBegin[i]
                            if p < 0 || p >= inSpatial[i] { inside = false }
                            xOffset += p * xStrides[i + 2]
                        }
                        guard inside else { continue }
                        var wOffset = oc * wStrides[0] + ic * wStrides[1]
                        for i in 0..<rank { wOffset += k[i] * wStrides[i + 2] }
                        sum += xs[xOffset] * ws[wOffset]
                    }
                }
                out.append(sum)
            }
        }
    }
    return floatTensor([n, m] + outSpatial, out)
}

@Suite struct ConvolutionTests {
    @Test func tinyHandWorked() throws {
        // 3×3 input 1...9, 2×2 kernel of ones: each output sums a 2×2 block.
        let x = floatTensor([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let w = floatTensor([1, 1, 2, 2], [1, 1, 1, 1])
        let y = try runNode("Conv", inputs: [x, w])[0]
        expectClose(y, floatTensor([1, 1, 2, 2], [12, 16, 24, 28]))
        // With pads 1 on every side and stride 2: corners of the padded 4×4 output grid.
        let padded = try runNode("Conv", inputs: [x, w], attributes: ["pads": ints(1, 1, 1, 1), "strides": ints(2, 2)])[0]
        expectClose(padded, floatTensor([1, 1, 2, 2], [1, 5, 11, 28]))
    }

    @Test func groupsPadsStridesDilationsAndBias() throws {
        let x = sampleTensor([2, 4, 7, 6], seed: 1)
        let w = sampleTensor([6, 2, 3, 2], seed: 2)
        let b = sampleTensor([6], seed: 3)
        let attributes: [String: Attribute] = [
            "group": .int(2), "pads": ints(1, 0, 2, 1), "strides": ints(2, 1), "dilations": ints(1, 2),
        ]
        let expected = referenceConv(x, w, b, group: 2, strides: [2, 1], dilations: [1, 2], padBegin: [1, 0], padEnd: [2, 1])
        expectClose(try runNode("Conv", inputs: [x, w, b], attributes: attributes)[0], expected)
        // Same with weights and bias as initializers (pre-packed at plan time).
        expectClose(try runNode("Conv", inputs: [x, w, b], constants: [1: w, 2: b], attributes: attributes)[0], expected)
    }

    @Test func depthwise() throws {
        let x = sampleTensor([1, 3, 5, 5], seed: 4)
        let w = sampleTensor([3, 1, 3, 3], seed: 5)
        let y = try runNode("Conv", inputs: [x, w], attributes: ["group": .int(3), "pads": ints(1, 1, 1, 1)])[0]
        expectClose(y, referenceConv(x, w, nil, group: 3, strides: [1, 1], dilations: [1, 1], padBegin: [1, 1], padEnd: [1, 1]))
    }

    @Test func depthwiseDirectKernelWithStridesDilationsPadsBiasAndThreads() throws {
        // Large enough that two threads split the 16 planes (batch 2 × 8 channels).
        let x = sampleTensor([2, 8, 20, 19], seed: 40)
        let w = sampleTensor([8, 1, 3, 3], seed: 41)
        let b = sampleTensor([8], seed: 42)
        let attributes: [String: Attribute] = [
            "group": .int(8), "pads": ints(1, 0, 2, 1), "strides": ints(2, 1), "dilations": ints(1, 2),
        ]
        let expected = referenceConv(x, w, b, group: 8, strides: [2, 1], dilations: [1, 2], padBegin: [1, 0], padEnd: [2, 1])
        for threads in [1, 2] {
            expectClose(try runNode("Conv", inputs: [x, w, b], constants: [1: w], attributes: attributes, threads: threads)[0], expected)
        }
        // Stride 1 (the zero-bordered fast path) with dilations and uneven pads, one and two threads.
        let unit: [String: Attribute] = ["group": .int(8), "pads": ints(2, 1, 0, 3), "dilations": ints(2, 1)]
        let unitExpected = referenceConv(x, w, b, group: 8, strides: [1, 1], dilations: [2, 1], padBegin: [2, 1], padEnd: [0, 3])
        for threads in [1, 2] {
            expectClose(try runNode("Conv", inputs: [x, w, b], attributes: unit, threads: threads)[0], unitExpected)
        }
        // A 5×5 window with stride 2 in both axes and padding wider than the image's edge rows.
        let w5 = sampleTensor([8, 1, 5, 5], seed: 43)
        let wide: [String: Attribute] = ["group": .int(8), "pads": ints(3, 2, 2, 3), "strides": ints(2, 3)]
        expectClose(
            try runNode("Conv", inputs: [x, w5], attributes: wide, threads: 2)[0],
            referenceConv(x, w5, nil, group: 8, strides: [2, 3], dilations: [1, 1], padBegin: [3, 2], padEnd: [2, 3]))
    }

    /// The SIMD depthwise kernels against the reference at the portable and the AVX-512 level:
    /// the 3×3 stride-1 kernel (two rows at a time, an odd row count leaves a last single row),
    /// the 3×3 stride-2 kernel (a full 16-lane block needs the 33rd input of its row), the generic
    /// one (row stride 1 or 2, dilations), masked row tails, bias and a fused activation. The input
    /// is read in place: padding wider than the window (whole rows and 16-lane blocks outside the
    /// plane), and a 16-lane stride-2 block whose 33rd input lies in the right padding. Planes of
    /// at most 64 outputs whose rows keep the input's width take the flat kernel (7×7, 8×8 with
    /// uneven pads, dilated).
    @Test(arguments: [CK_LEVEL_PORTABLE, CK_LEVEL_AVX512])
    func depthwiseKernelAtEachSIMDLevel(level: Int) throws {
        ck_set_cpu_level(Int32(level))
        defer { ck_set_cpu_level(Int32(CK_LEVEL_AVX512)) }
        let w = sampleTensor([3, 1, 3, 3], seed: 45)
        let b = sampleTensor([3], seed: 46)
        let wide = sampleTensor([1, 3, 9, 41], seed: 44), narrow = sampleTensor([1, 3, 7, 29], seed: 47)
        let tiny = sampleTensor([1, 3, 7, 7], seed: 48), square = sampleTensor([1, 3, 8, 8], seed: 49)
        let cases = [
            (wide, [1, 1], [1, 1, 1, 1], [1, 1]), (wide, [1, 1], [0, 0, 0, 0], [1, 1]), (wide, [2, 2], [1, 1, 1, 1], [1, 1]),
            (wide, [2, 2], [0, 0, 1, 1], [1, 1]), (wide, [1, 2], [1, 1, 1, 1], [1, 1]), (wide, [2, 2], [0, 1, 1, 0], [1, 1]),
            (wide, [1, 1], [1, 2, 1, 2], [1, 2]), (wide, [2, 2], [1, 1, 1, 1], [2, 1]),
            (wide, [1, 1], [3, 4, 4, 21], [1, 1]), (wide, [2, 2], [4, 3, 3, 22], [1, 1]), (wide, [2, 2], [3, 18, 4, 2], [2, 1]),
            (narrow, [2, 2], [1, 1, 1, 4], [1, 1]), (narrow, [1, 1], [2, 0, 0, 2], [1, 1]),
            (tiny, [1, 1], [1, 1, 1, 1], [1, 1]), (square, [1, 1], [2, 1, 0, 1], [1, 1]), (tiny, [1, 1], [2, 2, 2, 2], [2, 2]),
        ]
        for (x, strides, pads, dilations) in cases {
            let attributes: [String: Attribute] = [
                "group": .int(3), "pads": .ints(pads), "strides": .ints(strides), "dilations": .ints(dilations),
            ]
            let expected = referenceConv(x, w, b, group: 3, strides: strides, dilations: dilations, padBegin: Array(pads[0..<2]), padEnd: Array(pads[2...]))
            expectClose(try runNode("Conv", inputs: [x, w, b], constants: [1: w], attributes: attributes)[0], expected)
            var fused = attributes
            fused["activation"] = .string("Relu")
            let relu = floatTensor(expected.shape, try expected.scalars(as: Float.self).map { max(0, $0) })
            expectClose(try runNode("FusedConv", domain: FusedActivation.domain, inputs: [x, w, b], constants: [1: w], attributes: fused)[0], relu)
            fused["activation"] = .string("Clip")
            fused["activation_params"] = .floats([-0.25, 0.5])
            let clip = floatTensor(expected.shape, try expected.scalars(as: Float.self).map { min(0.5, max(-0.25, $0)) })
            expectClose(try runNode("FusedConv", domain: FusedActivation.domain, inputs: [x, w, b], constants: [1: w], attributes: fused)[0], clip)
            fused["activation"] = .string("Sigmoid")
            fused["activation_params"] = nil
            let sigmoid = floatTensor(expected.shape, try expected.scalars(as: Float.self).map { 1 / (1 + exp(-$0)) })
            expectClose(try runNode("FusedConv", domain: FusedActivation.domain, inputs: [x, w, b], constants: [1: w], attributes: fused)[0], sigmoid)
        }
    }

    /// Reductions past 512 (64 channels × 3×3) take the direct path only when output rows fill
    /// most of their vectors: rows of 32 and 16 are computed there, rows of 17 by im2col; both
    /// against the reference, at stride 1 and 2, with a fused activation, on one and two threads.
    @Test func directConvolutionForLongerReductionsWithFullRows() throws {
        let w = sampleTensor([20, 64, 3, 3], seed: 50)
        let b = sampleTensor([20], seed: 51)
        #expect(DirectConvolution(weights: w, strides: [2, 2], group: 1) != nil || ck_direct_conv_available() == 0)
        #expect(DirectConvolution(weights: sampleTensor([20, 128, 3, 3], seed: 52), strides: nil, group: 1) == nil)
        for (width, strides) in [(32, [1, 1]), (33, [2, 2]), (32, [2, 2])] {
            let x = sampleTensor([1, 64, 7, width], seed: 53)
            let attributes: [String: Attribute] = ["pads": ints(1, 1, 1, 1), "strides": .ints(strides), "activation": .string("Relu")]
            let plain = referenceConv(x, w, b, group: 1, strides: strides, dilations: [1, 1], padBegin: [1, 1], padEnd: [1, 1])
            let expected = floatTensor(plain.shape, try plain.scalars(as: Float.self).map { max(0, $0) })
            for threads in [1, 2] {
                // 576 float products per output: a wider absolute tolerance than the default.
                expectClose(try runNode("FusedConv", domain: FusedActivation.domain, inputs: [x, w, b], constants: [1: w],
                                        attributes: attributes, threads: threads)[0], expected, atol: 1e-4)
            }
        }
    }

    /// The direct path (short reductions, row strides 1 and 2) against the reference: output
    /// channels not a multiple of 16, rows wider than 16 columns, asymmetric pads, dilations
    /// (with stride 2, whose rows are read with even and odd columns split), no padding at all,
    /// a batch of two, bias and fused activations (Relu, SiLU), on one and two threads.
    @Test func directConvolutionForShortReductions() throws {
        let x = sampleTensor([2, 3, 23, 37], seed: 46)
        let w = sampleTensor([20, 3, 5, 5], seed: 47)
        let b = sampleTensor([20], seed: 48)
        #expect(DirectConvolution(weights: w, strides: [2, 2], group: 1) != nil || ck_direct_conv_available() == 0)
        for (strides, pads, dilations) in [([2, 2], [2, 1, 2, 3], [1, 1]), ([1, 1], [0, 2, 1, 0], [2, 1]), ([3, 1], [1, 1, 1, 1], [1, 2]),
                                           ([2, 2], [1, 2, 0, 1], [1, 2]), ([1, 2], [0, 0, 0, 0], [1, 1])] {
            let attributes: [String: Attribute] = ["pads": .ints(pads), "strides": .ints(strides), "dilations": .ints(dilations)]
            let expected = referenceConv(x, w, b, group: 1, strides: strides, dilations: dilations, padBegin: Array(pads[0..<2]), padEnd: Array(pads[2...]))
            for threads in [1, 2] {
                expectClose(try runNode("Conv", inputs: [x, w, b], constants: [1: w], attributes: attributes, threads: threads)[0], expected)
            }
            var fused = attributes
            fused["activation"] = .string("Relu")
            let relu = floatTensor(expected.shape, try expected.scalars(as: Float.self).map { max(0, $0) })
            expectClose(try runNode("FusedConv", domain: FusedActivation.domain, inputs: [x, w, b], constants: [1: w], attributes: fused)[0], relu)
            fused["activation"] = .string("SiLU")
            let silu = floatTensor(expected.shape, try expected.scalars(as: Float.self).map { $0 / (1 + exp(-$0)) })
            for threads in [1, 2] {
                expectClose(try runNode("FusedConv", domain: FusedActivation.domain, inputs: [x, w, b], constants: [1: w],
                                        attributes: fused, threads: threads)[0], silu)
            }
        }
    }

    @Test func depthwiseWithChannelMultiplierAndFusedActivation() throws {
        let x = sampleTensor([1, 4, 9, 9], seed: 44)
        // Two outputs per input channel: not the direct kernel, still im2col per group.
        let w2 = sampleTensor([8, 1, 3, 3], seed: 45)
        expectClose(
            try runNode("Conv", inputs: [x, w2], attributes: ["group": .int(4), "pads": ints(1, 1, 1, 1)])[0],
            referenceConv(x, w2, nil, group: 4, strides: [1, 1], dilations: [1, 1], padBegin: [1, 1], padEnd: [1, 1]))
        // FusedConv applies its activation to the direct kernel's output.
        let w = sampleTensor([4, 1, 3, 3], seed: 46)
        let b = sampleTensor([4], seed: 47)
        let fused = try runNode(
            "FusedConv", domain: FusedActivation.domain, opset: 1, inputs: [x, w, b],
            attributes: ["group": .int(4), "pads": ints(1, 1, 1, 1), "activation": .string("Relu")])[0]
        let plain = referenceConv(x, w, b, group: 4, strides: [1, 1], dilations: [1, 1], padBegin: [1, 1], padEnd: [1, 1])
        expectClose(fused, floatTensor(plain.shape, try plain.scalars(as: Float.self).map { max($0, 0) }))
    }

    /// The im2col + sgemm path finishes each block of the product with its bias and activation
    /// (`ck_bias_activation_f32`): Relu and Clip inline, Sigmoid after; row tails; both SIMD levels.
    @Test(arguments: [CK_LEVEL_PORTABLE, CK_LEVEL_AVX512])
    func gemmPathAppliesBiasAndActivationPerBlock(level: Int) throws {
        ck_set_cpu_level(Int32(level))
        defer { ck_set_cpu_level(Int32(CK_LEVEL_AVX512)) }
        let x = sampleTensor([1, 40, 9, 7], seed: 60)
        let w = sampleTensor([24, 40, 3, 3], seed: 61)
        let b = sampleTensor([24], seed: 62)
        let activations: [(String, [Float], (Float) -> Float)] = [
            ("Relu", [], { max(0, $0) }), ("Clip", [-0.5, 0.5], { min(0.5, max(-0.5, $0)) }),
            ("Sigmoid", [], { 1 / (1 + exp(-$0)) }),
        ]
        // Weights given at run time (not constants) keep the Winograd and direct paths out.
        for (strides, pads) in [([1, 1], [1, 1, 1, 1]), ([2, 2], [0, 1, 1, 0])] {
            let plain = referenceConv(x, w, b, group: 1, strides: strides, dilations: [1, 1], padBegin: Array(pads[0..<2]), padEnd: Array(pads[2...]))
            for (name, parameters, f) in activations {
                let attributes: [String: Attribute] = [
                    "pads": .ints(pads), "strides": .ints(strides), "activation": .string(name),
                    "activation_params": .floats(parameters),
                ]
                let expected = floatTensor(plain.shape, try plain.scalars(as: Float.self).map(f))
                expectClose(try runNode("FusedConv", domain: FusedActivation.domain, inputs: [x, w, b], attributes: attributes)[0], expected)
            }
        }
    }

    /// FusedConv's residual input Z on every path (im2col + sgemm, Winograd, direct, depthwise):
    /// y = f(conv + bias + Z), on one and two threads.
    @Test func fusedConvAddsTheResidualOnEveryPath() throws {
        let x = sampleTensor([1, 32, 12, 10], seed: 70)
        // (weights, constant weights?, attributes): the path each one takes.
        let cases: [(Tensor, Bool, [String: Attribute])] = [
            (sampleTensor([24, 32, 3, 3], seed: 71), false, ["pads": ints(1, 1, 1, 1)]),  // im2col + sgemm
            (sampleTensor([24, 32, 3, 3], seed: 72), true, ["pads": ints(1, 1, 1, 1)]),  // Winograd
            (sampleTensor([20, 32, 1, 1], seed: 73), true, ["strides": ints(2, 2)]),  // direct or sgemm
            (sampleTensor([32, 1, 3, 3], seed: 74), true, ["pads": ints(1, 1, 1, 1), "group": .int(32)]),  // depthwise
        ]
        for (w, constant, attributes) in cases {
            let b = sampleTensor([w.shape[0]], seed: 75)
            let group = if case .int(let g)? = attributes["group"] { g } else { 1 }
            let strides = if case .ints(let v)? = attributes["strides"] { v } else { [1, 1] }
            let pads = if case .ints(let v)? = attributes["pads"] { v } else { [0, 0, 0, 0] }
            let plain = referenceConv(x, w, b, group: group, strides: strides, dilations: [1, 1], padBegin: Array(pads[0..<2]), padEnd: Array(pads[2...]))
            let z = sampleTensor(plain.shape, seed: 76)
            let sum = zip(try plain.scalars(as: Float.self), try z.scalars(as: Float.self)).map { $0 + $1 }
            var fused = attributes
            fused["activation"] = .string("Relu")
            for threads in [1, 2] {
                let y = try runNode("FusedConv", domain: FusedActivation.domain, inputs: [x, w, b, z], constants: constant ? [1: w] : [:],
                                    attributes: fused, threads: threads)[0]
                expectClose(y, floatTensor(plain.shape, sum.map { max(0, $0) }))
                // Without an activation.
                let linear = try runNode("FusedConv", domain: FusedActivation.domain, inputs: [x, w, b, z], constants: constant ? [1: w] : [:],
                                         attributes: attributes, threads: threads)[0]
                expectClose(linear, floatTensor(plain.shape, sum))
            }
        }
        // A Z of another shape is an error, not a broadcast.
        let w = sampleTensor([4, 32, 1, 1], seed: 77)
        #expect(throws: ONNXRunError.self) {
            try runNode("FusedConv", domain: FusedActivation.domain, inputs: [x, w, nil, sampleTensor([1, 4, 1, 1], seed: 78)])
        }
    }

    @Test func pointwiseSkipsIm2col() throws {
        let x = sampleTensor([2, 5, 3, 4], seed: 6)
        let w = sampleTensor([7, 5, 1, 1], seed: 7)
        let b = sampleTensor([7], seed: 8)
        let y = try runNode("Conv", inputs: [x, w, b], constants: [1: w])[0]
        expectClose(y, referenceConv(x, w, b, group: 1, strides: [1, 1], dilations: [1, 1], padBegin: [0, 0], padEnd: [0, 0]))
        // A strided 1×1 conv goes through im2col.
        let strided = try runNode("Conv", inputs: [x, w, b], attributes: ["strides": ints(2, 3)])[0]
        expectClose(strided, referenceConv(x, w, b, group: 1, strides: [2, 3], dilations: [1, 1], padBegin: [0, 0], padEnd: [0, 0]))
    }

    @Test func oneDimensional() throws {
        let x = sampleTensor([2, 3, 11], seed: 9)
        let w = sampleTensor([4, 3, 3], seed: 10)
        let y = try runNode("Conv", inputs: [x, w], attributes: ["pads": ints(2, 1), "strides": ints(2), "dilations": ints(2)])[0]
        expectClose(y, referenceConv(x, w, nil, group: 1, strides: [2], dilations: [2], padBegin: [2], padEnd: [1]))
    }

    @Test func threeDimensionalWithGroups() throws {
        let x = sampleTensor([1, 4, 5, 4, 6], seed: 11)
        let w = sampleTensor([2, 2, 2, 3, 2], seed: 12)
        let b = sampleTensor([2], seed: 13)
        let attributes: [String: Attribute] = [
            "group": .int(2), "pads": ints(1, 0, 1, 0, 2, 1), "strides": ints(1, 2, 2), "dilations": ints(2, 1, 1),
            "kernel_shape": ints(2, 3, 2),
        ]
        let y = try runNode("Conv", inputs: [x, w, b], attributes: attributes)[0]
        expectClose(y, referenceConv(x, w, b, group: 2, strides: [1, 2, 2], dilations: [2, 1, 1], padBegin: [1, 0, 1], padEnd: [0, 2, 1]))
    }

    @Test func autoPadOneDimensionalByHand() throws {
        let x = floatTensor([1, 1, 4], [1, 2, 3, 4])
        let w = floatTensor([1, 1, 2], [1, 1])
        // SAME needs one pad element: at the end for SAME_UPPER, at the start for SAME_LOWER.
        let upper = try runNode("Conv", inputs: [x, w], attributes: ["auto_pad": .string("SAME_UPPER")])[0]
        expectClose(upper, floatTensor([1, 1, 4], [3, 5, 7, 4]))
        let lower = try runNode("Conv", inputs: [x, w], attributes: ["auto_pad": .string("SAME_LOWER")])[0]
        expectClose(lower, floatTensor([1, 1, 4], [1, 3, 5, 7]))
        let valid = try runNode("Conv", inputs: [x, w], attributes: ["auto_pad": .string("VALID"), "pads": ints(3, 3)])[0]
        expectClose(valid, floatTensor([1, 1, 3], [3, 5, 7]))
    }

    @Test func autoPadSameWithStrides() throws {
        // 7×8 input, 3×3 kernel, stride 2: output ceil(7/2)×ceil(8/2) = 4×4.
        // Total padding: rows (4−1)·2+3−7 = 2, columns (4−1)·2+3−8 = 1.
        let x = sampleTensor([1, 2, 7, 8], seed: 14)
        let w = sampleTensor([3, 2, 3, 3], seed: 15)
        let upper = try runNode("Conv", inputs: [x, w], attributes: ["auto_pad": .string("SAME_UPPER"), "strides": ints(2, 2)])[0]
        expectClose(upper, referenceConv(x, w, nil, group: 1, strides: [2, 2], dilations: [1, 1], padBegin: [1, 0], padEnd: [1, 1]))
        let lower = try runNode("Conv", inputs: [x, w], attributes: ["auto_pad": .string("SAME_LOWER"), "strides": ints(2, 2)])[0]
        expectClose(lower, referenceConv(x, w, nil, group: 1, strides: [2, 2], dilations: [1, 1], padBegin: [1, 1], padEnd: [1, 0]))
    }

    @Test func float16AndDoubleGoThroughFloat() throws {
        let x = sampleTensor([1, 2, 4, 4], seed: 16)
        let w = sampleTensor([2, 2, 3, 3], seed: 17)
        let expected = referenceConv(x, w, nil, group: 1, strides: [1, 1], dilations: [1, 1], padBegin: [1, 1], padEnd: [1, 1])
        let attributes: [String: Attribute] = ["pads": ints(1, 1, 1, 1)]
        for type in [DataType.float16, .double] {
            let y = try runNode("Conv", inputs: [Conversion.cast(x, to: type), Conversion.cast(w, to: type)], attributes: attributes)[0]
            #expect(y.dataType == type)
            let tolerance: Float = type == .float16 ? 1e-2 : 1e-5
            expectClose(try Conversion.cast(y, to: .float), expected, rtol: tolerance, atol: tolerance)
        }
        #expect(throws: ONNXRunError.self) {
            try runNode("Conv", inputs: [try Tensor(shape: [1, 1, 2], scalars: [Int32(1), 2]), try Tensor(shape: [1, 1, 1], scalars: [Int32(1)])])
        }
    }

    @Test func wrongGroupCountNamesTheNode() throws {
        let x = sampleTensor([1, 4, 3, 3], seed: 18)
        let w = sampleTensor([4, 2, 1, 1], seed: 19)
        // 3 groups cannot split 4 output channels; with W an initializer this fails at planning.
        let error = #expect(throws: ONNXRunError.self) {
            try runNode("Conv", inputs: [x, w], constants: [1: w], attributes: ["group": .int(3)])
        }
        #expect(error?.code == .invalidAttribute)
        #expect(error?.description.contains("Conv node \"node\"") == true)
        // Fed weights: the channel mismatch is found when running, still naming the node.
        let runtime = #expect(throws: ONNXRunError.self) {
            try runNode("Conv", inputs: [x, w], attributes: ["group": .int(1)])
        }
        #expect(runtime?.code == .shapeMismatch)
        #expect(runtime?.description.contains("Conv node \"node\"") == true)
        let badPad = #expect(throws: ONNXRunError.self) {
            try runNode("Conv", inputs: [x, w], attributes: ["auto_pad": .string("SAME")])
        }
        #expect(badPad?.code == .invalidAttribute)
    }
}
