import Foundation
import Testing
@testable import ONNXRun

/// Softmax over `length` elements spaced `inner` apart, for every (outer, inner) lane.
private func referenceSoftmax(_ x: [Float], outer: Int, length: Int, inner: Int, log: Bool = false) -> [Float] {
    var y = x
    for o in 0..<outer {
        for i in 0..<inner {
            let lane = (0..<length).map { o * length * inner + $0 * inner + i }
            let total = lane.reduce(0.0) { $0 + Foundation.exp(Double(x[$1])) }
            for p in lane { y[p] = log ? Float(Double(x[p]) - Foundation.log(total)) : Float(Foundation.exp(Double(x[p])) / total) }
        }
    }
    return y
}

@Suite struct SoftmaxTests {
    @Test func byHand() throws {
        let x = floatTensor([1, 3], [0, 0, Float(Foundation.log(2.0))])
        expectClose(try runNode("Softmax", inputs: [x])[0], floatTensor([1, 3], [0.25, 0.25, 0.5]))
        expectClose(try runNode("LogSoftmax", inputs: [x])[0], floatTensor([1, 3], [-1.3862944, -1.3862944, -0.6931472]))
    }

    @Test func opset13AlongOneAxis() throws {
        let x = sampleTensor([2, 3, 4], seed: 41)
        let v = try x.scalars(as: Float.self)
        // Default axis −1.
        expectClose(try runNode("Softmax", opset: 13, inputs: [x])[0], floatTensor([2, 3, 4], referenceSoftmax(v, outer: 6, length: 4, inner: 1)))
        // Axis 1: lanes of 3 elements spaced 4 apart.
        expectClose(try runNode("Softmax", opset: 13, inputs: [x], attributes: ["axis": .int(1)])[0],
                    floatTensor([2, 3, 4], referenceSoftmax(v, outer: 2, length: 3, inner: 4)))
        expectClose(try runNode("LogSoftmax", opset: 13, inputs: [x], attributes: ["axis": .int(-3)])[0],
                    floatTensor([2, 3, 4], referenceSoftmax(v, outer: 1, length: 2, inner: 12, log: true)))
    }

    @Test func beforeOpset13CoercesTo2D() throws {
        let x = sampleTensor([2, 3, 4], seed: 42)
        let v = try x.scalars(as: Float.self)
        // Default axis 1: each batch entry's 12 values form one row.
        let flat = referenceSoftmax(v, outer: 2, length: 12, inner: 1)
        expectClose(try runNode("Softmax", opset: 11, inputs: [x])[0], floatTensor([2, 3, 4], flat))
        expectClose(try runNode("Softmax", opset: 1, inputs: [x])[0], floatTensor([2, 3, 4], flat))
        // Axis 2 coerces to [6, 4], the same as opset 13 with axis 2.
        expectClose(try runNode("LogSoftmax", opset: 11, inputs: [x], attributes: ["axis": .int(2)])[0],
                    floatTensor([2, 3, 4], referenceSoftmax(v, outer: 6, length: 4, inner: 1, log: true)))
        // Axis 1 in opset 13 is a different operation.
        let perAxis = try runNode("Softmax", opset: 13, inputs: [x], attributes: ["axis": .int(1)])[0]
        #expect(try perAxis.scalars(as: Float.self) != flat)
    }

    @Test func numericallyStable() throws {
        let x = floatTensor([3], [1000, 1001, 1002])
        let y = try runNode("Softmax", inputs: [x])[0]
        expectClose(y, floatTensor([3], [0.09003057, 0.24472847, 0.66524096]))
        let l = try runNode("LogSoftmax", inputs: [floatTensor([2], [-1000, 0])])[0]
        expectClose(l, floatTensor([2], [-1000, 0]))
    }

    @Test func hardmax() throws {
        // The first of tied maxima wins.
        let x = floatTensor([2, 4], [1, 3, 3, 2, -5, -1, -2, -9])
        expectClose(try runNode("Hardmax", inputs: [x])[0], floatTensor([2, 4], [0, 1, 0, 0, 0, 1, 0, 0]))
        // Opset 11 default axis 1 on [2, 2, 2]: one maximum over each batch entry's 4 values.
        let y = floatTensor([2, 2, 2], [1, 5, 2, 0, 7, 1, 8, 8])
        expectClose(try runNode("Hardmax", opset: 11, inputs: [y])[0], floatTensor([2, 2, 2], [0, 1, 0, 0, 0, 0, 1, 0]))
        expectClose(try runNode("Hardmax", opset: 13, inputs: [y], attributes: ["axis": .int(1)])[0], floatTensor([2, 2, 2], [0, 1, 1, 0, 0, 0, 1, 1]))
    }

    @Test func doubleAndErrors() throws {
        let x = try Tensor(shape: [2], scalars: [Double(0), Foundation.log(3.0)])
        let y = try runNode("Softmax", inputs: [x])[0]
        let values = try y.scalars(as: Double.self)
        #expect(abs(values[0] - 0.25) < 1e-12 && abs(values[1] - 0.75) < 1e-12)
        let error = #expect(throws: ONNXRunError.self) {
            try runNode("Softmax", inputs: [floatTensor([2, 2], [1, 2, 3, 4])], attributes: ["axis": .int(2)])
        }
        #expect(error?.code == .invalidAttribute)
        #expect(error?.description.contains("Softmax node \"node\"") == true)
        #expect(throws: ONNXRunError.self) {
            try runNode("Softmax", inputs: [Tensor(shape: [2], scalars: [Int32(1), 2])])
        }
    }
}
