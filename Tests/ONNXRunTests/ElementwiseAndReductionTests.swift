import Testing
@testable import ONNXRun

@Suite struct ReductionTests {
    let x = floatTensor([2, 3], [1, -2, 3, 4, 5, -6])

    @Test func sumOverAxisKeepsOrDropsDims() throws {
        let kept = try runNode("ReduceSum", opset: 13, inputs: [x, try Tensor(shape: [1], scalars: [Int64(1)])])[0]
        #expect(kept.shape == [2, 1])
        #expect(try kept.scalars(as: Float.self) == [2, 3])
        let dropped = try runNode("ReduceMax", opset: 11, inputs: [x], attributes: ["axes": .ints([0]), "keepdims": .int(0)])[0]
        #expect(dropped.shape == [3])
        #expect(try dropped.scalars(as: Float.self) == [4, 5, 3])
    }

    @Test func allAxesAndLogSumExp() throws {
        let mean = try runNode("ReduceMean", opset: 18, inputs: [x], attributes: ["keepdims": .int(0)])[0]
        #expect(mean.shape == [])
        #expect(try mean.scalars(as: Float.self) == [0.8333333])
        let lse = try runNode("ReduceLogSumExp", opset: 18, inputs: [floatTensor([2], [1000, 1000])])[0]
        expectClose(lse, floatTensor([1], [1000.6931]), rtol: 1e-6)  // no overflow
    }

    @Test func integerSumIsExact() throws {
        let big = try Tensor(shape: [2], scalars: [Int64(1) << 60, 1])
        let y = try runNode("ReduceSum", opset: 13, inputs: [big], attributes: ["keepdims": .int(0)])[0]
        #expect(try y.scalars(as: Int64.self) == [(1 << 60) + 1])
    }
}

@Suite struct LogicAndMathTests {
    @Test func comparisonsBroadcastToBool() throws {
        let y = try runNode("Less", inputs: [floatTensor([3], [1, 2, 3]), floatTensor([], [2])])[0]
        #expect(y.dataType == .bool)
        #expect(try y.scalars(as: Bool.self) == [true, false, false])
        let eq = try runNode("Equal", inputs: [try Tensor(shape: [2], strings: ["a", "b"]), try Tensor(shape: [1], strings: ["b"])])[0]
        #expect(try eq.scalars(as: Bool.self) == [false, true])
    }

    @Test func modFollowsTheDivisorSignUnlessFmod() throws {
        let a = try Tensor(shape: [4], scalars: [Int32(-7), 7, -7, 7]), b = try Tensor(shape: [4], scalars: [Int32(3), -3, -3, 3])
        #expect(try runNode("Mod", inputs: [a, b])[0].scalars(as: Int32.self) == [2, -2, -1, 1])
        let f = try runNode("Mod", inputs: [floatTensor([2], [-7, 7]), floatTensor([2], [3, -3])], attributes: ["fmod": .int(1)])[0]
        #expect(try f.scalars(as: Float.self) == [-1, 1])
    }

    @Test func topKBreaksTiesByLowerIndex() throws {
        let out = try runNode("TopK", inputs: [floatTensor([5], [3, 1, 3, 2, 5]), try Tensor(shape: [1], scalars: [Int64(3)])], outputCount: 2)
        #expect(try out[0].scalars(as: Float.self) == [5, 3, 3])
        #expect(try out[1].scalars(as: Int64.self) == [4, 0, 2])
    }

    @Test func negativeShiftsFillWithZerosOrSign() throws {
        let x = try Tensor(shape: [2], scalars: [Int32(-16), 16]), s = try Tensor(shape: [2], scalars: [Int32(40), 2])
        #expect(try runNode("BitShift", inputs: [x, s], attributes: ["direction": .string("RIGHT")])[0].scalars(as: Int32.self) == [-1, 4])
    }

    @Test func legacyPReluSlopeIsPerChannel() throws {
        let x = floatTensor([1, 2, 2], [-1, -1, -1, -1])
        let y = try runNode("PRelu", opset: 6, inputs: [x, floatTensor([2], [0.5, 2])])[0]
        #expect(try y.scalars(as: Float.self) == [-0.5, -0.5, -2, -2])
    }
}
