import Testing
@testable import ONNXRun

@Suite struct ControlFlowTests {
    /// A Loop whose body reads the graph input `x` from the outer scope; the only direct reader of
    /// `x` in the main graph runs before the Loop, so `x` must not be freed after that reader.
    func loopModel(bodyOp: String = "Add") -> Model {
        let body = Graph(
            name: "body",
            nodes: [
                Node(name: "acc", opType: bodyOp, inputs: ["sum_in", "x"], outputs: ["sum_out"]),
                Node(name: "keep", opType: "Identity", inputs: ["cond_in"], outputs: ["cond_out"]),
                Node(name: "copy", opType: "Identity", inputs: ["sum_out"], outputs: ["scan_out"]),
            ],
            inputs: [ValueInfo(name: "i", type: nil), ValueInfo(name: "cond_in", type: nil), ValueInfo(name: "sum_in", type: nil)],
            outputs: [ValueInfo(name: "cond_out", type: nil), ValueInfo(name: "sum_out", type: nil), ValueInfo(name: "scan_out", type: nil)])
        let graph = Graph(
            nodes: [
                Node(name: "pre", opType: "Add", inputs: ["start", "x"], outputs: ["initial"]),
                Node(name: "loop", opType: "Loop", inputs: ["trips", "", "initial"], outputs: ["total", "partials"], attributes: ["body": .graph(body)]),
            ],
            inputs: [ValueInfo(name: "x", type: nil), ValueInfo(name: "trips", type: nil), ValueInfo(name: "start", type: nil)],
            outputs: [ValueInfo(name: "total", type: nil), ValueInfo(name: "partials", type: nil)])
        return Model(opsetImports: ["": 17], graph: graph)
    }

    @Test func loopReadsOuterScopeAndStacksScanOutputs() throws {
        let session = try InferenceSession(model: loopModel(), options: .init(threads: 1))
        let out = try session.run(["x": floatTensor([2], [1, 10]), "trips": Tensor(scalar: Int64(3)), "start": floatTensor([2], [0, 0])])
        #expect(try out["total"]?.scalars(as: Float.self) == [4, 40])
        #expect(out["partials"]?.shape == [3, 2])
        #expect(try out["partials"]?.scalars(as: Float.self) == [2, 20, 3, 30, 4, 40])
    }

    @Test func zeroTripsReturnsTheInitialValue() throws {
        let session = try InferenceSession(model: loopModel(), options: .init(threads: 1))
        let out = try session.run(["x": floatTensor([2], [1, 10]), "trips": Tensor(scalar: Int64(0)), "start": floatTensor([2], [5, 6])])
        #expect(try out["total"]?.scalars(as: Float.self) == [6, 16])
        #expect(out["partials"]?.shape == [0])
    }

    @Test func unsupportedOperatorInsideABodyIsReportedBeforeRunning() throws {
        let error = #expect(throws: ONNXRunError.self) { try InferenceSession(model: loopModel(bodyOp: "NoSuchOp")) }
        #expect(error?.code == .unsupportedOperator)
        #expect(error?.message.contains("NoSuchOp") == true)
        #expect(error?.message.contains("Loop node \"loop\"") == true)
    }

    @Test func sequencesRoundTripThroughSplitAndConcat() throws {
        let x = floatTensor([3, 2], [1, 2, 3, 4, 5, 6])
        let split = try runNodeValues("SplitToSequence", inputs: [.tensor(x)], attributes: ["axis": .int(0), "keepdims": .int(0)])
        guard case .sequence(let items) = split[0] else {
            Issue.record("not a sequence")
            return
        }
        #expect(items.map { $0.tensor?.shape } == [[2], [2], [2]])
        let joined = try runNodeValues("ConcatFromSequence", inputs: [split[0]], attributes: ["axis": .int(1), "new_axis": .int(1)])
        #expect(joined[0].tensor?.shape == [2, 3])
        #expect(try joined[0].tensor?.scalars(as: Float.self) == [1, 3, 5, 2, 4, 6])
    }
}

/// Runs a one-node model on arbitrary values (sequences, optionals).
func runNodeValues(_ opType: String, opset: Int = 21, inputs: [Value], attributes: [String: Attribute] = [:], outputCount: Int = 1) throws -> [Value] {
    let names = inputs.indices.map { "x\($0)" }
    let outputs = (0..<outputCount).map { "y\($0)" }
    let graph = Graph(
        nodes: [Node(name: "node", opType: opType, inputs: names, outputs: outputs, attributes: attributes)],
        inputs: names.map { ValueInfo(name: $0, type: nil) }, outputs: outputs.map { ValueInfo(name: $0, type: nil) })
    let session = try InferenceSession(model: Model(opsetImports: ["": opset], graph: graph), options: .init(threads: 1))
    return try session.runOrdered(values: Dictionary(uniqueKeysWithValues: zip(names, inputs)))
}

/// `RunProfile` records every node of the main graph and of loop bodies, once per execution.
@Suite struct RunProfileTests {
    @Test func everyNodeIsTimedOncePerExecution() throws {
        let session = try InferenceSession(model: ControlFlowTests().loopModel(), options: .init(threads: 1))
        let profile = RunProfile()
        let feeds: [String: Value] = ["x": .tensor(floatTensor([2], [1, 10])), "trips": .tensor(Tensor(scalar: Int64(3))), "start": .tensor(floatTensor([2], [0, 0]))]
        for _ in 0..<2 { _ = try session.runOrdered(values: feeds, profile: profile) }
        let loop = profile.nodes.first { $0.opType == "Loop" }
        #expect(loop?.calls == 2)
        // The main graph's Add ran once per run, the body's Add 3 times per run.
        #expect(profile.nodes.first { $0.node == "pre" }?.calls == 2, "\(profile.nodes)")
        let body = profile.nodes.first { $0.node == "acc" }
        #expect(body?.calls == 6, "\(profile.nodes)")
        // Body time is part of the loop's time.
        #expect((loop?.nanoseconds ?? 0) >= (body?.nanoseconds ?? .max))
        #expect(profile.operators.first?.opType == "Loop")
        // Without a profile nothing is recorded.
        _ = try session.runOrdered(values: feeds)
        #expect(profile.nodes.first { $0.opType == "Loop" }?.calls == 2)
    }
}
