import Testing
@testable import ONNXRun

@Suite struct ShapeInferenceTests {
    func tensorInfo(_ name: String, _ type: DataType, _ dims: [Dimension]) -> ValueInfo {
        ValueInfo(name: name, type: .tensor(elementType: type, shape: dims))
    }

    /// The exporter's head-split chain: Shape → Gather → Unsqueeze → Concat → Reshape, then Transpose and MatMul.
    @Test func symbolicDimsFlowThroughAnExporterShapeChain() throws {
        let int64 = { (name: String, values: [Int64]) in (name, try! Tensor(shape: [values.count], scalars: values)) }
        let nodes = [
            Node(name: "shape", opType: "Shape", inputs: ["x"], outputs: ["s"]),
            Node(name: "g0", opType: "Gather", inputs: ["s", "i0"], outputs: ["b"], attributes: ["axis": .int(0)]),
            Node(name: "g1", opType: "Gather", inputs: ["s", "i1"], outputs: ["t"], attributes: ["axis": .int(0)]),
            Node(name: "u0", opType: "Unsqueeze", inputs: ["b", "axes"], outputs: ["b1"]),
            Node(name: "u1", opType: "Unsqueeze", inputs: ["t", "axes"], outputs: ["t1"]),
            Node(name: "cat", opType: "Concat", inputs: ["b1", "t1", "heads"], outputs: ["target"], attributes: ["axis": .int(0)]),
            Node(name: "reshape", opType: "Reshape", inputs: ["x", "target"], outputs: ["r"]),
            Node(name: "transpose", opType: "Transpose", inputs: ["r"], outputs: ["q"], attributes: ["perm": .ints([0, 2, 1, 3])]),
            Node(name: "kt", opType: "Transpose", inputs: ["r"], outputs: ["k"], attributes: ["perm": .ints([0, 2, 3, 1])]),
            Node(name: "scores", opType: "MatMul", inputs: ["q", "k"], outputs: ["y"]),
        ]
        let i0 = try Tensor(shape: [], scalars: [Int64(0)]), i1 = try Tensor(shape: [], scalars: [Int64(1)])
        let initializers = Dictionary(uniqueKeysWithValues: [int64("axes", [0]), int64("heads", [12, 64])] + [("i0", i0), ("i1", i1)])
        let graph = Graph(
            name: "g", nodes: nodes, inputs: [tensorInfo("x", .float, [.symbolic("batch"), .symbolic("seq"), .known(768)])],
            outputs: [ValueInfo(name: "y", type: nil)], initializers: initializers)
        let result = ShapeInference.infer(Model(opsetImports: ["": 14], graph: graph))
        #expect(result.issues.isEmpty, "\(result.issues)")
        #expect(result.shape(of: "r") == [.symbolic("batch"), .symbolic("seq"), .known(12), .known(64)])
        #expect(result.shape(of: "y") == [.symbolic("batch"), .known(12), .symbolic("seq"), .symbolic("seq")])
        #expect(result.elementType(of: "y") == .float)
        #expect(result.elementType(of: "s") == .int64)
    }

    @Test func convAndPoolingSizesFollowTheirAttributes() throws {
        let w = try Tensor(zeros: .float, shape: [16, 3, 3, 3])
        let nodes = [
            Node(name: "conv", opType: "Conv", inputs: ["x", "w"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1]), "strides": .ints([2, 2])]),
            Node(name: "pool", opType: "MaxPool", inputs: ["c"], outputs: ["p"], attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "ceil_mode": .int(1)]),
            Node(name: "gap", opType: "GlobalAveragePool", inputs: ["p"], outputs: ["g"]),
            Node(name: "flat", opType: "Flatten", inputs: ["g"], outputs: ["y"]),
        ]
        let graph = Graph(name: "g", nodes: nodes, inputs: [tensorInfo("x", .float, [.symbolic("N"), .known(3), .known(224), .known(224)])],
                          outputs: [ValueInfo(name: "y", type: nil)], initializers: ["w": w])
        let result = ShapeInference.infer(Model(opsetImports: ["": 13], graph: graph))
        #expect(result.shape(of: "c") == [.symbolic("N"), .known(16), .known(112), .known(112)])
        #expect(result.shape(of: "p") == [.symbolic("N"), .known(16), .known(56), .known(56)])
        #expect(result.shape(of: "y") == [.symbolic("N"), .known(16)])
    }

    @Test func inputShapeOverridesBindSymbols() throws {
        let graph = Graph(name: "g", nodes: [Node(name: "relu", opType: "Relu", inputs: ["x"], outputs: ["y"])],
                          inputs: [tensorInfo("x", .float, [.symbolic("batch"), .known(4)])], outputs: [ValueInfo(name: "y", type: nil)])
        let result = ShapeInference.infer(Model(opsetImports: ["": 13], graph: graph), inputShapes: ["x": [8, 4]])
        #expect(result.shape(of: "y") == [.known(8), .known(4)])
    }

    @Test func contradictionsNameTheNode() throws {
        let nodes = [Node(name: "mm", opType: "MatMul", inputs: ["a", "b"], outputs: ["y"])]
        let graph = Graph(name: "g", nodes: nodes, inputs: [tensorInfo("a", .float, [.known(2), .known(3)]), tensorInfo("b", .float, [.known(4), .known(2)])],
                          outputs: [ValueInfo(name: "y", type: nil)])
        let result = ShapeInference.infer(Model(opsetImports: ["": 13], graph: graph))
        #expect(result.issues.count == 1)
        #expect(result.issues.first?.subject == "MatMul node \"mm\"")
    }
}

@Suite struct RandomOperatorTests {
    @Test func seededUniformDrawsRepeatAndStayInRange() throws {
        let attributes: [String: Attribute] = ["shape": .ints([1000]), "low": .float(-2), "high": .float(3), "seed": .float(7)]
        let a = try Conversion.floats(runNode("RandomUniform", inputs: [], attributes: attributes)[0])
        let b = try Conversion.floats(runNode("RandomUniform", inputs: [], attributes: attributes)[0])
        #expect(a == b)
        #expect(a.allSatisfy { $0 >= -2 && $0 < 3 })
        let mean = a.reduce(0, +) / Float(a.count)
        #expect(abs(mean - 0.5) < 0.3, "mean \(mean) of U(-2, 3)")
    }

    @Test func normalDrawsHaveTheRequestedMomentsAndType() throws {
        let out = try runNode("RandomNormalLike", inputs: [Tensor(zeros: .double, shape: [100, 100])], attributes: ["mean": .float(5), "scale": .float(2), "seed": .float(1)])[0]
        #expect(out.dataType == .double && out.shape == [100, 100])
        let v = try Conversion.floats(out)
        let mean = v.reduce(0, +) / Float(v.count)
        let sd = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(v.count)).squareRoot()
        #expect(abs(mean - 5) < 0.1 && abs(sd - 2) < 0.1, "mean \(mean), sd \(sd)")
    }

    @Test func bernoulliWithCertainProbabilitiesIsDeterministic() throws {
        let p = floatTensor([6], [0, 1, 0, 1, 1, 0])
        let out = try runNode("Bernoulli", opset: 22, inputs: [p], attributes: ["dtype": .int(Int(DataType.int32.rawValue))])[0]
        #expect(out.dataType == .int32)
        #expect(try out.scalars(as: Int32.self) == [0, 1, 0, 1, 1, 0])
    }

    @Test func trainingDropoutKeepsOrZeroesAndScales() throws {
        let x = floatTensor([1000], (0..<1000).map { Float($0 + 1) })
        let out = try runNode("Dropout", opset: 13, inputs: [x, Tensor(scalar: Float(0.25)), Tensor(scalar: true)], outputCount: 2)
        let y = try Conversion.floats(out[0]), mask = try out[1].scalars(as: Bool.self)
        for i in 0..<1000 { #expect(mask[i] ? abs(y[i] - Float(i + 1) / 0.75) < 1e-3 : y[i] == 0) }
        let kept = mask.filter { $0 }.count
        #expect(kept > 650 && kept < 850, "kept \(kept) of 1000 at ratio 0.25")
    }
}

@Suite struct ShapeFoldingTests {
    /// Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) with x: [batch, 4, 6].
    func exporterReshape(fixedBatch: Bool) throws -> Model {
        let nodes = [
            Node(name: "shape", opType: "Shape", inputs: ["x"], outputs: ["s"]),
            Node(name: "gather0", opType: "Gather", inputs: ["s", "i0"], outputs: ["b"], attributes: ["axis": .int(0)]),
            Node(name: "gather1", opType: "Gather", inputs: ["s", "i1"], outputs: ["c"], attributes: ["axis": .int(0)]),
            Node(name: "unsqueeze0", opType: "Unsqueeze", inputs: ["b", "axes"], outputs: ["b1"]),
            Node(name: "unsqueeze1", opType: "Unsqueeze", inputs: ["c", "axes"], outputs: ["c1"]),
            Node(name: "concat", opType: "Concat", inputs: ["b1", "c1", "minus1"], outputs: ["target"], attributes: ["axis": .int(0)]),
            Node(name: "reshape", opType: "Reshape", inputs: ["x", "target"], outputs: ["y"]),
        ]
        let initializers: [String: Tensor] = [
            "i0": try Tensor(shape: [], scalars: [Int64(0)]), "i1": try Tensor(shape: [], scalars: [Int64(1)]),
            "axes": try Tensor(shape: [1], scalars: [Int64(0)]), "minus1": try Tensor(shape: [1], scalars: [Int64(-1)]),
        ]
        let x = ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [fixedBatch ? .known(2) : .symbolic("batch"), .known(4), .known(6)]))
        let graph = Graph(name: "g", nodes: nodes, inputs: [x], outputs: [ValueInfo(name: "y", type: nil)], initializers: initializers)
        return Model(irVersion: 8, opsetImports: ["": 14], graph: graph)
    }

    @Test func fixedDimsFoldTheWholeChainAndSymbolicOnesStay() throws {
        let fixed = try Optimizer.optimize(exporterReshape(fixedBatch: true), level: 1)
        #expect(fixed.graph.nodes.map(\.opType) == ["Reshape"])
        let symbolic = try Optimizer.optimize(exporterReshape(fixedBatch: false), level: 1)
        // Only the batch dimension is computed at run time; the fixed 4 is folded.
        #expect(!symbolic.graph.nodes.contains { $0.name == "gather1" })
        #expect(symbolic.graph.nodes.contains { $0.opType == "Shape" })
        let x = try Tensor(shape: [2, 4, 6], scalars: (0..<48).map { Float($0) })
        for model in [try exporterReshape(fixedBatch: true), try exporterReshape(fixedBatch: false)] {
            let expected = try InferenceSession(model: model, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
            let actual = try InferenceSession(model: model, options: .init(threads: 1, optimizationLevel: 1)).run(["x": x])["y"]!
            #expect(actual.shape == [2, 4, 6] && expected.shape == [2, 4, 6])
            #expect(try actual.scalars(as: Float.self) == expected.scalars(as: Float.self))
        }
    }
}
