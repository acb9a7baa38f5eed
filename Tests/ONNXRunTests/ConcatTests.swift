import Testing
@testable import ONNXRun

@Suite struct ConcatTests {
    /// Concatenation by index arithmetic: output element at index i comes from the input whose
    /// range along `axis` holds i[axis].
    static func reference(_ inputs: [(shape: [Int], values: [Int64])], axis: Int) -> (shape: [Int], values: [Int64]) {
        var shape = inputs[0].shape
        shape[axis] = inputs.map { $0.shape[axis] }.reduce(0, +)
        let n = shape.reduce(1, *)
        var out = [Int64](repeating: 0, count: n)
        for flat in 0..<n {
            var index = multiIndex(flat, shape)
            var k = 0
            while index[axis] >= inputs[k].shape[axis] {
                index[axis] -= inputs[k].shape[axis]
                k += 1
            }
            out[flat] = inputs[k].values[flatIndex(index, inputs[k].shape)]
        }
        return (shape, out)
    }

    @Test(arguments: [
        ([[2, 3], [2, 1], [2, 2]], 1),
        ([[2, 3], [1, 3]], 0),
        ([[2, 3], [1, 3]], -2),
        ([[2, 3, 2], [2, 1, 2], [2, 0, 2]], -2),  // zero-size input
        ([[2, 2, 3], [2, 2, 1]], 2),
        ([[4], [0], [3]], 0),
    ])
    func matchesReference(shapes: [[Int]], axis: Int) throws {
        var start: Int64 = 0
        let inputs = shapes.map { shape -> Tensor in
            defer { start += 100 }
            return int64Iota(shape, from: start)
        }
        let rank = shapes[0].count
        let expected = Self.reference(inputs.map { ($0.shape, int64Values($0)) }, axis: axis < 0 ? axis + rank : axis)
        let y = try runNode("Concat", inputs: inputs, attributes: ["axis": .int(axis)])[0]
        #expect(y.shape == expected.shape)
        #expect(int64Values(y) == expected.values)
    }

    /// Outputs of 128 KB and more are copied by several threads, each its own byte range of the
    /// output; ranges split segments anywhere, including inside a block and across zero-size inputs.
    @Test(arguments: [
        ([[1, 40, 30, 30], [1, 0, 30, 30], [1, 13, 30, 30]], 1),
        ([[3, 5, 64, 70], [3, 5, 64, 3]], 3),
        ([[2, 50, 401], [1, 50, 401]], 0),
    ])
    func largeOutputsAreCopiedInParallel(shapes: [[Int]], axis: Int) throws {
        var start: Int64 = 0
        let inputs = shapes.map { shape -> Tensor in
            defer { start += 1_000_000 }
            return int64Iota(shape, from: start)
        }
        let expected = Self.reference(inputs.map { ($0.shape, int64Values($0)) }, axis: axis)
        #expect(expected.values.count * 8 >= ConcatKernel.parallelBytes)
        for threads in [2, 3] {
            let y = try ConcatKernel.concatenate(inputs, axis: axis, threads: threads)
            #expect(y.shape == expected.shape)
            #expect(int64Values(y) == expected.values, "threads \(threads)")
        }
    }

    @Test func floatsAndDefaultAxisInOpset1() throws {
        let a = floatTensor([2, 1], [1, 2]), b = floatTensor([2, 2], [3, 4, 5, 6])
        let y = try runNode("Concat", opset: 1, inputs: [a, b])[0]
        expectClose(y, floatTensor([2, 3], [1, 3, 4, 2, 5, 6]))
        // From opset 4 the axis is required.
        expectError(.invalidAttribute, containing: "axis") { _ = try runNode("Concat", opset: 4, inputs: [a, b]) }
    }

    @Test func strings() throws {
        let a = stringTensor([2, 1], ["a", "b"]), b = stringTensor([2, 2], ["c", "d", "e", "f"])
        let y = try runNode("Concat", inputs: [a, b], attributes: ["axis": .int(-1)])[0]
        #expect(y.shape == [2, 3])
        #expect(y.strings == ["a", "c", "d", "b", "e", "f"])
    }

    @Test func errors() throws {
        expectError(.shapeMismatch) {
            _ = try runNode("Concat", inputs: [floatIota([2, 3]), floatIota([3, 3])], attributes: ["axis": .int(1)])
        }
        expectError(.shapeMismatch) {
            _ = try runNode("Concat", inputs: [floatIota([2, 3]), floatIota([6])], attributes: ["axis": .int(0)])
        }
        expectError(.invalidInput) {
            _ = try runNode("Concat", inputs: [floatIota([2]), int64Iota([2])], attributes: ["axis": .int(0)])
        }
        expectError(.invalidAttribute) {
            _ = try runNode("Concat", inputs: [floatIota([2]), floatIota([2])], attributes: ["axis": .int(1)])
        }
    }

    // MARK: Split

    @Test func splitEqualParts() throws {
        let ys = try runNode("Split", opset: 13, inputs: [int64Iota([2, 6])], attributes: ["axis": .int(1)], outputCount: 3)
        #expect(ys.map(\.shape) == [[2, 2], [2, 2], [2, 2]])
        #expect(ys.map { int64Values($0) } == [[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]])
        expectError(.shapeMismatch) {
            _ = try runNode("Split", opset: 13, inputs: [int64Iota([2, 5])], attributes: ["axis": .int(1)], outputCount: 3)
        }
    }

    @Test func splitSizesByOpset() throws {
        let x = int64Iota([5, 2])
        let expected: [[Int64]] = [[0, 1], [], [2, 3, 4, 5, 6, 7, 8, 9]]
        // Opset 11: `split` attribute, negative axis.
        let a = try runNode("Split", opset: 11, inputs: [x], attributes: ["axis": .int(-2), "split": .ints([1, 0, 4])], outputCount: 3)
        #expect(a.map(\.shape) == [[1, 2], [0, 2], [4, 2]])
        #expect(a.map { int64Values($0) } == expected)
        // Opset 13: `split` input.
        let b = try runNode("Split", opset: 13, inputs: [x, int64Vector([1, 0, 4])], outputCount: 3)
        #expect(b.map { int64Values($0) } == expected)
        // Opset 1: split may also come as an input.
        let c = try runNode("Split", opset: 1, inputs: [x, int64Vector([1, 0, 4])], outputCount: 3)
        #expect(c.map { int64Values($0) } == expected)
        expectError(.shapeMismatch) { _ = try runNode("Split", opset: 13, inputs: [x, int64Vector([1, 1, 1])], outputCount: 3) }
    }

    @Test(arguments: [(7, 3, [3, 3, 1]), (6, 3, [2, 2, 2]), (5, 4, [2, 2, 1, 0])])
    func splitNumOutputs(dim: Int, parts: Int, sizes: [Int]) throws {
        let ys = try runNode("Split", opset: 18, inputs: [int64Iota([dim])], attributes: ["num_outputs": .int(parts)], outputCount: parts)
        #expect(ys.map(\.shape) == sizes.map { [$0] })
        #expect(ys.flatMap { int64Values($0) } == (0..<Int64(dim)).map { $0 })
    }

    @Test func splitStringsAndErrors() throws {
        let ys = try runNode("Split", inputs: [stringTensor([4], ["a", "b", "c", "d"]), int64Vector([3, 1])], outputCount: 2)
        #expect(ys[0].strings == ["a", "b", "c"] && ys[1].strings == ["d"])
        expectError(.invalidModel) {
            _ = try runNode("Split", opset: 18, inputs: [int64Iota([4])], attributes: ["num_outputs": .int(3)], outputCount: 2)
        }
    }
}
