import CKernels
import Testing
@testable import ONNXRun

/// Conv followed by per-channel Mul/Add constants and by SiLU / HardSwish activations: the
/// optimizer folds and fuses them into one FusedConv, and the outputs stay those of the graph as loaded.
@Suite struct ConvEpilogueTests {
    /// x[1,2,5,5] → Conv(W[3,2,3,3], pads 1) → tail nodes reading "c".
    func model(_ tail: [Node], output: String, extra: [String: Tensor] = [:], opset: Int = 17) -> Model {
        let w = floatTensor([3, 2, 3, 3], (0..<54).map { Float(($0 * 7) % 11) / 10 - 0.5 })
        var initializers: [String: Tensor] = ["w": w]
        for (k, v) in extra { initializers[k] = v }
        let nodes = [Node(name: "", opType: "Conv", inputs: ["x", "w"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1])])] + tail
        let graph = Graph(name: "g", nodes: nodes, inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [.known(1), .known(2), .known(5), .known(5)]))],
                          outputs: [ValueInfo(name: output, type: nil)], initializers: initializers)
        return Model(irVersion: 8, opsetImports: ["": opset], graph: graph)
    }

    func expectSameOutputs(_ model: Model, output: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let x = floatTensor([1, 2, 5, 5], (0..<50).map { Float($0 % 9) - 4 })
        let loaded = try InferenceSession(model: model, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])[output]!
        let optimized = try InferenceSession(model: model, options: .init(threads: 1, optimizationLevel: 2)).run(["x": x])[output]!
        expectClose(optimized, loaded, rtol: 1e-5, atol: 1e-6, sourceLocation: sourceLocation)
    }

    @Test func perChannelMulAndAddFoldIntoTheConv() throws {
        let m = model([
            Node(name: "scale", opType: "Mul", inputs: ["c", "s"], outputs: ["m"]),
            Node(name: "shift", opType: "Add", inputs: ["a", "m"], outputs: ["y"]),
        ], output: "y", extra: ["s": floatTensor([3, 1, 1], [2, -1, 0.5]), "a": floatTensor([1, 3, 1, 1], [0.25, 1, -3])])
        let optimized = try Optimizer.optimize(m, level: 2)
        #expect(optimized.graph.nodes.map(\.opType) == ["Conv"])
        try expectSameOutputs(m, output: "y")
    }

    /// Conv → BatchNormalization → Mul → Add (Inception-v2's exported pattern): the scale and shift
    /// fold into the BatchNormalization first, so the Conv's weights are rewritten once.
    @Test func batchNormThenScaleAndShiftFoldIntoOneConv() throws {
        let m = model([
            Node(name: "bn", opType: "BatchNormalization", inputs: ["c", "gamma", "beta", "mean", "var"], outputs: ["b"]),
            Node(name: "scale", opType: "Mul", inputs: ["b", "s"], outputs: ["m"]),
            Node(name: "shift", opType: "Add", inputs: ["m", "a"], outputs: ["y"]),
        ], output: "y", extra: [
            "gamma": floatTensor([3], [1.5, 0.5, -2]), "beta": floatTensor([3], [0.1, -0.2, 0.3]),
            "mean": floatTensor([3], [0.2, -0.4, 1]), "var": floatTensor([3], [0.9, 2, 0.25]),
            "s": floatTensor([3, 1, 1], [2, -1, 0.5]), "a": floatTensor([1, 3, 1, 1], [0.25, 1, -3]),
        ])
        let optimized = try Optimizer.optimize(m, level: 2)
        #expect(optimized.graph.nodes.map(\.opType) == ["Conv"])
        try expectSameOutputs(m, output: "y")
    }

    @Test func aConstantThatIsNotPerChannelIsLeftAlone() throws {
        // [5] broadcasts along the width axis, not the channels: no folding.
        let m = model([Node(name: "scale", opType: "Mul", inputs: ["c", "s"], outputs: ["y"])], output: "y", extra: ["s": floatTensor([5], [1, 2, 3, 4, 5])])
        #expect(try Optimizer.optimize(m, level: 2).graph.nodes.map(\.opType) == ["Conv", "Mul"])
        try expectSameOutputs(m, output: "y")
    }

    @Test func siluWrittenAsSigmoidTimesInputFusesIntoTheConv() throws {
        let m = model([
            Node(name: "sig", opType: "Sigmoid", inputs: ["c"], outputs: ["g"]),
            Node(name: "mul", opType: "Mul", inputs: ["g", "c"], outputs: ["y"]),
        ], output: "y")
        let optimized = try Optimizer.optimize(m, level: 2)
        #expect(optimized.graph.nodes.map(\.opType) == ["FusedConv"])
        if case .string(let name)? = optimized.graph.nodes.first?.attributes["activation"] { #expect(name == "SiLU") } else { Issue.record("no activation") }
        try expectSameOutputs(m, output: "y")
    }

    @Test func hardSwishFusesIntoTheConv() throws {
        let m = model([Node(name: "hs", opType: "HardSwish", inputs: ["c"], outputs: ["y"])], output: "y")
        #expect(try Optimizer.optimize(m, level: 2).graph.nodes.map(\.opType) == ["FusedConv"])
        try expectSameOutputs(m, output: "y")
    }

    /// ResNet's residual connection: Conv → Add (or Sum) of a same-shaped tensor → Relu becomes
    /// one FusedConv with the tensor as input Z and Relu as activation; results unchanged, also
    /// in the portable form.
    @Test(arguments: ["Add", "Sum"])
    func residualAddAndReluFuseIntoTheConv(opType: String) throws {
        let w2 = floatTensor([3, 2, 1, 1], [0.5, -1, 0.25, 2, -0.75, 1])
        let m = model([
            Node(name: "shortcut", opType: "Conv", inputs: ["x", "w2"], outputs: ["r"]),
            Node(name: "sum", opType: opType, inputs: ["c", "r"], outputs: ["s"]),
            Node(name: "relu", opType: "Relu", inputs: ["s"], outputs: ["y"]),
        ], output: "y", extra: ["w2": w2])
        let optimized = try Optimizer.optimize(m, level: 2)
        #expect(optimized.graph.nodes.map(\.opType).sorted() == ["Conv", "FusedConv"])
        let fused = try #require(optimized.graph.nodes.first { $0.opType == "FusedConv" })
        #expect(fused.inputs.count == 4)
        if case .string(let name)? = fused.attributes["activation"] { #expect(name == "Relu") } else { Issue.record("no activation") }
        try expectSameOutputs(m, output: "y")
        let portable = try Optimizer.makePortable(optimized)
        #expect(portable.graph.nodes.allSatisfy { $0.domain.isEmpty })
        let x = floatTensor([1, 2, 5, 5], (0..<50).map { Float($0 % 9) - 4 })
        let a = try InferenceSession(model: portable, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
        let b = try InferenceSession(model: m, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
        expectClose(a, b, rtol: 1e-5, atol: 1e-6)
    }

    @Test func anAddThatBroadcastsIsNotFused() throws {
        // b [1,3,1,1] is a graph input (not a constant folded into the bias): it broadcasts, so no Z.
        var m = model([Node(name: "add", opType: "Add", inputs: ["c", "b"], outputs: ["y"])], output: "y")
        m.graph.inputs.append(ValueInfo(name: "b", type: .tensor(elementType: .float, shape: [.known(1), .known(3), .known(1), .known(1)])))
        #expect(try Optimizer.optimize(m, level: 2).graph.nodes.map(\.opType) == ["Conv", "Add"])
    }

    @Test func standaloneSiLUAndPortableFormComputeTheSame() throws {
        // SiLU after an Add has no product to fuse into: it stays one SiLU node, and --portable expands it.
        let m = model([
            Node(name: "add", opType: "Add", inputs: ["c", "c"], outputs: ["d"]),
            Node(name: "sig", opType: "Sigmoid", inputs: ["d"], outputs: ["g"]),
            Node(name: "mul", opType: "Mul", inputs: ["d", "g"], outputs: ["y"]),
        ], output: "y")
        let optimized = try Optimizer.optimize(m, level: 2)
        #expect(optimized.graph.nodes.contains { $0.opType == "SiLU" && $0.domain == FusedActivation.domain })
        try expectSameOutputs(m, output: "y")
        let portable = try Optimizer.makePortable(optimized)
        #expect(portable.graph.nodes.allSatisfy { $0.domain.isEmpty })
        let x = floatTensor([1, 2, 5, 5], (0..<50).map { Float($0 % 9) - 4 })
        let a = try InferenceSession(model: portable, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
        let b = try InferenceSession(model: m, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
        expectClose(a, b, rtol: 1e-5, atol: 1e-6)
    }
}

@Suite struct GemmActivationFusionTests {
    /// x[2,4] → Gemm(W[3,4] transB, C) → Relu → y.
    func model(bias: Tensor) -> Model {
        let nodes = [
            Node(name: "fc", opType: "Gemm", inputs: ["x", "w", "c"], outputs: ["g"], attributes: ["transB": .int(1)]),
            Node(name: "relu", opType: "Relu", inputs: ["g"], outputs: ["y"]),
        ]
        let w = floatTensor([3, 4], (0..<12).map { Float($0 % 5) - 2 })
        let graph = Graph(name: "g", nodes: nodes, inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [.known(2), .known(4)]))],
                          outputs: [ValueInfo(name: "y", type: nil)], initializers: ["w": w, "c": bias])
        return Model(irVersion: 8, opsetImports: ["": 13], graph: graph)
    }

    @Test func gemmWithVectorBiasAndReluBecomesOneFusedMatMul() throws {
        let x = floatTensor([2, 4], [1, -2, 3, 0.5, -1, 2, 0, 4])
        for bias in [floatTensor([3], [0.5, -20, 1]), floatTensor([1, 3], [0.5, -20, 1])] {
            let m = model(bias: bias)
            let optimized = try Optimizer.optimize(m, level: 2)
            #expect(optimized.graph.nodes.map(\.opType) == ["FusedMatMul"])
            let a = try InferenceSession(model: m, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
            let b = try InferenceSession(model: m, options: .init(threads: 1, optimizationLevel: 2)).run(["x": x])["y"]!
            expectClose(b, a, rtol: 1e-6, atol: 1e-6)
        }
        // A scalar bias broadcasts differently: left as Gemm + Relu.
        #expect(try Optimizer.optimize(model(bias: floatTensor([1], [2])), level: 2).graph.nodes.map(\.opType) == ["Gemm", "Relu"])
    }
}

/// ShuffleNet's channel shuffle in front of a depthwise convolution: the optimizer removes the
/// Reshape → Transpose → Reshape and the convolution reads the shuffled channels in place.
@Suite struct ChannelShuffleTests {
    /// x[2,6,7,9] → Relu → shuffle of 3 groups of 2 channels → depthwise Conv (3×3, pads 1, bias)
    /// → Relu. With `extraOutput` the transposed tensor is also a graph output.
    func model(extraOutput: Bool = false) -> Model {
        let shape = [2, 6, 7, 9]
        let nodes = [
            Node(name: "relu0", opType: "Relu", inputs: ["x"], outputs: ["r"]),
            Node(name: "split", opType: "Reshape", inputs: ["r", "split_shape"], outputs: ["s"]),
            Node(name: "swap", opType: "Transpose", inputs: ["s"], outputs: ["t"], attributes: ["perm": .ints([0, 2, 1, 3, 4])]),
            Node(name: "merge", opType: "Reshape", inputs: ["t", "merge_shape"], outputs: ["m"]),
            Node(name: "dw", opType: "Conv", inputs: ["m", "w", "b"], outputs: ["c"], attributes: ["group": .int(6), "pads": .ints([1, 1, 1, 1])]),
            Node(name: "relu1", opType: "Relu", inputs: ["c"], outputs: ["y"]),
        ]
        let initializers: [String: Tensor] = [
            "split_shape": try! Tensor(shape: [5], scalars: [Int64(2), 3, 2, 7, 9]),
            "merge_shape": try! Tensor(shape: [4], scalars: shape.map(Int64.init)),
            "w": floatTensor([6, 1, 3, 3], (0..<54).map { Float(($0 * 7) % 13) / 10 - 0.6 }),
            "b": floatTensor([6], [0.1, -0.2, 0.3, -0.4, 0.5, -0.6]),
        ]
        let graph = Graph(
            name: "g", nodes: nodes,
            inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: shape.map { .known($0) }))],
            outputs: [ValueInfo(name: "y", type: nil)] + (extraOutput ? [ValueInfo(name: "t", type: nil)] : []),
            initializers: initializers)
        return Model(irVersion: 8, opsetImports: ["": 17], graph: graph)
    }

    let x = floatTensor([2, 6, 7, 9], (0..<756).map { Float(($0 * 11) % 17) / 4 - 2 })

    @Test func shuffleBeforeDepthwiseConvIsReadInPlace() throws {
        let m = model()
        let optimized = try Optimizer.optimize(m, level: 2)
        #expect(optimized.graph.nodes.map(\.opType) == ["Relu", "FusedConv"])
        let fused = try #require(optimized.graph.nodes.first { $0.opType == "FusedConv" })
        if case .ints(let shuffle)? = fused.attributes["input_channel_shuffle"] { #expect(shuffle == [3, 2]) } else { Issue.record("no shuffle") }
        let loaded = try InferenceSession(model: m, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
        for threads in [1, 2] {
            let y = try InferenceSession(model: m, options: .init(threads: threads, optimizationLevel: 2)).run(["x": x])["y"]!
            expectClose(y, loaded, rtol: 1e-6, atol: 1e-6)
        }
        // The portable form writes the shuffle out again.
        let portable = try Optimizer.makePortable(optimized)
        #expect(portable.graph.nodes.allSatisfy { $0.domain.isEmpty })
        #expect(portable.graph.nodes.contains { $0.opType == "Transpose" })
        let y = try InferenceSession(model: portable, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
        expectClose(y, loaded, rtol: 1e-6, atol: 1e-6)
    }

    @Test func shuffleReadElsewhereIsKept() throws {
        let optimized = try Optimizer.optimize(model(extraOutput: true), level: 2)
        #expect(optimized.graph.nodes.contains { $0.opType == "Transpose" })
        #expect(!optimized.graph.nodes.contains { $0.attributes["input_channel_shuffle"] != nil })
    }

    /// A hand-written FusedConv asking for a shuffle on a convolution that is not depthwise is an
    /// error, not a wrong answer.
    @Test func shuffleOnAConvolutionThatIsNotDepthwiseIsRejected() throws {
        let node = Node(name: "bad", opType: "FusedConv", domain: FusedActivation.domain, inputs: ["x", "w"], outputs: ["y"],
                        attributes: ["input_channel_shuffle": .ints([3, 2])])
        let graph = Graph(
            name: "g", nodes: [node],
            inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [.known(2), .known(6), .known(7), .known(9)]))],
            outputs: [ValueInfo(name: "y", type: nil)], initializers: ["w": floatTensor([4, 6, 1, 1], (0..<24).map { Float($0) / 24 })])
        let m = Model(irVersion: 8, opsetImports: ["": 17, FusedActivation.domain: 1], graph: graph)
        #expect(throws: ONNXRunError.self) {
            _ = try InferenceSession(model: m, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])
        }
    }
}

/// `ChannelsLastOutputIntoConv`: a 1×1 Conv → Reshape [N, G, C/G, H, W] → Transpose [0, 1, 3, 4, 2]
/// (YOLOv5's heads) → Sigmoid becomes one FusedConv writing [N, G, H, W, C/G] with the Sigmoid
/// fused, with results equal to the unoptimized graph's on one and two threads (A's blocks of
/// 128 positions: 11×13 = 143 positions is one whole block and a ragged one), and in portable form.
@Suite struct ChannelsLastOutputTests {
    /// x[2, 40, 11, 13] → Conv 1×1 to 3·5 channels (bias) → Reshape [2, 3, 5, 11, 13] → Transpose →
    /// Sigmoid. With `extraOutput` the reshaped tensor is also a graph output.
    func model(extraOutput: Bool = false) -> Model {
        let nodes = [
            Node(name: "head", opType: "Conv", inputs: ["x", "w", "b"], outputs: ["c"], attributes: ["kernel_shape": .ints([1, 1])]),
            Node(name: "split", opType: "Reshape", inputs: ["c", "split_shape"], outputs: ["s"]),
            Node(name: "last", opType: "Transpose", inputs: ["s"], outputs: ["t"], attributes: ["perm": .ints([0, 1, 3, 4, 2])]),
            Node(name: "act", opType: "Sigmoid", inputs: ["t"], outputs: ["y"]),
        ]
        let initializers: [String: Tensor] = [
            "split_shape": try! Tensor(shape: [5], scalars: [Int64(2), 3, 5, 11, 13]),
            "w": floatTensor([15, 40, 1, 1], (0..<600).map { Float(($0 * 7) % 13) / 10 - 0.6 }),
            "b": floatTensor([15], (0..<15).map { Float($0) / 10 - 0.7 }),
        ]
        let graph = Graph(
            name: "g", nodes: nodes,
            inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [2, 40, 11, 13].map { .known($0) }))],
            outputs: [ValueInfo(name: "y", type: nil)] + (extraOutput ? [ValueInfo(name: "s", type: nil)] : []),
            initializers: initializers)
        return Model(irVersion: 8, opsetImports: ["": 17], graph: graph)
    }

    let x = floatTensor([2, 40, 11, 13], (0..<11440).map { Float(($0 * 11) % 17) / 8 - 1 })

    @Test func headWritesChannelsLastDirectly() throws {
        let m = model()
        let optimized = try Optimizer.optimize(m, level: 2)
        #expect(optimized.graph.nodes.map(\.opType) == ["FusedConv"])
        let fused = try #require(optimized.graph.nodes.first)
        if case .int(let groups)? = fused.attributes["output_channels_last"] { #expect(groups == 3) } else { Issue.record("not channels-last") }
        if case .string(let name)? = fused.attributes["activation"] { #expect(name == "Sigmoid") } else { Issue.record("no activation") }
        let loaded = try InferenceSession(model: m, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
        #expect(loaded.shape == [2, 3, 11, 13, 5])
        for threads in [1, 2] {
            let y = try InferenceSession(model: m, options: .init(threads: threads, optimizationLevel: 2)).run(["x": x])["y"]!
            #expect(y.shape == loaded.shape)
            expectClose(y, loaded, rtol: 1e-5, atol: 1e-6)
        }
        // Without AVX-512 the product runs on OpenBLAS with both operands transposed.
        ck_set_cpu_level(Int32(CK_LEVEL_AVX2))
        defer { ck_set_cpu_level(Int32(CK_LEVEL_AVX512)) }
        let fallback = try InferenceSession(model: m, options: .init(threads: 2, optimizationLevel: 2)).run(["x": x])["y"]!
        expectClose(fallback, loaded, rtol: 1e-5, atol: 1e-6)
        // The portable form writes the reshape and transpose out again.
        let portable = try Optimizer.makePortable(optimized)
        #expect(portable.graph.nodes.allSatisfy { $0.domain.isEmpty })
        #expect(portable.graph.nodes.contains { $0.opType == "Transpose" })
        let y = try InferenceSession(model: portable, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
        expectClose(y, loaded, rtol: 1e-6, atol: 1e-6)
    }

    @Test func reshapeReadElsewhereIsKept() throws {
        let optimized = try Optimizer.optimize(model(extraOutput: true), level: 2)
        #expect(optimized.graph.nodes.contains { $0.opType == "Transpose" })
        #expect(!optimized.graph.nodes.contains { $0.attributes["output_channels_last"] != nil })
    }

    /// A hand-written FusedConv asking for channels-last output of a 3×3 convolution is an error.
    @Test func channelsLastOutputOfAWindowIsRejected() throws {
        let node = Node(name: "bad", opType: "FusedConv", domain: FusedActivation.domain, inputs: ["x", "w"], outputs: ["y"],
                        attributes: ["output_channels_last": .int(3), "pads": .ints([1, 1, 1, 1])])
        let graph = Graph(
            name: "g", nodes: [node],
            inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [2, 40, 11, 13].map { .known($0) }))],
            outputs: [ValueInfo(name: "y", type: nil)], initializers: ["w": floatTensor([15, 40, 3, 3], (0..<5400).map { Float($0 % 9) / 9 })])
        let m = Model(irVersion: 8, opsetImports: ["": 17, FusedActivation.domain: 1], graph: graph)
        #expect(throws: ONNXRunError.self) {
            _ = try InferenceSession(model: m, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])
        }
    }
}
