import CKernels
import Foundation
import Testing
@testable import ONNXRun

/// A graph under construction for optimizer tests: nodes with generated names, constants as initializers.
struct GraphBuilder {
    var nodes: [Node] = []
    var initializers: [String: Tensor] = [:]

    /// Appends a standard node; returns its output name.
    @discardableResult
    mutating func op(_ type: String, _ inputs: [String], _ attributes: [String: Attribute] = [:], outputs: Int = 1) -> String {
        let name = "n\(nodes.count)_\(type)"
        nodes.append(Node(name: name, opType: type, inputs: inputs, outputs: (0..<outputs).map { "\(name)_\($0)" }, attributes: attributes))
        return "\(name)_0"
    }

    /// A rank-0 float constant.
    mutating func scalar(_ value: Float) -> String {
        let name = "c\(initializers.count)"
        initializers[name] = Tensor(scalar: value)
        return name
    }

    /// A constant tensor.
    mutating func constant(_ tensor: Tensor) -> String {
        let name = "c\(initializers.count)"
        initializers[name] = tensor
        return name
    }

    /// The model with float inputs of the given shapes.
    func model(inputs: [(String, [Int])], outputs: [String], opset: Int = 14) -> Model {
        let graph = Graph(
            nodes: nodes,
            inputs: inputs.map { ValueInfo(name: $0.0, type: .tensor(elementType: .float, shape: $0.1.map { .known($0) })) },
            outputs: outputs.map { ValueInfo(name: $0, type: nil) }, initializers: initializers)
        return Model(opsetImports: ["": opset], graph: graph)
    }
}

/// Runs `model` unoptimized and at level 2, expects the same outputs, and returns the optimized model.
@discardableResult
func expectSameResults(_ model: Model, _ feeds: [String: Tensor], rtol: Float = 1e-5, atol: Float = 1e-6,
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> Model {
    let names = model.graph.outputs.map(\.name)
    let reference = try InferenceSession(model: model, options: .init(threads: 1, optimizationLevel: 0)).run(feeds)
    let optimized = try InferenceSession(model: model, options: .init(threads: 1, optimizationLevel: 2)).run(feeds)
    for name in names { expectClose(optimized[name]!, reference[name]!, rtol: rtol, atol: atol, sourceLocation: sourceLocation) }
    return try Optimizer.optimize(model, level: 2)
}

/// The op types of a graph's nodes, in order.
func opTypes(_ model: Model) -> [String] { model.graph.nodes.map(\.opType) }

@Suite struct GeluFusionTests {
    /// BERT's erf form: Div √2, Erf, Add 1, Mul x, Mul 0.5; `extraReader` also reads the Erf output.
    func erfModel(extraReader: Bool = false, root: Float = 1.4142135) -> Model {
        var g = GraphBuilder()
        let erf = g.op("Erf", [g.op("Div", ["x", g.scalar(root)])])
        let shifted = g.op("Add", [erf, g.scalar(1)])
        let y = g.op("Mul", [g.op("Mul", ["x", shifted]), g.scalar(0.5)])
        var outputs = [y]
        if extraReader { outputs.append(g.op("Neg", [erf])) }
        return g.model(inputs: [("x", [3, 8])], outputs: outputs)
    }

    /// GPT-2's tanh form with x³ as Pow(x, 3) or Mul(Mul(x, x), x).
    func tanhModel(cubeByMul: Bool) -> Model {
        var g = GraphBuilder()
        let half = g.op("Mul", [g.scalar(0.5), "x"])
        let cube = cubeByMul ? g.op("Mul", [g.op("Mul", ["x", "x"]), "x"]) : g.op("Pow", ["x", g.scalar(3)])
        let inner = g.op("Add", ["x", g.op("Mul", [g.scalar(0.044715), cube])])
        let tanh = g.op("Tanh", [g.op("Mul", [g.scalar(0.7978846), inner])])
        let y = g.op("Mul", [half, g.op("Add", [g.scalar(1), tanh])])
        return g.model(inputs: [("x", [3, 8])], outputs: [y])
    }

    var x: Tensor { floatTensor([3, 8], sampleValues(24, seed: 3).map { $0 * 4 }) }

    @Test func erfFormBecomesOneGelu() throws {
        let optimized = try expectSameResults(erfModel(), ["x": x])
        #expect(opTypes(optimized) == ["Gelu"])
    }

    @Test(arguments: [false, true]) func tanhFormBecomesOneGelu(cubeByMul: Bool) throws {
        let optimized = try expectSameResults(tanhModel(cubeByMul: cubeByMul), ["x": x])
        #expect(opTypes(optimized) == ["Gelu"])
        #expect(optimized.graph.nodes[0].attributes["approximate"].map { if case .string("tanh") = $0 { true } else { false } } == true)
    }

    @Test func sharedIntermediateOrWrongConstantIsLeftAlone() throws {
        #expect(!opTypes(try Optimizer.optimize(erfModel(extraReader: true), level: 2)).contains("Gelu"))
        #expect(!opTypes(try Optimizer.optimize(erfModel(root: 1.5), level: 2)).contains("Gelu"))
    }

    @Test func geluValuesMatchTheFormula() throws {
        // Hand-computed GELU(1) = 0.5 · (1 + erf(1/√2)) = 0.8413447.
        var g = erfModel()
        g.graph.inputs = [ValueInfo(name: "x", type: nil)]
        let y = try InferenceSession(model: g, options: .init(threads: 1, optimizationLevel: 2)).run(["x": floatTensor([1], [1])])
        expectClose(y[g.graph.outputs[0].name]!, floatTensor([1], [0.8413447]), rtol: 1e-6, atol: 1e-7)
    }
}

@Suite struct LayerNormFusionTests {
    /// The exporter's decomposition; `secondSub` computes x − mean twice, `axes` of both ReduceMeans.
    func model(secondSub: Bool = false, axes: [Int] = [-1], withBeta: Bool = true, opset: Int = 14) -> Model {
        var g = GraphBuilder()
        func reduceMean(_ v: String) -> String {
            opset < 18 ? g.op("ReduceMean", [v], ["axes": .ints(axes), "keepdims": .int(1)])
                : g.op("ReduceMean", [v, g.constant(try! Tensor(shape: [axes.count], scalars: axes.map(Int64.init)))])
        }
        let mean = reduceMean("x")
        let centered = g.op("Sub", ["x", mean])
        let variance = reduceMean(g.op("Pow", [centered, g.scalar(2)]))
        let deviation = g.op("Sqrt", [g.op("Add", [variance, g.scalar(1e-5)])])
        let normalized = g.op("Div", [secondSub ? g.op("Sub", ["x", mean]) : centered, deviation])
        let gamma = g.constant(floatTensor([6], [1, 0.5, 2, -1, 1.5, 0.25]))
        var y = g.op("Mul", [normalized, gamma])
        if withBeta { y = g.op("Add", [y, g.constant(floatTensor([6], [0, 1, -1, 0.5, 0, 2]))]) }
        return g.model(inputs: [("x", [2, 3, 6])], outputs: [y], opset: opset)
    }

    var x: Tensor { floatTensor([2, 3, 6], sampleValues(36, seed: 5).map { $0 * 3 + 1 }) }

    /// The row kernel at every SIMD level against the decomposition computed in Double, for row
    /// lengths inside one vector, across a ragged last vector and BERT's 768, with and without β.
    @Test(arguments: [5, 16, 37, 768])
    func rowKernelMatchesTheDecompositionAtEveryLevel(cols: Int) {
        let rows = 3
        let x = sampleValues(rows * cols, seed: UInt64(cols)).map { $0 * 4 + 0.5 }
        let gamma = sampleValues(cols, seed: 7).map { $0 + 1 }, beta = sampleValues(cols, seed: 8)
        let original = ck_cpu_level()
        defer { ck_set_cpu_level(original) }
        for level in [CK_LEVEL_PORTABLE, CK_LEVEL_AVX2, CK_LEVEL_AVX512].map(Int32.init).filter({ $0 <= original }) {
            for withBeta in [false, true] {
                var y = [Float](repeating: .nan, count: rows * cols)
                ck_set_cpu_level(level)
                beta.withUnsafeBufferPointer { b in
                    ck_layer_norm_rows_f32(x, &y, rows, cols, gamma, withBeta ? b.baseAddress : nil, 1e-5)
                }
                for r in 0..<rows {
                    let row = x[r * cols..<(r + 1) * cols].map(Double.init)
                    let mean = row.reduce(0, +) / Double(cols)
                    let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
                    for c in 0..<cols {
                        var expected = (row[c] - mean) / (variance + 1e-5).squareRoot() * Double(gamma[c])
                        if withBeta { expected += Double(beta[c]) }
                        let actual = Double(y[r * cols + c])
                        #expect(abs(actual - expected) <= 1e-5 + 1e-5 * abs(expected), "level \(level) cols \(cols) row \(r) column \(c)")
                    }
                }
            }
        }
    }

    @Test(arguments: [false, true]) func decompositionBecomesOneLayerNorm(secondSub: Bool) throws {
        let optimized = try expectSameResults(model(secondSub: secondSub), ["x": x])
        #expect(opTypes(optimized) == ["LayerNormalization"])
        #expect(optimized.graph.nodes[0].domain == FusedActivation.domain)
    }

    @Test func withoutShift() throws {
        #expect(opTypes(try expectSameResults(model(withBeta: false), ["x": x])) == ["LayerNormalization"])
    }

    @Test func opset18AxesInput() throws {
        #expect(opTypes(try expectSameResults(model(opset: 18), ["x": x])) == ["LayerNormalization"])
    }

    @Test func otherAxesAreLeftAlone() throws {
        #expect(!opTypes(try Optimizer.optimize(model(axes: [1]), level: 2)).contains("LayerNormalization"))
        #expect(!opTypes(try Optimizer.optimize(model(axes: [1], opset: 18), level: 2)).contains("LayerNormalization"))
    }
}

@Suite struct AttentionFusionTests {
    /// BERT: MatMul(Q, Kᵀ given as [B, H, D, S]), Div √D, Add mask, Softmax, MatMul V.
    func bertModel() -> Model {
        var g = GraphBuilder()
        let scores = g.op("Div", [g.op("MatMul", ["q", "kt"]), g.scalar(2)])
        let probs = g.op("Softmax", [g.op("Add", [scores, "mask"])], ["axis": .int(-1)])
        let y = g.op("MatMul", [probs, "v"])
        return g.model(inputs: [("q", [2, 3, 5, 4]), ("kt", [2, 3, 4, 7]), ("v", [2, 3, 7, 4]), ("mask", [2, 1, 1, 7])], outputs: [y])
    }

    /// GPT-2: Transpose(K) swapping the last axes, Mul by a scale, Where(causal, scores, min).
    func gptModel() -> Model {
        var g = GraphBuilder()
        let keys = g.op("Transpose", ["k"], ["perm": .ints([0, 1, 3, 2])])
        let scores = g.op("Mul", [g.op("MatMul", ["q", keys]), g.scalar(0.5)])
        var causal = [Bool]()
        for i in 0..<5 { for j in 0..<5 { causal.append(j <= i) } }
        let mask = g.constant(try! Tensor(shape: [1, 1, 5, 5], scalars: causal))
        let probs = g.op("Softmax", [g.op("Where", [mask, scores, g.scalar(-Float.greatestFiniteMagnitude)])], ["axis": .int(-1)])
        let y = g.op("MatMul", [probs, "v"])
        return g.model(inputs: [("q", [2, 3, 5, 4]), ("k", [2, 3, 5, 4]), ("v", [2, 3, 5, 6])], outputs: [y], opset: 17)
    }

    @Test func bertAttentionBecomesOneOp() throws {
        var maskValues = [Float](repeating: 0, count: 14)
        for j in 5..<7 { maskValues[7 + j] = -10000 }
        let feeds = ["q": sampleTensor([2, 3, 5, 4], seed: 1), "kt": sampleTensor([2, 3, 4, 7], seed: 2),
                     "v": sampleTensor([2, 3, 7, 4], seed: 3), "mask": floatTensor([2, 1, 1, 7], maskValues)]
        let optimized = try expectSameResults(bertModel(), feeds)
        #expect(opTypes(optimized) == ["ScaledDotProductAttention"])
    }

    @Test func gptAttentionAbsorbsTheKeyTranspose() throws {
        let feeds = ["q": sampleTensor([2, 3, 5, 4], seed: 4), "k": sampleTensor([2, 3, 5, 4], seed: 5), "v": sampleTensor([2, 3, 5, 6], seed: 6)]
        let optimized = try expectSameResults(gptModel(), feeds)
        #expect(opTypes(optimized) == ["ScaledDotProductAttention"])
        #expect(optimized.graph.nodes[0].inputs[1] == "k")
    }

    @Test func broadcastBatchRunsTheExpansion() throws {
        // Operands of different ranks are outside the fast path and take the standard-operator expansion.
        let node = Node(name: "sdpa", opType: "ScaledDotProductAttention", domain: FusedActivation.domain,
                        inputs: ["q", "kt", "v"], outputs: ["y"], attributes: ["scale": .float(2), "scale_operation": .string("Div")])
        let graph = Graph(nodes: [node], inputs: ["q", "kt", "v"].map { ValueInfo(name: $0, type: nil) }, outputs: [ValueInfo(name: "y", type: nil)])
        let model = Model(opsetImports: ["": 17, FusedActivation.domain: 1], graph: graph)
        // Q = [[1, 0]], Kᵀ = I (twice), V = [[1], [3]]: scores [0.5, 0], softmax → [p, 1 − p], y = p + 3(1 − p).
        let feeds = ["q": floatTensor([1, 2], [1, 0]), "kt": floatTensor([2, 2, 2], [1, 0, 0, 1, 1, 0, 0, 1]), "v": floatTensor([2, 1], [1, 3])]
        let y = try InferenceSession(model: model, options: .init(threads: 1, optimizationLevel: 0)).run(feeds)["y"]!
        let p = Float(1 / (1 + Foundation.exp(-0.5)))
        expectClose(y, floatTensor([2, 1, 1], [p + 3 * (1 - p), p + 3 * (1 - p)]), rtol: 1e-6, atol: 1e-6)
    }
}

@Suite struct MatMulFusionTests {
    /// y = Relu(Add(bias, MatMul(x, Transpose(w)))) with w given as [N, K].
    func model() -> Model {
        var g = GraphBuilder()
        let w = g.op("Transpose", ["w"], ["perm": .ints([1, 0])])
        let bias = g.constant(floatTensor([5], [0.1, -0.2, 0.3, 0, 0.5]))
        let y = g.op("Relu", [g.op("Add", [bias, g.op("MatMul", ["x", w])])])
        return g.model(inputs: [("x", [2, 3, 4]), ("w", [5, 4])], outputs: [y])
    }

    @Test func matMulBiasActivationAndTransposeBecomeOneOp() throws {
        let optimized = try expectSameResults(model(), ["x": sampleTensor([2, 3, 4], seed: 7), "w": sampleTensor([5, 4], seed: 8)])
        #expect(opTypes(optimized) == ["FusedMatMul"])
        let node = optimized.graph.nodes[0]
        #expect(node.inputs[1] == "w")
        #expect(node.attributes["perm_b"] != nil && node.attributes["activation"] != nil)
    }

    @Test func integerMatMulWithFoldedTransposeRunsTheExpansion() throws {
        var g = GraphBuilder()
        let y = g.op("MatMul", ["x", g.op("Transpose", ["w"], ["perm": .ints([1, 0])])])
        var model = g.model(inputs: [], outputs: [y])
        model.graph.inputs = [ValueInfo(name: "x", type: nil), ValueInfo(name: "w", type: nil)]
        let x = try Tensor(shape: [1, 2], scalars: [Int32(2), 3]), w = try Tensor(shape: [2, 2], scalars: [Int32(1), 10, 100, 1000])
        let optimized = try Optimizer.optimize(model, level: 2)
        #expect(opTypes(optimized) == ["FusedMatMul"])
        let result = try InferenceSession(model: model, options: .init(threads: 1, optimizationLevel: 2)).run(["x": x, "w": w])[y]!
        // x · wᵀ = [2·1 + 3·10, 2·100 + 3·1000]
        #expect(try result.scalars(as: Int32.self) == [32, 3200])
    }

    @Test func gemmOperandTransposeFlipsTheFlag() throws {
        var g = GraphBuilder()
        let y = g.op("Gemm", [g.op("Transpose", ["a"], ["perm": .ints([1, 0])]), "b"], ["transA": .int(0)])
        let optimized = try expectSameResults(g.model(inputs: [("a", [4, 3]), ("b", [4, 2])], outputs: [y]),
                                              ["a": sampleTensor([4, 3], seed: 9), "b": sampleTensor([4, 2], seed: 10)])
        #expect(opTypes(optimized) == ["Gemm"])
    }
}

@Suite struct PortableFusionTests {
    /// Every fused op written back as standard operators computes the same, at old and new opsets.
    @Test(arguments: [14, 20]) func portableFormsComputeTheSame(opset: Int) throws {
        let models: [(Model, [String: Tensor])] = [
            (GeluFusionTests().erfModel(), ["x": GeluFusionTests().x]),
            (GeluFusionTests().tanhModel(cubeByMul: false), ["x": GeluFusionTests().x]),
            (LayerNormFusionTests().model(opset: opset), ["x": LayerNormFusionTests().x]),
            (MatMulFusionTests().model(), ["x": sampleTensor([2, 3, 4], seed: 7), "w": sampleTensor([5, 4], seed: 8)]),
            (AttentionFusionTests().gptModel(), ["q": sampleTensor([2, 3, 5, 4], seed: 4), "k": sampleTensor([2, 3, 5, 4], seed: 5), "v": sampleTensor([2, 3, 5, 6], seed: 6)]),
        ]
        for (original, feeds) in models {
            var model = original
            model.opsetImports[""] = opset
            let optimized = try Optimizer.optimize(model, level: 2)
            #expect(optimized.graph.nodes.contains { $0.domain == FusedActivation.domain })
            let portable = try Optimizer.makePortable(optimized)
            #expect(!portable.graph.nodes.contains { $0.domain == FusedActivation.domain })
            let reloaded = try ModelLoader.load(bytes: try ModelWriter.encode(Optimizer.normalizedForWriting(portable)))
            let name = model.graph.outputs[0].name
            let expected = try InferenceSession(model: model, options: .init(threads: 1, optimizationLevel: 0)).run(feeds)[name]!
            let actual = try InferenceSession(model: reloaded, options: .init(threads: 1, optimizationLevel: 0)).run(feeds)[name]!
            expectClose(actual, expected, rtol: 1e-5, atol: 1e-6)
        }
    }
}

@Suite struct CleanupPassTests {
    @Test func castToTheSameTypeAndReshapeChainsAndUnsqueezeSqueezeGo() throws {
        var g = GraphBuilder()
        let cast = g.op("Cast", ["x"], ["to": .int(Int(DataType.float.rawValue))])
        let reshaped = g.op("Reshape", [g.op("Reshape", [cast, g.constant(try Tensor(shape: [2], scalars: [Int64(4), 3]))]),
                                        g.constant(try Tensor(shape: [2], scalars: [Int64(2), -1]))])
        let axes = g.constant(try Tensor(shape: [1], scalars: [Int64(0)]))
        let y = g.op("Squeeze", [g.op("Unsqueeze", [reshaped, axes]), axes])
        let optimized = try expectSameResults(g.model(inputs: [("x", [3, 4])], outputs: [y]), ["x": sampleTensor([3, 4], seed: 11)], rtol: 0, atol: 0)
        // The Squeeze's output is the graph output, so an Identity keeps its name.
        #expect(opTypes(optimized) == ["Reshape", "Identity"])
        #expect(optimized.graph.nodes[0].inputs[0] == "x")
    }

    @Test func castToAnotherTypeAndReshapeWithZeroStay() throws {
        var g = GraphBuilder()
        let cast = g.op("Cast", ["x"], ["to": .int(Int(DataType.double.rawValue))])
        let y = g.op("Reshape", [g.op("Reshape", [cast, g.constant(try Tensor(shape: [2], scalars: [Int64(4), 3]))]),
                                 g.constant(try Tensor(shape: [2], scalars: [Int64(0), -1]))])
        let optimized = try Optimizer.optimize(g.model(inputs: [("x", [3, 4])], outputs: [y]), level: 1)
        #expect(opTypes(optimized) == ["Cast", "Reshape", "Reshape"])
    }

    @Test func identicalNodesAreMergedButRandomOnesAreNot() throws {
        var g = GraphBuilder()
        let a = g.op("Sigmoid", ["x"]), b = g.op("Sigmoid", ["x"])
        let sum = g.op("Add", [g.op("Exp", [a]), g.op("Exp", [b])])
        let model = g.model(inputs: [("x", [2, 3])], outputs: [sum])
        #expect(opTypes(try Optimizer.optimize(model, level: 1)).sorted() == ["Add", "Exp", "Sigmoid"])
        let r1 = g.op("RandomUniformLike", ["x"], ["seed": .float(1)]), r2 = g.op("RandomUniformLike", ["x"], ["seed": .float(1)])
        let random = try Optimizer.optimize(g.model(inputs: [("x", [2, 3])], outputs: [r1, r2]), level: 1)
        #expect(opTypes(random) == ["RandomUniformLike", "RandomUniformLike"])
        let x = sampleTensor([2, 3], seed: 12)
        let reference = try InferenceSession(model: model, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])[sum]!
        let merged = try InferenceSession(model: model, options: .init(threads: 1, optimizationLevel: 1)).run(["x": x])[sum]!
        expectClose(merged, reference, rtol: 0, atol: 0)
    }
}
