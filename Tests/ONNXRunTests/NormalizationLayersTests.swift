import CKernels
import Foundation
import Testing
@testable import ONNXRun

@Suite struct NormalizationLayersTests {
    /// Mean and population variance of `values`.
    private func moments(_ values: ArraySlice<Float>) -> (mean: Float, variance: Float) {
        let mean = values.reduce(0, +) / Float(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)
        return (mean, variance)
    }

    @Test func layerNormByHand() throws {
        // Row [1, 3]: mean 2, variance 1 → [-1, 1]; scale [2, 1], bias [0, 10] → [-2, 11].
        let outputs = try runNode(
            "LayerNormalization", opset: 17,
            inputs: [floatTensor([2, 2], [1, 3, 6, 2]), floatTensor([2], [2, 1]), floatTensor([2], [0, 10])],
            attributes: ["epsilon": .float(0)], outputCount: 3)
        // Row [6, 2]: mean 4, variance 4 → [1, -1] → [2, 9].
        expectClose(outputs[0], floatTensor([2, 2], [-2, 11, 2, 9]))
        expectClose(outputs[1], floatTensor([2, 1], [2, 4]))
        expectClose(outputs[2], floatTensor([2, 1], [1, 0.5]))
    }

    @Test func layerNormMatchesReferenceForEveryAxis() throws {
        let shape = [2, 3, 4]
        let x = sampleTensor(shape, seed: 1)
        let xs = try x.scalars(as: Float.self)
        for axis in -3...2 {
            let a = axis < 0 ? axis + 3 : axis
            let rows = shape[..<a].reduce(1, *), cols = shape[a...].reduce(1, *)
            let scale = sampleValues(cols, seed: 2), bias = sampleValues(cols, seed: 3)
            var expected = [Float](), means = [Float](), inverses = [Float]()
            for r in 0..<rows {
                let (mean, variance) = moments(xs[r * cols..<(r + 1) * cols])
                let inverse = 1 / (variance + 1e-5).squareRoot()
                means.append(mean)
                inverses.append(inverse)
                for c in 0..<cols { expected.append((xs[r * cols + c] - mean) * inverse * scale[c] + bias[c]) }
            }
            let paramShape = Array(shape[a...])
            let outputs = try runNode(
                "LayerNormalization", opset: 17,
                inputs: [x, floatTensor(paramShape, scale), floatTensor(paramShape, bias)],
                attributes: ["axis": .int(axis)], outputCount: 3)
            let statShape = Array(shape[..<a]) + Array(repeating: 1, count: 3 - a)
            expectClose(outputs[0], floatTensor(shape, expected))
            expectClose(outputs[1], floatTensor(statShape, means))
            expectClose(outputs[2], floatTensor(statShape, inverses))
        }
    }

    @Test func layerNormFloat16AndNoBias() throws {
        let x = floatTensor([1, 4], [1, 2, 3, 4])
        let y = try runNode("LayerNormalization", opset: 17, inputs: [Conversion.cast(x, to: .float16), Conversion.cast(floatTensor([4], [1, 1, 1, 1]), to: .float16)])[0]
        #expect(y.dataType == .float16)
        let inverse = 1 / Float(1.25 + 1e-5).squareRoot()
        expectClose(try Conversion.cast(y, to: .float), floatTensor([1, 4], [-1.5, -0.5, 0.5, 1.5].map { $0 * inverse }), rtol: 2e-3)
    }

    @Test func rmsNorm() throws {
        // Row [3, 4]: mean square 12.5.
        let r = 1 / Float(12.5).squareRoot()
        let y = try runNode("RMSNormalization", opset: 23, inputs: [floatTensor([1, 2], [3, 4]), floatTensor([2], [1, 2])],
                            attributes: ["epsilon": .float(0)])[0]
        expectClose(y, floatTensor([1, 2], [3 * r, 8 * r]))
    }

    @Test func groupNormPerChannelAndPerGroup() throws {
        let shape = [2, 4, 3]
        let x = sampleTensor(shape, seed: 4)
        let xs = try x.scalars(as: Float.self)
        let channelScale = sampleValues(4, seed: 5), channelBias = sampleValues(4, seed: 6)
        // Two groups of two channels: each (n, g) block is 6 contiguous values.
        func reference(scale: (Int) -> Float, bias: (Int) -> Float) -> [Float] {
            var result = [Float](repeating: 0, count: xs.count)
            for block in 0..<4 {
                let (mean, variance) = moments(xs[block * 6..<block * 6 + 6])
                for i in 0..<6 {
                    let channel = (block % 2) * 2 + i / 3
                    result[block * 6 + i] = (xs[block * 6 + i] - mean) / (variance + 1e-5).squareRoot() * scale(channel) + bias(channel)
                }
            }
            return result
        }
        let y21 = try runNode("GroupNormalization", opset: 21, inputs: [x, floatTensor([4], channelScale), floatTensor([4], channelBias)],
                              attributes: ["num_groups": .int(2)])[0]
        expectClose(y21, floatTensor(shape, reference(scale: { channelScale[$0] }, bias: { channelBias[$0] })))
        let groupScale: [Float] = [2, -1], groupBias: [Float] = [0.5, 1]
        let y18 = try runNode("GroupNormalization", opset: 18, inputs: [x, floatTensor([2], groupScale), floatTensor([2], groupBias)],
                              attributes: ["num_groups": .int(2)])[0]
        expectClose(y18, floatTensor(shape, reference(scale: { groupScale[$0 / 2] }, bias: { groupBias[$0 / 2] })))
    }

    @Test func instanceNorm() throws {
        // Channel 0 [1, 3] → [-1, 1] · 2; channel 1 [0, 4] → [-1, 1] + 5.
        let y = try runNode("InstanceNormalization", opset: 22,
                            inputs: [floatTensor([1, 2, 2], [1, 3, 0, 4]), floatTensor([2], [2, 1]), floatTensor([2], [0, 5])],
                            attributes: ["epsilon": .float(0)])[0]
        expectClose(y, floatTensor([1, 2, 2], [-2, 2, 4, 6]))
    }

    @Test func meanVarianceNormalization() throws {
        // Axes [1]: row [1, 3] → [-1, 1]; row [2, 2, ...] has zero deviation → 0.
        let y = try runNode("MeanVarianceNormalization", opset: 13, inputs: [floatTensor([2, 2], [1, 3, 2, 2])], attributes: ["axes": ints(1)])[0]
        expectClose(y, floatTensor([2, 2], [-1, 1, 0, 0]))
    }

    @Test func lpNormalization() throws {
        let x = floatTensor([2, 2], [3, 4, 0, 0])
        expectClose(try runNode("LpNormalization", opset: 22, inputs: [x])[0], floatTensor([2, 2], [0.6, 0.8, 0, 0]))
        expectClose(try runNode("LpNormalization", opset: 22, inputs: [floatTensor([2], [1, -3])], attributes: ["p": .int(1)])[0],
                    floatTensor([2], [0.25, -0.75]))
        // Along axis 0: column [3, 0] → [1, 0].
        expectClose(try runNode("LpNormalization", opset: 1, inputs: [x], attributes: ["axis": .int(0)])[0], floatTensor([2, 2], [1, 1, 0, 0]))
    }
}

/// The float row kernel of standard LayerNormalization and RMSNormalization at every SIMD level,
/// against Double: the statistics it returns and the normalized rows.
@Suite struct LayerNormalizationRowKernelTests {
    @Test(arguments: [5, 8, 37, 768])
    func matchesDoubleAtEveryLevel(cols: Int) {
        let rows = 3
        let x = sampleValues(rows * cols, seed: UInt64(cols) + 100).map { $0 * 3 - 0.5 }
        let gamma = sampleValues(cols, seed: 9).map { $0 + 1 }, beta = sampleValues(cols, seed: 10)
        let original = ck_cpu_level()
        defer { ck_set_cpu_level(original) }
        for level in [CK_LEVEL_PORTABLE, CK_LEVEL_AVX2, CK_LEVEL_AVX512].map(Int32.init).filter({ $0 <= original }) {
            for rms in [false, true] {
                var y = [Float](repeating: .nan, count: rows * cols)
                var means = [Double](repeating: .nan, count: rows), inverses = [Double](repeating: .nan, count: rows)
                ck_set_cpu_level(level)
                beta.withUnsafeBufferPointer { b in
                    ck_layer_norm_standard_rows_f32(x, &y, rows, cols, gamma, rms ? nil : b.baseAddress, 1e-5, rms ? 1 : 0, &means, &inverses)
                }
                ck_set_cpu_level(original)
                for r in 0..<rows {
                    let row = x[r * cols..<(r + 1) * cols].map(Double.init)
                    let mean = rms ? 0 : row.reduce(0, +) / Double(cols)
                    let inverse = 1 / (row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols) + 1e-5).squareRoot()
                    #expect(abs(means[r] - mean) <= 1e-12 * max(1, abs(mean)), "level \(level) rms \(rms) row \(r)")
                    #expect(abs(inverses[r] - inverse) <= 1e-12 * inverse, "level \(level) rms \(rms) row \(r)")
                    for c in 0..<cols {
                        var expected = (row[c] - mean) * inverse * Double(gamma[c])
                        if !rms { expected += Double(beta[c]) }
                        #expect(abs(Double(y[r * cols + c]) - expected) <= 1e-5 + 1e-5 * abs(expected), "level \(level) rms \(rms) at \(r),\(c)")
                    }
                }
            }
        }
    }
}
