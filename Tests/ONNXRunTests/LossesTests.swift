import Foundation
import Testing
@testable import ONNXRun

@Suite struct LossesTests {
    private func labels(_ shape: [Int], _ values: [Int64]) -> Tensor { try! Tensor(shape: shape, scalars: values) }

    @Test func nllReductions() throws {
        // x [2, 3]: targets 2 and 0 pick -x[0, 2] = -3 and -x[1, 0] = -4.
        let x = floatTensor([2, 3], [1, 2, 3, 4, 5, 6])
        let t = labels([2], [2, 0])
        expectClose(try runNode("NegativeLogLikelihoodLoss", opset: 13, inputs: [x, t], attributes: ["reduction": .string("none")])[0], floatTensor([2], [-3, -4]))
        expectClose(try runNode("NegativeLogLikelihoodLoss", opset: 13, inputs: [x, t], attributes: ["reduction": .string("sum")])[0], floatTensor([], [-7]))
        expectClose(try runNode("NegativeLogLikelihoodLoss", opset: 13, inputs: [x, t])[0], floatTensor([], [-3.5]))
        // Weights [1, 1, 3]: losses −9 and −4, mean divides by the weight total 4.
        let w = floatTensor([3], [1, 1, 3])
        expectClose(try runNode("NegativeLogLikelihoodLoss", opset: 13, inputs: [x, t, w])[0], floatTensor([], [-13.0 / 4]))
        // Ignoring class 0 drops the second position from both sum and weight.
        expectClose(try runNode("NegativeLogLikelihoodLoss", opset: 13, inputs: [x, t, w], attributes: ["ignore_index": .int(0)])[0], floatTensor([], [-3]))
    }

    @Test func nllSpatial() throws {
        // x [1, 2, 2] (N, C, D): position d picks class target[d].
        let x = floatTensor([1, 2, 2], [1, 2, 3, 4])
        let y = try runNode("NegativeLogLikelihoodLoss", opset: 22, inputs: [x, labels([1, 2], [1, 0])], attributes: ["reduction": .string("none")])[0]
        expectClose(y, floatTensor([1, 2], [-3, -2]))
    }

    @Test func softmaxCrossEntropyWithLogProb() throws {
        let scores: [Float] = [0, Float(log(3.0)), 2, 2]
        let outputs = try runNode("SoftmaxCrossEntropyLoss", opset: 13, inputs: [floatTensor([2, 2], scores), labels([2], [1, 0])], outputCount: 2)
        // Row 0: p = [1/4, 3/4]; row 1: p = [1/2, 1/2]. Mean of −log(3/4) and −log(1/2).
        expectClose(outputs[0], floatTensor([], [Float(-(log(0.75) + log(0.5)) / 2)]))
        expectClose(outputs[1], floatTensor([2, 2], [log(0.25), log(0.75), log(0.5), log(0.5)].map { Float($0) }))
    }
}
