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
