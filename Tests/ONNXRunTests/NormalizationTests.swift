import Foundation
import Testing
@testable import ONNXRun

@Suite struct NormalizationTests {
    /// (x − mean) / sqrt(var + eps) · scale + B with parameter index `parameter(n, c, i)`.
    private func referenceBatchNorm(
        _ x: [Float], shape: [Int], scale: [Float], bias: [Float], mean: [Float], variance: [Float], epsilon: Float,
        parameter: (Int, Int) -> Int
    ) -> [Float] {
        let channels = shape[1], inner = shape[2...].reduce(1, *)
        return x.indices.map { index in
            let c = (index / inner) % channels, i = index % inner
            let p = parameter(c, i)
            return (x[index] - mean[p]) / (variance[p] + epsilon).squareRoot() * scale[p] + bias[p]
        }
    }

    @Test func batchNormSplitAcrossThreadsMatchesReference() throws {
        // 2 × 8 planes of 2048 values: enough for two threads.
        let shape = [2, 8, 32, 64]
        let x = sampleValues(shape.reduce(1, *), seed: 80)
        let (scale, bias) = (sampleValues(8, seed: 81), sampleValues(8, seed: 82))
        let (mean, variance) = (sampleValues(8, seed: 83), sampleValues(8, seed: 84).map { $0 + 0.5 })
        let inputs = [floatTensor(shape, x), floatTensor([8], scale), floatTensor([8], bias), floatTensor([8], mean), floatTensor([8], variance)]
        let expected = referenceBatchNorm(x, shape: shape, scale: scale, bias: bias, mean: mean, variance: variance, epsilon: 1e-5) { c, _ in c }
        for threads in [1, 2] {
            expectClose(try runNode("BatchNormalization", inputs: inputs, threads: threads)[0], floatTensor(shape, expected))
        }
    }

    @Test func batchNormByHand() throws {
        // Channel 0: mean 1, var 4 → (x−1)/2; channel 1: mean 0, var 1, scale 3, bias −1 → 3x − 1.
        let x = floatTensor([1, 2, 2], [3, 5, 1, 2])
        let inputs = [x, floatTensor([2], [1, 3]), floatTensor([2], [0, -1]), floatTensor([2], [1, 0]), floatTensor([2], [4, 1])]
        let y = try runNode("BatchNormalization", inputs: inputs, attributes: ["epsilon": .float(0)])[0]
        expectClose(y, floatTensor([1, 2, 2], [1, 2, 2, 5]))
    }

    @Test func batchNormAcrossOpsets() throws {
        let shape = [2, 3, 4, 5]
        let x = sampleTensor(shape, seed: 51)
        let scale = sampleValues(3, seed: 52), bias = sampleValues(3, seed: 53), mean = sampleValues(3, seed: 54)
        let variance = sampleValues(3, seed: 55).map { abs($0) + 0.1 }
        let expected = referenceBatchNorm(try x.scalars(as: Float.self), shape: shape, scale: scale, bias: bias, mean: mean, variance: variance, epsilon: 1e-3) { c, _ in c }
        let inputs = [x, floatTensor([3], scale), floatTensor([3], bias), floatTensor([3], mean), floatTensor([3], variance)]
        for opset in [1, 6, 7, 9, 14, 15] {
            var attributes: [String: Attribute] = ["epsilon": .float(1e-3)]
            if opset < 7 { attributes["is_test"] = .int(1) }
            if opset == 1 { attributes["consumed_inputs"] = ints(0, 0, 0, 1, 1) }
            let y = try runNode("BatchNormalization", opset: opset, inputs: inputs, constants: [1: inputs[1]], attributes: attributes)[0]
            expectClose(y, floatTensor(shape, expected))
        }
        // Double input; opset 15 allows float parameters with it.
        let d = try runNode("BatchNormalization", inputs: [try Conversion.cast(x, to: .double)] + inputs.dropFirst(), attributes: ["epsilon": .float(1e-3)])[0]
        #expect(d.dataType == .double)
        expectClose(try Conversion.cast(d, to: .float), floatTensor(shape, expected))
    }

    @Test func batchNormPerActivationBeforeOpset9() throws {
        // spatial = 0: parameters of shape [C, H] apply to each activation separately.
        let shape = [2, 2, 3]
        let x = sampleTensor(shape, seed: 56)
        let scale = sampleValues(6, seed: 57), bias = sampleValues(6, seed: 58), mean = sampleValues(6, seed: 59)
        let variance = sampleValues(6, seed: 60).map { abs($0) + 0.1 }
        let expected = referenceBatchNorm(try x.scalars(as: Float.self), shape: shape, scale: scale, bias: bias, mean: mean, variance: variance, epsilon: 1e-5) { c, i in c * 3 + i }
        let y = try runNode("BatchNormalization", opset: 7, inputs: [x, floatTensor([2, 3], scale), floatTensor([2, 3], bias), floatTensor([2, 3], mean), floatTensor([2, 3], variance)],
                            attributes: ["spatial": .int(0)])[0]
        expectClose(y, floatTensor(shape, expected))
    }

    @Test func batchNormStatisticsOutputs() throws {
        let x = floatTensor([2, 1, 2], [1, 3, 5, 7])
        let inputs = [x, floatTensor([1], [1]), floatTensor([1], [0]), floatTensor([1], [2]), floatTensor([1], [9])]
        // Inference with extra outputs requested: the running statistics pass through.
        let r = try runNode("BatchNormalization", opset: 9, inputs: inputs, outputCount: 5)
        expectClose(r[1], floatTensor([1], [2]))
        expectClose(r[2], floatTensor([1], [9]))
        // Training mode (opset 14): batch mean 4, population variance 5; running = 0.9·old + 0.1·batch.
        let t = try runNode("BatchNormalization", opset: 14, inputs: inputs, attributes: ["training_mode": .int(1), "epsilon": .float(0)], outputCount: 3)
        let s = Float(5).squareRoot()
        expectClose(t[0], floatTensor([2, 1, 2], [-3 / s, -1 / s, 1 / s, 3 / s]))
        expectClose(t[1], floatTensor([1], [0.9 * 2 + 0.1 * 4]))
        expectClose(t[2], floatTensor([1], [0.9 * 9 + 0.1 * 5]))
        let error = #expect(throws: ONNXRunError.self) {
            try runNode("BatchNormalization", inputs: [x, floatTensor([2], [1, 1])] + inputs.dropFirst(2))
        }
        #expect(error?.code == .shapeMismatch)
    }

    @Test func lrnAgainstReference() throws {
        let shape = [2, 5, 3, 2]
        let x = sampleTensor(shape, seed: 61)
        let v = try x.scalars(as: Float.self)
        let channels = 5, inner = 6
        for size in [3, 4] {
            let alpha: Float = 0.5, beta: Float = 0.75, bias: Float = 2
            var expected = v
            for n in 0..<2 {
                for c in 0..<channels {
                    // Window: floor((size−1)/2) channels below, ceil((size−1)/2) above.
                    let low = max(0, c - (size - 1) / 2), high = min(channels - 1, c + Int((Double(size - 1) / 2).rounded(.up)))
                    for i in 0..<inner {
                        var squares: Float = 0
                        for j in low...high { squares += v[(n * channels + j) * inner + i] * v[(n * channels + j) * inner + i] }
                        let index = (n * channels + c) * inner + i
                        expected[index] = v[index] / Foundation.pow(bias + alpha / Float(size) * squares, beta)
                    }
                }
            }
            let y = try runNode("LRN", inputs: [x], attributes: ["size": .int(size), "alpha": .float(alpha), "beta": .float(beta), "bias": .float(bias)])[0]
            expectClose(y, floatTensor(shape, expected))
        }
        let error = #expect(throws: ONNXRunError.self) { try runNode("LRN", inputs: [x]) }
        #expect(error?.code == .invalidAttribute)
        #expect(error?.description.contains("LRN node \"node\"") == true)
    }

    @Test func lrnByHand() throws {
        // size 2 looks at the channel itself and the next: c0 → x0² + x1², c1 → x1².
        let x = floatTensor([1, 2], [1, 2])
        let y = try runNode("LRN", inputs: [x], attributes: ["size": .int(2), "alpha": .float(2), "beta": .float(1), "bias": .float(1)])[0]
        expectClose(y, floatTensor([1, 2], [1.0 / 6, 2.0 / 5]))
    }

    @Test func dropoutInference() throws {
        let x = floatTensor([2, 2], [1, -2, 3, -4])
        let r = try runNode("Dropout", opset: 13, inputs: [x, floatTensor([], [0.5])], outputCount: 2)
        expectClose(r[0], x)
        #expect(r[1].dataType == .bool)
        #expect(try r[1].scalars(as: Bool.self) == [true, true, true, true])
        // Opset 7: the mask has the input's type.
        let old = try runNode("Dropout", opset: 7, inputs: [x], attributes: ["ratio": .float(0.3)], outputCount: 2)
        expectClose(old[0], x)
        expectClose(old[1], floatTensor([2, 2], [1, 1, 1, 1]))
        // training_mode false is inference (training mode is covered by RandomOperatorTests).
        let off = try runNode("Dropout", opset: 12, inputs: [x, floatTensor([], [0.5]), try Tensor(shape: [], scalars: [false])])
        expectClose(off[0], x)
        // A ratio outside [0, 1] in training mode is an input error naming the node.
        let error = #expect(throws: ONNXRunError.self) {
            try runNode("Dropout", opset: 22, inputs: [x, floatTensor([], [1.5]), try Tensor(shape: [], scalars: [true])])
        }
        #expect(error?.description.contains("Dropout node \"node\"") == true)
    }
}
