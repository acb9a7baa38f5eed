import Testing
@testable import ONNXRun

@Suite struct GatherTests {
    /// output[j.., i.., k..] = data[j.., idx[i..], k..].
    static func reference(_ data: [Int64], shape: [Int], indices: [Int], indicesShape: [Int], axis: Int) -> (shape: [Int], values: [Int64]) {
        let outShape = Array(shape[..<axis]) + indicesShape + Array(shape[(axis + 1)...])
        let n = outShape.reduce(1, *)
        var out = [Int64](repeating: 0, count: n)
        for flat in 0..<n {
            let o = multiIndex(flat, outShape)
            let q = indicesShape.count
            var i = Array(o[..<axis])
            let position = indices[flatIndex(Array(o[axis..<(axis + q)]), indicesShape)]
            i.append(position < 0 ? position + shape[axis] : position)
            i += o[(axis + q)...]
            out[flat] = data[flatIndex(i, shape)]
        }
        return (outShape, out)
    }

    @Test(arguments: [
        ([3, 2], [0, 1, 1, 2], [2, 2], 0),
        ([3, 3], [0, 2], [1, 2], 1),
        ([2, 3, 4], [-1, 0, 3], [3], -1),
        ([2, 3, 4], [2], [], 1),  // scalar index drops the axis
        ([4, 2], [-4, 3, -1], [3], 0),
        ([2, 3], [], [0], 1),
    ])
    func matchesReference(shape: [Int], indices: [Int], indicesShape: [Int], axis: Int) throws {
        let data = int64Iota(shape, from: 10)
        let normalized = axis < 0 ? axis + shape.count : axis
        let expected = Self.reference(int64Values(data), shape: shape, indices: indices, indicesShape: indicesShape, axis: normalized)
        let idx64 = int64Tensor(indicesShape, indices.map { Int64($0) })
        let y = try runNode("Gather", inputs: [data, idx64], attributes: ["axis": .int(axis)])[0]
        #expect(y.shape == expected.shape)
        #expect(int64Values(y) == expected.values)
        let idx32 = try Tensor(shape: indicesShape, scalars: indices.map { Int32($0) })
        let z = try runNode("Gather", opset: 11, inputs: [data, idx32], attributes: ["axis": .int(axis)])[0]
        #expect(int64Values(z) == expected.values)
    }

    @Test func floatsSpecExample() throws {
        let data = floatTensor([3, 3], [1.0, 1.2, 1.9, 2.3, 3.4, 3.9, 4.5, 5.7, 5.9])
        let y = try runNode("Gather", opset: 1, inputs: [data, int64Tensor([1, 2], [0, 2])], attributes: ["axis": .int(1)])[0]
        expectClose(y, floatTensor([3, 1, 2], [1.0, 1.9, 2.3, 3.9, 4.5, 5.9]))
    }

    @Test(arguments: [DataType.uint8, .float16, .double, .bool])
    func lastAxisEveryWidth(type: DataType) throws {
        let values: [Float] = type == .bool ? [0, 1, 1, 0, 1, 0] : [1, 2, 3, 4, 5, 6]
        let data = try Conversion.cast(floatTensor([2, 3], values), to: type)
        let y = try runNode("Gather", inputs: [data, int64Vector([2, 0, 2])], attributes: ["axis": .int(1)])[0]
        #expect(y.dataType == type && y.shape == [2, 3])
        #expect(try Conversion.floats(y) == [values[2], values[0], values[2], values[5], values[3], values[5]])
    }

    @Test func strings() throws {
        let data = stringTensor([3, 2], ["a", "b", "c", "d", "e", "f"])
        let y = try runNode("Gather", inputs: [data, int64Tensor([2], [2, -3])])[0]
        #expect(y.shape == [2, 2])
        #expect(y.strings == ["e", "f", "a", "b"])
    }

    @Test(arguments: [3, -4, 100])
    func outOfRangeIndexIsNamed(index: Int) throws {
        expectError(.outOfRange, containing: "index \(index)") {
            _ = try runNode("Gather", inputs: [floatIota([3, 2]), int64Tensor([2], [0, Int64(index)])])
        }
    }

    @Test func errors() throws {
        expectError(.invalidInput) { _ = try runNode("Gather", inputs: [floatIota([3]), floatTensor([1], [0])]) }
        expectError(.invalidAttribute) { _ = try runNode("Gather", inputs: [floatIota([3]), int64Vector([0])], attributes: ["axis": .int(1)]) }
    }
}
