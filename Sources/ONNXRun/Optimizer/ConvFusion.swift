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

    /// `base`, or `base_2`, `base_3`, ... : a name no initializer, input or node output uses yet.
    func freshName(_ base: String) -> String {
        func taken(_ name: String) -> Bool {
            initializers[name] != nil || inputs.contains { $0.name == name } || nodes.contains { $0.outputs.contains(name) }
        }
        guard taken(base) else { return base }
        var i = 2
        while taken("\(base)_\(i)") { i += 1 }
        return "\(base)_\(i)"
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
            let weightName = graph.freshName("\(conv.name)/weight_bn_folded"), biasName = graph.freshName("\(conv.name)/bias_bn_folded")
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

/// Folds a Mul or Add by a per-output-channel (or scalar) constant that follows a Conv into the
/// Conv's weights and bias: Mul by s gives W' = W·s, B' = B·s; Add of a gives B' = B + a.
struct ConvAffineFolding: OptimizationPass {
    var name: String { "conv-affine-folding" }

    func run(on model: inout Model) throws -> Bool {
        var graph = model.graph
        let constants = Optimizer.constantNames(of: model)
        let uses = ValueUses(graph)
        let producer = graph.producerIndices
        var removed = Set<Int>()
        var changedConvs = Set<Int>()
        for (index, op) in graph.nodes.enumerated() where (op.isStandard("Mul") || op.isStandard("Add")) && op.inputs.count == 2 && op.outputs.count == 1 {
            for (y, c) in [(op.inputs[0], op.inputs[1]), (op.inputs[1], op.inputs[0])] {
                guard constants.contains(c), let factor = graph.initializers[c], factor.dataType == .float,
                      let convIndex = producer[y], !changedConvs.contains(convIndex), graph.nodes[convIndex].isStandard("Conv"),
                      uses.hasSingleConsumer(y) else { continue }
                let conv = graph.nodes[convIndex]
                guard conv.inputs.count >= 2, constants.contains(conv.inputs[1]),
                      conv.inputs.count < 3 || conv.inputs[2].isEmpty || constants.contains(conv.inputs[2]),
                      let w = graph.initializers[conv.inputs[1]], w.dataType == .float, w.rank >= 3,
                      let perChannel = try Self.channelValues(factor, channels: w.shape[0], outputRank: w.rank) else { continue }
                let channels = w.shape[0], size = w.count / channels
                var bias = conv.inputs.count >= 3 && !conv.inputs[2].isEmpty ? try Conversion.floats(graph.initializers[conv.inputs[2]]!) : [Float](repeating: 0, count: channels)
                guard bias.count == channels else { continue }
                var weights = try w.scalars(as: Float.self)
                if op.opType == "Mul" {
                    for ch in 0..<channels {
                        for j in 0..<size { weights[ch * size + j] *= perChannel[ch] }
                        bias[ch] *= perChannel[ch]
                    }
                } else {
                    for ch in 0..<channels { bias[ch] += perChannel[ch] }
                }
                let weightName = graph.freshName("\(conv.name)/weight_folded"), biasName = graph.freshName("\(conv.name)/bias_folded")
                graph.initializers[weightName] = try Tensor(shape: w.shape, scalars: weights)
                graph.initializers[biasName] = try Tensor(shape: [channels], scalars: bias)
                var folded = conv
                folded.inputs = [conv.inputs[0], weightName, biasName]
                folded.outputs = op.outputs
                graph.nodes[convIndex] = folded
                changedConvs.insert(convIndex)
                removed.insert(index)
                break
            }
        }
        guard !removed.isEmpty else { return false }
        graph.removeNodes(at: removed)
        model.graph = graph
        return true
    }

    /// The constant's value per output channel when it broadcasts only along the channel axis of a
    /// Conv output of rank `outputRank` (shape [C,1,..,1] right-aligned, or one element); else nil.
    static func channelValues(_ t: Tensor, channels: Int, outputRank: Int) throws -> [Float]? {
        let values = try Conversion.floats(t)
        if t.count == 1 { return Array(repeating: values[0], count: channels) }
        guard t.rank <= outputRank, t.count == channels else { return nil }
        let aligned = Array(repeating: 1, count: outputRank - t.rank) + t.shape
        guard aligned[1] == channels, aligned.enumerated().allSatisfy({ $0.offset == 1 || $0.element == 1 }) else { return nil }
        return values
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
