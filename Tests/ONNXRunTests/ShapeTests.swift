import Testing
@testable import ONNXRun

@Suite struct ShapeTests {
    // MARK: Reshape

    @Test(arguments: [
        // (requested, expected) for an input of shape [2, 3, 4]
        ([4, 6], [4, 6]),
        ([-1], [24]),
        ([0, -1], [2, 12]),
        ([0, 0, 4], [2, 3, 4]),
        ([2, -1, 2], [2, 6, 2]),
        ([24, 1], [24, 1]),
    ])
    func reshapeResolvesZeroAndMinusOne(requested: [Int], expected: [Int]) throws {
        let x = floatIota([2, 3, 4])
        let y = try runNode("Reshape", opset: 14, inputs: [x, int64Vector(requested)])[0]
        #expect(y.shape == expected)
        #expect(try y.scalars(as: Float.self) == (0..<24).map(Float.init))
        #expect(y.storage === x.storage, "Reshape should be a zero-copy view")
    }

    @Test func reshapeOpset1UsesAttribute() throws {
        let x = floatIota([2, 3])
        let y = try runNode("Reshape", opset: 1, inputs: [floatIota([2, 3, 2])], attributes: ["shape": .ints([0, 6])])[0]
        #expect(y.shape == [2, 6])
        let z = try runNode("Reshape", opset: 1, inputs: [x], attributes: ["shape": .ints([-1])])[0]
        #expect(z.shape == [6])
        // Opset 1 has no shape input: a second input makes the model invalid.
        expectError(.invalidModel) { _ = try runNode("Reshape", opset: 4, inputs: [x, int64Vector([6])]) }
        expectError(.invalidAttribute) { _ = try runNode("Reshape", opset: 4, inputs: [x]) }
    }

    @Test func reshapeAllowZero() throws {
        let empty = try Tensor(zeros: .float, shape: [0, 3])
        // allowzero=1: a 0 is a real zero-sized dimension.
        let y = try runNode("Reshape", opset: 14, inputs: [empty, int64Vector([3, 0])], attributes: ["allowzero": .int(1)])[0]
        #expect(y.shape == [3, 0])
        // allowzero=0: the 0 copies the input's dimension 1 (3), so [3, 0] means [3, 3] (9 elements != 0).
        expectError(.shapeMismatch) { _ = try runNode("Reshape", opset: 14, inputs: [empty, int64Vector([3, 0])]) }
        // Opset 13 ignores allowzero.
        let x = floatIota([2, 3])
        let z = try runNode("Reshape", opset: 13, inputs: [x, int64Vector([0, 3])], attributes: ["allowzero": .int(1)])[0]
        #expect(z.shape == [2, 3])
        // 0 together with -1 is invalid under allowzero.
        expectError(.invalidInput) {
            _ = try runNode("Reshape", opset: 14, inputs: [x, int64Vector([0, -1])], attributes: ["allowzero": .int(1)])
        }
    }

    @Test func reshapeErrors() throws {
        let x = floatIota([2, 3])
        expectError(.shapeMismatch, containing: "[4, 2]") { _ = try runNode("Reshape", inputs: [x, int64Vector([4, 2])]) }
        expectError(.shapeMismatch) { _ = try runNode("Reshape", inputs: [x, int64Vector([4, -1])]) }
        expectError(.invalidInput) { _ = try runNode("Reshape", inputs: [x, int64Vector([-1, -1])]) }
        expectError(.invalidInput) { _ = try runNode("Reshape", inputs: [x, int64Vector([-2, -3])]) }
        expectError(.shapeMismatch) { _ = try runNode("Reshape", inputs: [x, int64Vector([1, 1, 0])]) }
    }

    @Test func reshapeToScalarAndOtherTypes() throws {
        let s = try runNode("Reshape", inputs: [int64Tensor([1, 1], [42]), int64Vector([])])[0]
        #expect(s.shape == [])
        #expect(int64Values(s) == [42])
        let strings = try runNode("Reshape", inputs: [stringTensor([2, 2], ["a", "b", "c", "d"]), int64Vector([4])])[0]
        #expect(strings.shape == [4])
        #expect(strings.strings == ["a", "b", "c", "d"])
        let shape32 = try Tensor(shape: [2], scalars: [Int32(3), Int32(-1)])
        let y = try runNode("Reshape", inputs: [floatIota([6]), shape32])[0]
        #expect(y.shape == [3, 2])
    }

    // MARK: Flatten

    @Test(arguments: [
        (0, [1, 24]), (1, [2, 12]), (2, [6, 4]), (3, [24, 1]), (-1, [6, 4]), (-3, [1, 24]),
    ])
    func flatten(axis: Int, expected: [Int]) throws {
        let y = try runNode("Flatten", opset: 13, inputs: [floatIota([2, 3, 4])], attributes: ["axis": .int(axis)])[0]
        #expect(y.shape == expected)
        #expect(try y.scalars(as: Float.self) == (0..<24).map(Float.init))
    }

    @Test func flattenDefaultAxisAndErrors() throws {
        let y = try runNode("Flatten", opset: 1, inputs: [floatIota([2, 3, 4])])[0]
        #expect(y.shape == [2, 12])
        expectError(.invalidAttribute) { _ = try runNode("Flatten", inputs: [floatIota([2, 3])], attributes: ["axis": .int(3)]) }
        expectError(.invalidAttribute) { _ = try runNode("Flatten", inputs: [floatIota([2, 3])], attributes: ["axis": .int(-3)]) }
    }

    // MARK: Squeeze / Unsqueeze

    @Test func squeezeAxesByOpset() throws {
        let x = floatIota([1, 3, 1, 2])
        let all = try runNode("Squeeze", opset: 13, inputs: [x])[0]
        #expect(all.shape == [3, 2])
        let old = try runNode("Squeeze", opset: 11, inputs: [x], attributes: ["axes": .ints([-2])])[0]
        #expect(old.shape == [1, 3, 2])
        let new = try runNode("Squeeze", opset: 13, inputs: [x, int64Vector([0, -2])])[0]
        #expect(new.shape == [3, 2])
        #expect(try new.scalars(as: Float.self) == [0, 1, 2, 3, 4, 5])
        let oldAll = try runNode("Squeeze", opset: 1, inputs: [x])[0]
        #expect(oldAll.shape == [3, 2])
    }

    @Test func squeezeErrors() throws {
        let x = floatIota([1, 3])
        expectError(.shapeMismatch, containing: "axis 1") { _ = try runNode("Squeeze", inputs: [x, int64Vector([1])]) }
        expectError(.invalidInput) { _ = try runNode("Squeeze", inputs: [x, int64Vector([2])]) }
    }

    @Test(arguments: [
        // (axes, expected) for an input of shape [3, 4]
        ([0], [1, 3, 4]),
        ([2], [3, 4, 1]),
        ([-1], [3, 4, 1]),
        ([0, 3], [1, 3, 4, 1]),
        ([3, 0], [1, 3, 4, 1]),
        ([1, -2], [3, 1, 1, 4]),
    ])
    func unsqueezeOpset13(axes: [Int], expected: [Int]) throws {
        let y = try runNode("Unsqueeze", opset: 13, inputs: [floatIota([3, 4]), int64Vector(axes)])[0]
        #expect(y.shape == expected)
        #expect(try y.scalars(as: Float.self) == (0..<12).map(Float.init))
    }

    @Test func unsqueezeOpset11UsesAttribute() throws {
        let y = try runNode("Unsqueeze", opset: 11, inputs: [floatIota([3])], attributes: ["axes": .ints([0, -1])])[0]
        #expect(y.shape == [1, 3, 1])
        expectError(.invalidAttribute) { _ = try runNode("Unsqueeze", opset: 11, inputs: [floatIota([3])]) }
        expectError(.invalidModel) { _ = try runNode("Unsqueeze", opset: 13, inputs: [floatIota([3])], attributes: ["axes": .ints([0])]) }
        expectError(.invalidInput) { _ = try runNode("Unsqueeze", opset: 13, inputs: [floatIota([3]), int64Vector([0, 0])]) }
        expectError(.invalidInput) { _ = try runNode("Unsqueeze", opset: 13, inputs: [floatIota([3]), int64Vector([2])]) }
        let scalar = try runNode("Unsqueeze", inputs: [int64Tensor([], [5]), int64Vector([0])])[0]
        #expect(scalar.shape == [1])
        #expect(int64Values(scalar) == [5])
    }

    // MARK: Identity / Shape / Size

    @Test func identityPassesTensorsAndSequences() throws {
        let strings = stringTensor([2], ["x", "y"])
        let y = try runNode("Identity", inputs: [strings])[0]
        #expect(y.strings == ["x", "y"])

        let node = Node(name: "id", opType: "Identity", inputs: ["s"], outputs: ["t"])
        let graph = Graph(
            nodes: [node], inputs: [ValueInfo(name: "s", type: .sequence(nil))],
            outputs: [ValueInfo(name: "t", type: nil)])
        let session = try InferenceSession(model: Model(opsetImports: ["": 16], graph: graph), options: .init(threads: 1))
        let items: [Value] = [.tensor(floatTensor([1], [1])), .tensor(floatTensor([2], [2, 3]))]
        let result = try session.run(values: ["s": .sequence(items)])
        guard case .sequence(let out)? = result["t"] else {
            Issue.record("expected a sequence, got \(String(describing: result["t"]?.typeDescription))")
            return
        }
        #expect(out.count == 2)
        #expect(out[1].tensor?.shape == [2])
    }

    @Test(arguments: [
        // (start, end, expected) for shape [2, 3, 4]
        (nil, nil, [2, 3, 4]),
        (-1, nil, [4]),
        (nil, -1, [2, 3]),
        (1, 2, [3]),
        (-10, 10, [2, 3, 4]),
        (2, 1, []),
    ] as [(Int?, Int?, [Int64])])
    func shapeWithStartEnd(start: Int?, end: Int?, expected: [Int64]) throws {
        var attributes: [String: Attribute] = [:]
        if let start { attributes["start"] = .int(start) }
        if let end { attributes["end"] = .int(end) }
        let y = try runNode("Shape", opset: 15, inputs: [floatIota([2, 3, 4])], attributes: attributes)[0]
        #expect(y.shape == [expected.count])
        #expect(int64Values(y) == expected)
    }

    @Test func shapeBeforeOpset15IgnoresStart() throws {
        let y = try runNode("Shape", opset: 13, inputs: [stringTensor([1, 2], ["a", "b"])], attributes: ["start": .int(1)])[0]
        #expect(int64Values(y) == [1, 2])
        let scalar = try runNode("Shape", inputs: [floatTensor([], [1])])[0]
        #expect(scalar.shape == [0])
    }

    @Test func size() throws {
        let y = try runNode("Size", inputs: [floatIota([2, 3, 4])])[0]
        #expect(y.shape == [])
        #expect(int64Values(y) == [24])
        #expect(int64Values(try runNode("Size", inputs: [try Tensor(zeros: .bool, shape: [3, 0])])[0]) == [0])
    }
}
