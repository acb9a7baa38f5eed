import Testing
@testable import ONNXRun

@Suite struct ExpandTests {
    /// Broadcast read: output index i maps to input index with i[d] (or 0 where the input dim is 1).
    static func broadcastRead(_ values: [Int64], shape: [Int], to outShape: [Int]) -> [Int64] {
        let offset = outShape.count - shape.count
        return (0..<outShape.reduce(1, *)).map { flat in
            let o = multiIndex(flat, outShape)
            let i = shape.indices.map { shape[$0] == 1 ? 0 : o[$0 + offset] }
            return values[flatIndex(i, shape)]
        }
    }

    // MARK: Expand

    @Test(arguments: [
        ([3, 1], [2, 1, 6], [2, 3, 6]),
        ([3, 1], [3, 4], [3, 4]),
        ([1], [2, 3], [2, 3]),
        ([2, 3], [1], [2, 3]),  // shape smaller than input
        ([1, 3, 1], [2, 1, 1, 4], [2, 1, 3, 4]),
        ([3, 1], [3, 0], [3, 0]),
        ([], [2, 2], [2, 2]),
    ])
    func expandMatchesReference(shape: [Int], requested: [Int], expected: [Int]) throws {
        let x = int64Iota(shape, from: 1)
        let y = try runNode("Expand", inputs: [x, int64Vector(requested)])[0]
        #expect(y.shape == expected)
        #expect(int64Values(y) == Self.broadcastRead(int64Values(x), shape: shape, to: expected))
    }

    @Test func expandOtherTypesAndErrors() throws {
        let s = try runNode("Expand", opset: 8, inputs: [stringTensor([2, 1], ["a", "b"]), int64Vector([2, 2])])[0]
        #expect(s.strings == ["a", "a", "b", "b"])
        let b = try runNode("Expand", inputs: [try Tensor(shape: [2], scalars: [true, false]), int64Vector([2, 2])])[0]
        #expect(try b.scalars(as: Bool.self) == [true, false, true, false])
        expectError(.shapeMismatch) { _ = try runNode("Expand", inputs: [floatIota([3]), int64Vector([4])]) }
        expectError(.invalidInput) { _ = try runNode("Expand", inputs: [floatIota([3]), int64Vector([-1, 3])]) }
    }

    // MARK: Tile

    static func tileReference(_ values: [Int64], shape: [Int], repeats: [Int]) -> (shape: [Int], values: [Int64]) {
        let outShape = zip(shape, repeats).map { $0 * $1 }
        let out = (0..<outShape.reduce(1, *)).map { flat -> Int64 in
            let o = multiIndex(flat, outShape)
            return values[flatIndex(o.indices.map { o[$0] % shape[$0] }, shape)]
        }
        return (outShape, out)
    }

    @Test(arguments: [
        ([2, 2], [1, 2]),
        ([2, 3], [3, 1]),
        ([2, 1, 3], [2, 3, 2]),
        ([3], [0]),
        ([2, 2], [1, 1]),
    ])
    func tileMatchesReference(shape: [Int], repeats: [Int]) throws {
        let x = int64Iota(shape, from: 1)
        let expected = Self.tileReference(int64Values(x), shape: shape, repeats: repeats)
        let y = try runNode("Tile", inputs: [x, int64Vector(repeats)])[0]
        #expect(y.shape == expected.shape)
        #expect(int64Values(y) == expected.values)
    }

    @Test func tileSpecExampleAndOpset1() throws {
        let a = floatTensor([2, 2], [1, 2, 3, 4])
        expectClose(try runNode("Tile", opset: 6, inputs: [a, int64Vector([1, 2])])[0], floatTensor([2, 4], [1, 2, 1, 2, 3, 4, 3, 4]))
        // Opset 1: scalar `tiles` along scalar `axis`.
        let y = try runNode("Tile", opset: 1, inputs: [a, int64Tensor([], [3]), int64Tensor([], [0])])[0]
        expectClose(y, floatTensor([6, 2], [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]))
        let s = try runNode("Tile", inputs: [stringTensor([2], ["x", "y"]), int64Vector([2])])[0]
        #expect(s.strings == ["x", "y", "x", "y"])
        expectError(.invalidInput) { _ = try runNode("Tile", inputs: [a, int64Vector([2])]) }
        expectError(.invalidInput) { _ = try runNode("Tile", inputs: [a, int64Vector([2, -1])]) }
    }

    // MARK: Where

    @Test(arguments: [
        ([2, 3], [2, 3], [2, 3]),
        ([2, 1], [1, 3], [3]),
        ([3], [2, 1], []),
        ([1, 1, 4], [3, 1], [2, 1, 1]),
    ])
    func whereMatchesReference(conditionShape: [Int], xShape: [Int], yShape: [Int]) throws {
        let out = try Broadcast.shape(try Broadcast.shape(conditionShape, xShape), yShape)
        let cn = conditionShape.reduce(1, *)
        let conditionValues = (0..<cn).map { $0 % 3 != 1 }
        let condition = try Tensor(shape: conditionShape, scalars: conditionValues)
        let x = int64Iota(xShape, from: 100), y = int64Iota(yShape, from: -50)
        let c = Self.broadcastRead(conditionValues.map { $0 ? 1 : 0 }, shape: conditionShape, to: out)
        let xv = Self.broadcastRead(int64Values(x), shape: xShape, to: out)
        let yv = Self.broadcastRead(int64Values(y), shape: yShape, to: out)
        let result = try runNode("Where", inputs: [condition, x, y])[0]
        #expect(result.shape == out)
        #expect(int64Values(result) == (0..<c.count).map { c[$0] != 0 ? xv[$0] : yv[$0] })
    }

    @Test func whereTypesAndErrors() throws {
        let condition = try Tensor(shape: [3], scalars: [true, false, true])
        let s = try runNode("Where", opset: 9, inputs: [condition, stringTensor([3], ["a", "b", "c"]), stringTensor([], ["-"])])[0]
        #expect(s.strings == ["a", "-", "c"])
        let h = try runNode("Where", inputs: [condition, try Conversion.cast(floatIota([3]), to: .float16), try Conversion.cast(floatTensor([1], [9]), to: .float16)])[0]
        #expect(h.dataType == .float16)
        #expect(try Conversion.floats(h) == [0, 9, 2])
        expectError(.invalidInput) { _ = try runNode("Where", inputs: [floatIota([3]), floatIota([3]), floatIota([3])]) }
        expectError(.invalidInput) { _ = try runNode("Where", inputs: [condition, floatIota([3]), int64Iota([3])]) }
        expectError(.shapeMismatch) { _ = try runNode("Where", inputs: [condition, floatIota([2]), floatIota([3])]) }
    }
}
