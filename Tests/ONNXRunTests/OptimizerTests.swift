import Testing
@testable import ONNXRun

@Suite struct OptimizerTests {
    /// y = Relu(Identity(x) + (a + b)), plus a dead branch; a, b constants.
    func model(irVersion: Int = 8, bIsInput: Bool = false) -> Model {
        let nodes = [
            Node(name: "fold", opType: "Add", inputs: ["a", "b"], outputs: ["ab"]),
            Node(name: "id", opType: "Identity", inputs: ["x"], outputs: ["x2"]),
            Node(name: "add", opType: "Add", inputs: ["x2", "ab"], outputs: ["s"]),
            Node(name: "relu", opType: "Relu", inputs: ["s"], outputs: ["y"]),
            Node(name: "dead", opType: "Sigmoid", inputs: ["x"], outputs: ["unused"]),
        ]
        var inputs = [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [.known(3)]))]
        if bIsInput { inputs.append(ValueInfo(name: "b", type: .tensor(elementType: .float, shape: [.known(3)]))) }
        let graph = Graph(
            nodes: nodes, inputs: inputs, outputs: [ValueInfo(name: "y", type: nil)],
            initializers: ["a": floatTensor([3], [1, 2, 3]), "b": floatTensor([3], [-10, 0, 10]), "junk": floatTensor([1], [0])])
        return Model(irVersion: irVersion, opsetImports: ["": 17], graph: graph)
    }

    @Test func foldsConstantsAndRemovesNoOpsAndDeadNodes() throws {
        let optimized = try Optimizer.optimize(model(), level: 2)
        #expect(optimized.graph.nodes.map(\.name) == ["add", "relu"])
        #expect(optimized.graph.nodes[0].inputs == ["x", "ab"])
        #expect(optimized.graph.initializers.keys.sorted() == ["ab"])
        #expect(try optimized.graph.initializers["ab"]?.scalars(as: Float.self) == [-9, 2, 13])
    }

    /// Inference Dropout is removed when its mask output is absent or unread, and kept when a node
    /// or the graph reads the mask.
    @Test(arguments: [(["y", "mask"], "none", true), (["y"], "none", true), (["y", "mask"], "node", false), (["y", "mask"], "output", false)])
    func inferenceDropoutGoesUnlessItsMaskIsRead(outputs: [String], maskReader: String, removed: Bool) throws {
        var nodes = [Node(name: "drop", opType: "Dropout", inputs: ["x"], outputs: outputs, attributes: ["ratio": .float(0.5)]),
                     Node(name: "relu", opType: "Relu", inputs: ["y"], outputs: ["r"])]
        var graphOutputs = [ValueInfo(name: "r", type: nil)]
        if maskReader == "node" { nodes.append(Node(name: "cast", opType: "Cast", inputs: ["mask"], outputs: ["m"], attributes: ["to": .int(1)])) }
        if maskReader == "node" { graphOutputs.append(ValueInfo(name: "m", type: nil)) }
        if maskReader == "output" { graphOutputs.append(ValueInfo(name: "mask", type: nil)) }
        let graph = Graph(name: "g", nodes: nodes, inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [.known(3)]))],
                          outputs: graphOutputs)
        let model = Model(irVersion: 8, opsetImports: ["": 13], graph: graph)
        let optimized = try Optimizer.optimize(model, level: 1)
        #expect(optimized.graph.nodes.contains { $0.opType == "Dropout" } == !removed)
        let x = floatTensor([3], [-1, 2, 3])
        let result = try InferenceSession(model: model, options: .init(threads: 1)).run(["x": x])
        #expect(try result["r"]?.scalars(as: Float.self) == [0, 2, 3])
    }

    @Test func levelZeroKeepsTheGraph() throws {
        let loaded = model()
        let optimized = try Optimizer.optimize(loaded, level: 0)
        #expect(optimized.graph.nodes.count == loaded.graph.nodes.count)
    }

    @Test func overridableInitializerIsNotFolded() throws {
        // From IR version 4 on, an initializer that is also a graph input is only a default.
        let optimized = try Optimizer.optimize(model(bIsInput: true), level: 2)
        #expect(optimized.graph.nodes.contains { $0.name == "fold" })
        // Before IR version 4 it is a constant.
        let old = try Optimizer.optimize(model(irVersion: 3, bIsInput: true), level: 2)
        #expect(!old.graph.nodes.contains { $0.name == "fold" })
    }

    @Test func levelsComputeTheSame() throws {
        let x = floatTensor([3], [5, -5, 0.5])
        var results: [[Float]] = []
        for level in [0, 2] {
            let session = try InferenceSession(model: model(), options: .init(threads: 1, optimizationLevel: level))
            results.append(try session.run(["x": x])["y"]!.scalars(as: Float.self))
        }
        #expect(results[0] == [0, 0, 13.5])
        #expect(results[0] == results[1])
    }
}

@Suite struct ConvFusionTests {
    /// x → Conv(W, B) → BatchNormalization → Relu → y, with `extraReader` also reading the conv output.
    func model(extraReader: Bool = false) -> Model {
        var nodes = [
            Node(name: "conv", opType: "Conv", inputs: ["x", "w", "b"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1])]),
            Node(name: "bn", opType: "BatchNormalization", inputs: ["c", "gamma", "beta", "mean", "var"], outputs: ["n"], attributes: ["epsilon": .float(1e-3)]),
            Node(name: "relu", opType: "Relu", inputs: ["n"], outputs: ["y"]),
        ]
        var outputs = [ValueInfo(name: "y", type: nil)]
        if extraReader {
            nodes.append(Node(name: "side", opType: "Sigmoid", inputs: ["c"], outputs: ["s"]))
            outputs.append(ValueInfo(name: "s", type: nil))
        }
        let w: [Float] = (0..<54).map { (i: Int) -> Float in Float((i * 7) % 11) / 10 - 0.5 }
        let graph = Graph(
            nodes: nodes, inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [.known(1), .known(2), .known(4), .known(4)]))],
            outputs: outputs,
            initializers: [
                "w": floatTensor([3, 2, 3, 3], w), "b": floatTensor([3], [0.1, -0.2, 0.3]),
                "gamma": floatTensor([3], [1.5, 0.5, -1]), "beta": floatTensor([3], [0, 1, -1]),
                "mean": floatTensor([3], [0.2, -0.1, 0]), "var": floatTensor([3], [1, 2, 0.5]),
            ])
        return Model(opsetImports: ["": 15], graph: graph)
    }

    @Test func batchNormFoldsAndReluFuses() throws {
        let optimized = try Optimizer.optimize(model(), level: 2)
        #expect(optimized.graph.nodes.map(\.opType) == ["FusedConv"])
        #expect(optimized.graph.nodes[0].domain == FusedActivation.domain)
        let x = floatTensor([1, 2, 4, 4], (0..<32).map { (i: Int) -> Float in Float(i % 5) - 2 })
        let reference = try InferenceSession(model: model(), options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
        let fused = try InferenceSession(model: model(), options: .init(threads: 1, optimizationLevel: 2)).run(["x": x])["y"]!
        expectClose(fused, reference, rtol: 1e-5, atol: 1e-5)
        let values = try reference.scalars(as: Float.self)
        #expect(values.contains(0) && values.contains { $0 > 0 })
    }

    @Test func sharedConvOutputIsNotFused() throws {
        let optimized = try Optimizer.optimize(model(extraReader: true), level: 2)
        #expect(optimized.graph.nodes.map(\.opType).sorted() == ["BatchNormalization", "Conv", "Relu", "Sigmoid"])
    }
}

@Suite struct ScaleShiftFoldingTests {
    /// x → Conv → Mul(s) → Add(b) → Relu → BatchNormalization → Mul(scalar) → Add(b2) → y, the
    /// constants shaped [3, 1, 1], [1, 3, 1, 1], [] and [3, 1, 1].
    func model() -> Model {
        let nodes = [
            Node(name: "conv", opType: "Conv", inputs: ["x", "w"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1])]),
            Node(name: "mul", opType: "Mul", inputs: ["s", "c"], outputs: ["m"]),
            Node(name: "add", opType: "Add", inputs: ["m", "b"], outputs: ["a"]),
            Node(name: "relu", opType: "Relu", inputs: ["a"], outputs: ["r"]),
            Node(name: "bn", opType: "BatchNormalization", inputs: ["r", "gamma", "beta", "mean", "var"], outputs: ["n"]),
            Node(name: "mul2", opType: "Mul", inputs: ["n", "k"], outputs: ["m2"]),
            Node(name: "add2", opType: "Add", inputs: ["m2", "b2"], outputs: ["y"]),
        ]
        let graph = Graph(
            nodes: nodes, inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [.known(1), .known(2), .known(4), .known(4)]))],
            outputs: [ValueInfo(name: "y", type: nil)],
            initializers: [
                "w": sampleTensor([3, 2, 3, 3], seed: 60), "s": floatTensor([3, 1, 1], [2, -0.5, 3]),
                "b": floatTensor([1, 3, 1, 1], [0.1, 0.2, -0.3]), "k": floatTensor([], [1.5]),
                "b2": floatTensor([3, 1, 1], [1, -1, 0.5]),
                "gamma": floatTensor([3], [1.5, 0.5, -1]), "beta": floatTensor([3], [0, 1, -1]),
                "mean": floatTensor([3], [0.2, -0.1, 0]), "var": floatTensor([3], [1, 2, 0.5]),
            ])
        return Model(opsetImports: ["": 15], graph: graph)
    }

    @Test func mulAndAddFoldIntoConvAndBatchNorm() throws {
        let optimized = try Optimizer.optimize(model(), level: 2)
        #expect(optimized.graph.nodes.map(\.opType) == ["FusedConv", "BatchNormalization"])
        let x = sampleTensor([1, 2, 4, 4], seed: 61)
        let reference = try InferenceSession(model: model(), options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
        let folded = try InferenceSession(model: model(), options: .init(threads: 1, optimizationLevel: 2)).run(["x": x])["y"]!
        expectClose(folded, reference, rtol: 1e-5, atol: 1e-5)
    }

    @Test func constantThatWouldChangeTheShapeStays() throws {
        // BatchNormalization of a rank-3 input times a [3, 1, 1] constant broadcasts to [3, 3, 5].
        let graph = Graph(
            nodes: [
                Node(name: "bn", opType: "BatchNormalization", inputs: ["x", "gamma", "beta", "mean", "var"], outputs: ["n"]),
                Node(name: "mul", opType: "Mul", inputs: ["n", "s"], outputs: ["y"]),
            ],
            inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [.known(1), .known(3), .known(5)]))],
            outputs: [ValueInfo(name: "y", type: nil)],
            initializers: [
                "s": floatTensor([3, 1, 1], [2, -0.5, 3]),
                "gamma": floatTensor([3], [1.5, 0.5, -1]), "beta": floatTensor([3], [0, 1, -1]),
                "mean": floatTensor([3], [0.2, -0.1, 0]), "var": floatTensor([3], [1, 2, 0.5]),
            ])
        let optimized = try Optimizer.optimize(Model(opsetImports: ["": 15], graph: graph), level: 2)
        #expect(optimized.graph.nodes.map(\.opType) == ["BatchNormalization", "Mul"])
    }
}

@Suite struct PortableModelTests {
    /// optimize → portable → write → load gives a standard-domain model computing the same outputs.
    @Test func portableRoundTripComputesTheSame() throws {
        let directory = generatedRoot.appendingPathComponent("zoo/zoo_squeezenet")
        let original = try ModelLoader.load(contentsOf: directory.appendingPathComponent("model.onnx"))
        let optimized = try Optimizer.optimize(original, level: 2)
        #expect(optimized.graph.nodes.contains { $0.domain == FusedActivation.domain })
        let portable = try Optimizer.makePortable(optimized)
        #expect(!portable.graph.nodes.contains { $0.domain == FusedActivation.domain })
        #expect(portable.opsetImports[FusedActivation.domain] == nil)
        let reloaded = try ModelLoader.load(bytes: try ModelWriter.encode(Optimizer.normalizedForWriting(portable)))
        let input = try TestDataProto.read(contentsOf: directory.appendingPathComponent("test_data_set_0/input_0.pb"), as: .tensor).value
        let name = original.graph.feedInputs[0].name
        let expected = try InferenceSession(model: original, options: .init(threads: 1, optimizationLevel: 0)).runOrdered(values: [name: input])[0]
        let actual = try InferenceSession(model: reloaded, options: .init(threads: 1, optimizationLevel: 0)).runOrdered(values: [name: input])[0]
        #expect(TestCaseRunner.compare(actual, expected, tolerance: .init(rtol: 1e-4, atol: 1e-6)) == nil)
    }
}

@Suite struct RandomFoldingTests {
    @Test func trainingDropoutOfConstantsIsNotFoldedIntoOneDraw() throws {
        let node = Node(name: "drop", opType: "Dropout", inputs: ["x", "ratio", "training"], outputs: ["y"])
        let graph = Graph(
            name: "g", nodes: [node], inputs: [], outputs: [ValueInfo(name: "y", type: nil)],
            initializers: ["x": floatTensor([256], [Float](repeating: 1, count: 256)), "ratio": floatTensor([], [0.5]),
                           "training": try Tensor(shape: [], scalars: [true])])
        let model = Model(irVersion: 8, opsetImports: ["": 13], graph: graph)
        #expect(try Optimizer.optimize(model, level: 2).graph.nodes.map(\.opType) == ["Dropout"])
        // Unseeded: two runs of one session draw different masks.
        let session = try InferenceSession(model: model, options: .init(threads: 1))
        let first = try session.run([:])["y"]!.scalars(as: Float.self), second = try session.run([:])["y"]!.scalars(as: Float.self)
        #expect(first != second)
    }
}
