import Testing
@testable import ONNXRun

@Suite struct SliceTests {
    /// Python-style slicing of one axis, written independently of the kernel: walk from the
    /// normalized start by step while inside [0, dim) and before end.
    static func positions(dim: Int, start: Int, end: Int, step: Int) -> [Int] {
        var s = start < 0 ? start + dim : start
        var e = end < 0 ? end + dim : end
        if step > 0 {
            s = Swift.max(0, Swift.min(s, dim))
            e = Swift.max(0, Swift.min(e, dim))
        } else {
            s = Swift.max(-1, Swift.min(s, dim - 1))
            e = Swift.max(-1, Swift.min(e, dim - 1))
        }
        var result: [Int] = []
        var i = s
        while step > 0 ? i < e : i > e {
            if i >= 0 && i < dim { result.append(i) }
            i += step
        }
        return result
    }

    static func reference(_ values: [Int64], shape: [Int], starts: [Int], ends: [Int], axes: [Int], steps: [Int]) -> (shape: [Int], values: [Int64]) {
        var picks = shape.map { Array(0..<$0) }
        for i in axes.indices {
            let a = axes[i] < 0 ? axes[i] + shape.count : axes[i]
            picks[a] = positions(dim: shape[a], start: starts[i], end: ends[i], step: steps[i])
        }
        let outShape = picks.map(\.count)
        let n = outShape.reduce(1, *)
        let out = (0..<n).map { flat -> Int64 in
            let o = multiIndex(flat, outShape)
            return values[flatIndex(o.indices.map { picks[$0][o[$0]] }, shape)]
        }
        return (outShape, out)
    }

    @Test(arguments: [
        // (starts, ends, axes, steps) on shape [4, 5, 6]
        ([1, 0], [3, 5], [0, 1], [1, 2]),
        ([0, 1], [-1, 1000], [0, 1], [1, 1]),
        ([-1], [-1000], [2], [-1]),  // reverse an axis
        ([5, 4], [0, -100], [-1, -2], [-2, -3]),
        ([Int(Int64.max)], [Int(Int64.min)], [1], [-1]),  // INT_MAX start, INT_MIN end, backwards
        ([0], [Int(Int64.max)], [0], [3]),
        ([3], [1], [0], [1]),  // empty
        ([-10], [10], [2], [Int(Int64.max)]),  // huge step: one element
        ([2, 1, 0], [4, 4, 6], [2, 1, 0], [1, 1, 2]),
    ])
    func matchesReference(starts: [Int], ends: [Int], axes: [Int], steps: [Int]) throws {
        let shape = [4, 5, 6]
        let x = int64Iota(shape, from: 7)
        let expected = Self.reference(int64Values(x), shape: shape, starts: starts, ends: ends, axes: axes, steps: steps)
        let y = try runNode("Slice", opset: 13, inputs: [x, int64Vector(starts), int64Vector(ends), int64Vector(axes), int64Vector(steps)])[0]
        #expect(y.shape == expected.shape)
        #expect(int64Values(y) == expected.values)
    }

    @Test func specExamples() throws {
        let data = floatTensor([2, 4], [1, 2, 3, 4, 5, 6, 7, 8])
        let a = try runNode("Slice", inputs: [data, int64Vector([1, 0]), int64Vector([2, 3]), int64Vector([0, 1]), int64Vector([1, 2])])[0]
        expectClose(a, floatTensor([1, 2], [5, 7]))
        // Axes and steps omitted.
        let b = try runNode("Slice", opset: 10, inputs: [data, int64Vector([0, 1]), int64Vector([-1, 1000])])[0]
        expectClose(b, floatTensor([1, 3], [2, 3, 4]))
        // int32 starts/ends.
        let s32 = try Tensor(shape: [1], scalars: [Int32(1)]), e32 = try Tensor(shape: [1], scalars: [Int32(3)])
        let c = try runNode("Slice", inputs: [floatIota([5]), s32, e32])[0]
        expectClose(c, floatTensor([2], [1, 2]))
    }

    @Test func opset1Attributes() throws {
        let data = floatTensor([2, 4], [1, 2, 3, 4, 5, 6, 7, 8])
        let y = try runNode("Slice", opset: 1, inputs: [data], attributes: ["starts": .ints([0, 1]), "ends": .ints([-1, 1000])])[0]
        expectClose(y, floatTensor([1, 3], [2, 3, 4]))
        let z = try runNode("Slice", opset: 9, inputs: [data], attributes: ["starts": .ints([2]), "ends": .ints([4]), "axes": .ints([1])])[0]
        expectClose(z, floatTensor([2, 2], [3, 4, 7, 8]))
        expectError(.invalidAttribute) { _ = try runNode("Slice", opset: 9, inputs: [data], attributes: ["starts": .ints([2])]) }
    }

    @Test func stringsAndOtherTypes() throws {
        let s = try runNode("Slice", inputs: [stringTensor([4], ["a", "b", "c", "d"]), int64Vector([-1]), int64Vector([-5]), int64Vector([0]), int64Vector([-2])])[0]
        #expect(s.strings == ["d", "b"])
        let h = try Conversion.cast(floatIota([6]), to: .float16)
        let y = try runNode("Slice", inputs: [h, int64Vector([1]), int64Vector([6]), int64Vector([0]), int64Vector([2])])[0]
        #expect(y.dataType == .float16)
        #expect(try Conversion.floats(y) == [1, 3, 5])
    }

    @Test func errors() throws {
        let x = floatIota([3, 3])
        expectError(.invalidInput, containing: "step") { _ = try runNode("Slice", inputs: [x, int64Vector([0]), int64Vector([2]), int64Vector([0]), int64Vector([0])]) }
        expectError(.invalidInput) { _ = try runNode("Slice", inputs: [x, int64Vector([0]), int64Vector([2]), int64Vector([2])]) }
        expectError(.invalidInput) { _ = try runNode("Slice", inputs: [x, int64Vector([0, 0]), int64Vector([2])]) }
        expectError(.invalidInput) { _ = try runNode("Slice", inputs: [x, int64Vector([0, 0]), int64Vector([2, 2]), int64Vector([1, -1])]) }
    }
}
