import Testing
@testable import ONNXRun

@Suite struct ArithmeticTests {
    @Test func broadcastShapes() throws {
        #expect(try Broadcast.shape([2, 3, 4], [4]) == [2, 3, 4])
        #expect(try Broadcast.shape([2, 1, 4], [3, 1]) == [2, 3, 4])
        #expect(try Broadcast.shape([], [5]) == [5])
        #expect(throws: ONNXRunError.self) { try Broadcast.shape([2, 3], [4]) }
    }

    @Test func addBroadcastsLikeNumpy() throws {
        let a = floatTensor([2, 3], [1, 2, 3, 4, 5, 6])
        let b = floatTensor([2, 1], [10, 20])
        let y = try runNode("Add", inputs: [a, b])[0]
        expectClose(y, floatTensor([2, 3], [11, 12, 13, 24, 25, 26]))
    }

    @Test func middleAxisBroadcast() throws {
        // [2,3,2] + [3,1]: b varies along axis 1 only.
        let a = floatTensor([2, 3, 2], Array(repeating: 0, count: 12))
        let b = floatTensor([3, 1], [1, 2, 3])
        let y = try runNode("Mul", inputs: [try runNode("Add", inputs: [a, b])[0], floatTensor([], [2])])[0]
        expectClose(y, floatTensor([2, 3, 2], [2, 2, 4, 4, 6, 6, 2, 2, 4, 4, 6, 6]))
    }

    @Test func legacyAxisBroadcast() throws {
        // Opset 6 Add with broadcast=1, axis=1: B of shape [3] lines up with A's dimension 1.
        let a = floatTensor([2, 3, 2], Array(repeating: 1, count: 12))
        let b = floatTensor([3], [1, 2, 3])
        let y = try runNode("Add", opset: 6, inputs: [a, b], attributes: ["broadcast": .int(1), "axis": .int(1)])[0]
        expectClose(y, floatTensor([2, 3, 2], [2, 2, 3, 3, 4, 4, 2, 2, 3, 3, 4, 4]))
    }

    @Test func integerDivisionTruncatesAndSurvivesZero() throws {
        let a = try Tensor(shape: [3], scalars: [Int64(7), -7, 5])
        let b = try Tensor(shape: [3], scalars: [Int64(2), 2, 0])
        let y = try runNode("Div", inputs: [a, b])[0]
        #expect(try y.scalars(as: Int64.self) == [3, -3, 0])
    }

    @Test func sumOfThree() throws {
        let y = try runNode("Sum", inputs: [floatTensor([2], [1, 2]), floatTensor([1], [10]), floatTensor([2], [100, 200])])[0]
        expectClose(y, floatTensor([2], [111, 212]))
    }

    @Test func mismatchedShapesNameTheNode() throws {
        let error = #expect(throws: ONNXRunError.self) {
            try runNode("Add", inputs: [floatTensor([2], [1, 2]), floatTensor([3], [1, 2, 3])])
        }
        #expect(error?.code == .shapeMismatch)
        #expect(error?.description.contains("Add node \"node\"") == true)
    }

    @Test func reluAndSigmoid() throws {
        let x = floatTensor([4], [-2, -0.5, 0, 3])
        expectClose(try runNode("Relu", inputs: [x])[0], floatTensor([4], [0, 0, 0, 3]))
        let s = try runNode("Sigmoid", inputs: [x])[0]
        expectClose(s, floatTensor([4], [0.11920292, 0.37754067, 0.5, 0.95257413]))
    }

    @Test func reluSplitAcrossThreadsKeepsNaNAndTypes() throws {
        // 40 000 values: two threads share them; NaN passes through as in the closure version.
        var values = sampleValues(40_000, seed: 70).map { $0 - 0.5 }
        values[123] = .nan
        values[39_999] = -.infinity
        let y = try runNode("Relu", inputs: [floatTensor([40_000], values)], threads: 2)[0].scalars(as: Float.self)
        #expect(y[123].isNaN && y[39_999] == 0)
        for i in values.indices where i != 123 { #expect(y[i] == max(values[i], 0)) }
        let doubles = try runNode("Relu", inputs: [Tensor(shape: [3], scalars: [-1.0, 0.5, 2.0])])[0]
        #expect(try doubles.scalars(as: Double.self) == [0, 0.5, 2])
    }
}
