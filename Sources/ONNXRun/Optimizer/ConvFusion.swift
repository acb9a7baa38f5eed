import Foundation

/// How many nodes (including subgraphs that capture it) read each value, plus the graph outputs.
struct ValueUses {
    private var counts: [String: Int] = [:]
    private let outputs: Set<String>

    init(_ graph: Graph) {
        outputs = Set(graph.outputs.map(\.name))
        for node in graph.nodes {
            for input in node.inputs where !input.isEmpty { counts[input, default: 0] += 1 }
            for name in ExecutionPlan.outerReferences(of: node) { counts[name, default: 0] += 1 }
        }
    }

    /// True when exactly one node reads `name` and it is not a graph output.
    func hasSingleConsumer(_ name: String) -> Bool { counts[name] == 1 && !outputs.contains(name) }
}

extension Graph {
    /// The index of the node producing each named value.
    var producerIndices: [String: Int] {
        var producer: [String: Int] = [:]
        for (i, node) in nodes.enumerated() { for o in node.outputs where !o.isEmpty { producer[o] = i } }
        return producer
    }

    /// Removes the nodes at `indices`, keeping the order of the rest.
    mutating func removeNodes(at indices: Set<Int>) {
        nodes = nodes.enumerated().filter { !indices.contains($0.offset) }.map(\.element)
    }
}

extension Node {
    /// True for an operator of the default ONNX domain with this type.
    func isStandard(_ opType: String) -> Bool { self.opType == opType && (domain.isEmpty || domain == "ai.onnx") }
}

/// Folds inference BatchNormalization into the preceding Conv's weights and bias:
/// W' = W·s, B' = (B − mean)·s + β with s = γ / √(var + ε), per output channel.
struct BatchNormIntoConv: OptimizationPass {
    var name: String { "batchnorm-into-conv" }

    func run(on model: inout Model) throws -> Bool {
        var graph = model.graph
        let constants = Optimizer.constantNames(of: model)
        let uses = ValueUses(graph)
        let producer = graph.producerIndices
        var removed = Set<Int>()
        for (index, bn) in graph.nodes.enumerated() where bn.isStandard("BatchNormalization") {
            guard bn.inputs.count == 5, bn.outputs.filter({ !$0.isEmpty }).count == 1, bn.outputs[0] != "",
                  (bn.attributes["training_mode"].map { if case .int(let v) = $0 { v == 0 } else { false } } ?? true),
                  bn.inputs[1...].allSatisfy({ constants.contains($0) }),
                  let convIndex = producer[bn.inputs[0]], !removed.contains(convIndex),
                  graph.nodes[convIndex].isStandard("Conv"), uses.hasSingleConsumer(bn.inputs[0])
            else { continue }
            let conv = graph.nodes[convIndex]
            guard conv.inputs.count >= 2, constants.contains(conv.inputs[1]),
                  conv.inputs.count < 3 || conv.inputs[2].isEmpty || constants.contains(conv.inputs[2]),
                  let w = graph.initializers[conv.inputs[1]], w.dataType == .float, w.rank >= 3
            else { continue }
            let epsilon: Float = if case .float(let e)? = bn.attributes["epsilon"] { e } else { 1e-5 }
            let params = try bn.inputs[1...].map { try Conversion.floats(graph.initializers[$0]!) }
            let channels = w.shape[0]
            guard params.allSatisfy({ $0.count == channels }) else { continue }
            let bias = conv.inputs.count >= 3 && !conv.inputs[2].isEmpty ? try Conversion.floats(graph.initializers[conv.inputs[2]]!) : [Float](repeating: 0, count: channels)
            guard bias.count == channels else { continue }

            let (gamma, beta, mean, variance) = (params[0], params[1], params[2], params[3])
            let perChannel = w.count / channels
            let source = try w.scalars(as: Float.self)
            var folded = source
            var newBias = [Float](repeating: 0, count: channels)
            for c in 0..<channels {
                let s = gamma[c] / (variance[c] + epsilon).squareRoot()
                for j in 0..<perChannel { folded[c * perChannel + j] = source[c * perChannel + j] * s }
                newBias[c] = (bias[c] - mean[c]) * s + beta[c]
            }
            let weightName = "\(conv.name)/weight_bn_folded", biasName = "\(conv.name)/bias_bn_folded"
            graph.initializers[weightName] = try Tensor(shape: w.shape, scalars: folded)
            graph.initializers[biasName] = try Tensor(shape: [channels], scalars: newBias)
            var fused = conv
            fused.inputs = [conv.inputs[0], weightName, biasName]
            fused.outputs = [bn.outputs[0]]
            graph.nodes[convIndex] = fused
            removed.insert(index)
        }
        guard !removed.isEmpty else { return false }
        graph.removeNodes(at: removed)
        model.graph = graph
        return true
    }
}

/// Replaces Conv → activation (any `FusedActivation.matching`: Relu, LeakyRelu, Clip with constant
/// bounds, Sigmoid, Tanh, HardSigmoid, Gelu) by one `FusedConv` node of this project's domain.
struct ConvActivationFusion: OptimizationPass {
    var name: String { "conv-activation-fusion" }

    func run(on model: inout Model) throws -> Bool {
        var graph = model.graph
        let patterns = PatternIndex(model)
        let uses = ValueUses(graph)
        let producer = graph.producerIndices
        var removed = Set<Int>()
        for (index, act) in graph.nodes.enumerated() {
            guard act.outputs.count == 1, !act.inputs.isEmpty,
                  let convIndex = producer[act.inputs[0]], !removed.contains(convIndex),
                  graph.nodes[convIndex].isStandard("Conv"), uses.hasSingleConsumer(act.inputs[0]),
                  let activation = try FusedActivation.matching(act, index: patterns, opset: model.opsetImports[""] ?? 1)
            else { continue }
            var fused = graph.nodes[convIndex]
            fused.opType = "FusedConv"
            fused.domain = FusedActivation.domain
            fused.outputs = act.outputs
            let (name, parameters) = activation.attributes
            fused.attributes["activation"] = .string(name)
            if !parameters.isEmpty { fused.attributes["activation_params"] = .floats(parameters) }
            graph.nodes[convIndex] = fused
            removed.insert(index)
        }
        guard !removed.isEmpty else { return false }
        graph.removeNodes(at: removed)
        model.graph = graph
        model.opsetImports[FusedActivation.domain] = 1
        return true
    }
}
