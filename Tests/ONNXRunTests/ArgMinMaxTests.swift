import Testing
@testable import ONNXRun

@Suite struct ArgMinMaxTests {
    /// Arg-extreme along `axis` by index arithmetic, ties to the first (or last) position.
    static func reference(_ values: [Float], shape: [Int], axis: Int, max: Bool, last: Bool) -> [Int64] {
        var outShape = shape
        outShape[axis] = 1
        let n = outShape.reduce(1, *)
        return (0..<n).map { flat in
            var index = multiIndex(flat, outShape)
            var best = 0
            for k in 0..<shape[axis] {
                index[axis] = k
                let v = values[flatIndex(index, shape)]
                index[axis] = best
                let b = values[flatIndex(index, shape)]
                if (max ? v > b : v < b) || (last && v == b) { best = k }
            }
            return Int64(best)
        }
    }

    @Test(arguments: [0, 1, 2, -1], [true, false])
    func matchesReference(axis: Int, last: Bool) throws {
        let shape = [3, 4, 5]
        let values = (0..<60).map { Float(($0 * 37) % 11) }  // plenty of ties
        let x = floatTensor(shape, values)
        let a = axis < 0 ? axis + 3 : axis
        for op in ["ArgMax", "ArgMin"] {
            let expected = Self.reference(values, shape: shape, axis: a, max: op == "ArgMax", last: last)
            let y = try runNode(op, opset: 13, inputs: [x], attributes: ["axis": .int(axis), "select_last_index": .int(last ? 1 : 0)])[0]
            var keptShape = shape
            keptShape[a] = 1
            #expect(y.shape == keptShape)
            #expect(int64Values(y) == expected, "\(op)")
            let z = try runNode(op, opset: 13, inputs: [x], attributes: ["axis": .int(axis), "keepdims": .int(0), "select_last_index": .int(last ? 1 : 0)])[0]
            var droppedShape = shape
            droppedShape.remove(at: a)
            #expect(z.shape == droppedShape)
            #expect(int64Values(z) == expected, "\(op)")
        }
    }

    @Test func selectLastIndexNeedsOpset12() throws {
        let x = int64Tensor([4], [1, 3, 3, 0])
        #expect(int64Values(try runNode("ArgMax", opset: 12, inputs: [x], attributes: ["select_last_index": .int(1)])[0]) == [2])
        #expect(int64Values(try runNode("ArgMax", opset: 11, inputs: [x], attributes: ["select_last_index": .int(1)])[0]) == [1])
    }

    @Test(arguments: [DataType.int32, .uint8, .double, .float16, .bfloat16, .int8])
    func otherTypes(type: DataType) throws {
        let x = try Conversion.cast(floatTensor([2, 3], [5, 1, 9, 2, 8, 2]), to: type)
        #expect(int64Values(try runNode("ArgMax", inputs: [x], attributes: ["axis": .int(1)])[0]) == [2, 1])
        #expect(int64Values(try runNode("ArgMin", inputs: [x], attributes: ["axis": .int(1)])[0]) == [1, 0])
    }

    @Test func nanWins() throws {
        let x = floatTensor([4], [1, .nan, 5, .nan])
        #expect(int64Values(try runNode("ArgMax", inputs: [x])[0]) == [1])
        #expect(int64Values(try runNode("ArgMin", inputs: [x])[0]) == [1])
        #expect(int64Values(try runNode("ArgMax", inputs: [x], attributes: ["select_last_index": .int(1)])[0]) == [3])
    }

    @Test func errors() throws {
        expectError(.invalidInput) { _ = try runNode("ArgMax", inputs: [try Tensor(zeros: .float, shape: [2, 0])], attributes: ["axis": .int(1)]) }
        expectError(.invalidAttribute) { _ = try runNode("ArgMin", inputs: [floatIota([2])], attributes: ["axis": .int(1)]) }
        expectError(.unsupportedType) { _ = try runNode("ArgMax", inputs: [stringTensor([1], ["a"])]) }
    }
}
