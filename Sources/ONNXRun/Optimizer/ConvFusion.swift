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

    /// True when no node reads `name` and it is not a graph output.
    func isUnused(_ name: String) -> Bool { counts[name] == nil && !outputs.contains(name) }
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

extension Tensor {
    /// A new float tensor of this one's shape with each slice along axis 0 (a convolution's output
    /// channel) multiplied by its entry of `scales`, written in one pass: folding a scale into
    /// weights costs one read and one write of them, which matters for large models' load time.
    fileprivate func scalingOutputChannels(by scales: [Float]) throws -> Tensor {
        precondition(dataType == .float && rank >= 1 && scales.count == shape[0])
        let result = try Tensor(uninitialized: .float, shape: shape)
        let perChannel = shape[0] == 0 ? 0 : count / shape[0]
        let source = UnsafePointer(pointer(as: Float.self)), target = result.pointer(as: Float.self)
        for (c, scale) in scales.enumerated() {
            let offset = c * perChannel
            for j in offset..<offset + perChannel { target[j] = source[j] * scale }
        }
        return result
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
            let epsilon = bn.floatAttribute("epsilon") ?? 1e-5
            let params = try bn.inputs[1...].map { try Conversion.floats(graph.initializers[$0]!) }
            let channels = w.shape[0]
            guard params.allSatisfy({ $0.count == channels }) else { continue }
            let bias = conv.inputs.count >= 3 && !conv.inputs[2].isEmpty ? try Conversion.floats(graph.initializers[conv.inputs[2]]!) : [Float](repeating: 0, count: channels)
            guard bias.count == channels else { continue }

            let (gamma, beta, mean, variance) = (params[0], params[1], params[2], params[3])
            let scales = (0..<channels).map { gamma[$0] / (variance[$0] + epsilon).squareRoot() }
            let newBias = (0..<channels).map { (bias[$0] - mean[$0]) * scales[$0] + beta[$0] }
            let weightName = graph.freshName("\(conv.name)/weight_bn_folded"), biasName = graph.freshName("\(conv.name)/bias_bn_folded")
            graph.initializers[weightName] = try w.scalingOutputChannels(by: scales)
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

/// Replaces Conv → Add (or a two-input Sum) of a tensor of the same shape, ResNet's residual
/// connection, by a `FusedConv` with that tensor as its fourth input Z: the kernel adds it while
/// the output block is in cache, and `ConvActivationFusion` can then take the Relu that follows.
/// Only when shape inference proves both operands have the same static shape (no broadcasting).
struct ConvAddFusion: OptimizationPass {
    var name: String { "conv-add-fusion" }

    func run(on model: inout Model) throws -> Bool {
        var graph = model.graph
        let uses = ValueUses(graph)
        let producer = graph.producerIndices
        var inferred: ShapeInference.Result?
        var removed = Set<Int>()
        for (index, add) in graph.nodes.enumerated() where add.isStandard("Add") || add.isStandard("Sum") {
            guard add.inputs.count == 2, add.outputs.count == 1, !add.outputs[0].isEmpty,
                  add.inputs[0] != add.inputs[1], !add.inputs.contains("")
            else { continue }
            for side in 0..<2 {
                let (product, residual) = (add.inputs[side], add.inputs[1 - side])
                guard let convIndex = producer[product], !removed.contains(convIndex),
                      graph.nodes[convIndex].isStandard("Conv"), graph.nodes[convIndex].outputs.count == 1,
                      uses.hasSingleConsumer(product)
                else { continue }
                if inferred == nil { inferred = ShapeInference.infer(model) }
                guard let productShape = inferred?.shape(of: product), let residualShape = inferred?.shape(of: residual),
                      productShape == residualShape, productShape.allSatisfy({ $0.value != nil }),
                      inferred?.elementType(of: residual) == .float, inferred?.elementType(of: product) == .float
                else { continue }
                var fused = graph.nodes[convIndex]
                fused.opType = "FusedConv"
                fused.domain = FusedActivation.domain
                while fused.inputs.count < 3 { fused.inputs.append("") }
                fused.inputs.append(residual)
                fused.outputs = add.outputs
                // At the Add's place: the residual may be computed after the Conv.
                graph.nodes[index] = fused
                removed.insert(convIndex)
                break
            }
        }
        guard !removed.isEmpty else { return false }
        graph.removeNodes(at: removed)
        model.graph = graph
        model.opsetImports[FusedActivation.domain] = 1
        return true
    }
}

/// Replaces Conv → activation (any `FusedActivation.matching`: Relu, LeakyRelu, Clip with constant
/// bounds, Sigmoid, Tanh, HardSigmoid, Gelu) by one `FusedConv` node of this project's domain; also
/// a `FusedConv` that has no activation yet (one with a residual input, from `ConvAddFusion`).
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
                  Self.takesActivation(graph.nodes[convIndex]), uses.hasSingleConsumer(act.inputs[0]),
                  let activation = try FusedActivation.matching(act, index: patterns, opset: model.opsetImports[""] ?? 1)
            else { continue }
            var fused = graph.nodes[convIndex]
            fused.opType = "FusedConv"
            fused.domain = FusedActivation.domain
            fused.outputs = act.outputs
            fused.setActivation(activation)
            graph.nodes[convIndex] = fused
            removed.insert(index)
        }
        guard !removed.isEmpty else { return false }
        graph.removeNodes(at: removed)
        model.graph = graph
        model.opsetImports[FusedActivation.domain] = 1
        return true
    }

    /// A Conv, or a FusedConv without an activation.
    private static func takesActivation(_ node: Node) -> Bool {
        node.isStandard("Conv")
            || (node.opType == "FusedConv" && node.domain == FusedActivation.domain && node.attributes["activation"] == nil)
    }
}

/// Folds a per-channel Mul or Add by a constant into the Conv or BatchNormalization before it
/// (DenseNet's exported graphs scale and shift every BatchNormalization output this way):
/// Conv: W' = W·s, B' = B·s (Mul) or B' = B + b (Add); BatchNormalization: γ' = γ·s, β' = β·s
/// (Mul) or β' = β + b (Add). The Conv can then take a following activation as a FusedConv.
/// It runs before `BatchNormIntoConv`, so Conv → BatchNormalization → Mul → Add rewrites the
/// Conv's weights once, not twice.
struct ScaleShiftIntoProducer: OptimizationPass {
    var name: String { "scale-shift-into-producer" }

    func run(on model: inout Model) throws -> Bool {
        var changed = false
        while try foldOnce(&model) { changed = true }
        return changed
    }

    /// One sweep; each producer takes at most one Mul or Add per sweep.
    private func foldOnce(_ model: inout Model) throws -> Bool {
        var graph = model.graph
        let constants = Optimizer.constantNames(of: model)
        let uses = ValueUses(graph)
        let producer = graph.producerIndices
        var removed = Set<Int>(), rewritten = Set<Int>()
        // Ranks of BatchNormalization outputs come from shape inference, run only when needed.
        var inferred: ShapeInference.Result?
        for (index, op) in graph.nodes.enumerated() where op.isStandard("Mul") || op.isStandard("Add") {
            guard op.inputs.count == 2, op.outputs.count == 1, !op.outputs[0].isEmpty else { continue }
            // One operand is a per-channel constant, the other comes from a foldable producer.
            for side in 0..<2 {
                let (data, constant) = (op.inputs[side], op.inputs[1 - side])
                guard constants.contains(constant), let values = graph.initializers[constant], values.dataType == .float,
                      let p = producer[data], !removed.contains(p), !rewritten.contains(p),
                      uses.hasSingleConsumer(data)
                else { continue }
                let node = graph.nodes[p]
                let isMul = op.opType == "Mul"
                let folded: Node?
                if node.isStandard("Conv") {
                    folded = try foldIntoConv(node, values, isMul: isMul, name: op.outputs[0], &graph, constants)
                } else if node.isStandard("BatchNormalization") {
                    // A BatchNormalization after a Conv with constant weights has the weights' rank;
                    // only other producers need shape inference.
                    let rank: Int
                    if let source = node.inputs.first, let c = producer[source], graph.nodes[c].isStandard("Conv"),
                       graph.nodes[c].inputs.count > 1, constants.contains(graph.nodes[c].inputs[1]),
                       let w = graph.initializers[graph.nodes[c].inputs[1]] {
                        rank = w.rank
                    } else {
                        if inferred == nil { inferred = ShapeInference.infer(model) }
                        guard let inferredRank = inferred?.shape(of: data)?.count else { continue }
                        rank = inferredRank
                    }
                    folded = try foldIntoBatchNorm(node, values, rank: rank, isMul: isMul, name: op.outputs[0], &graph, constants)
                } else {
                    folded = nil
                }
                guard var folded else { continue }
                folded.outputs = [op.outputs[0]]
                graph.nodes[p] = folded
                removed.insert(index)
                rewritten.insert(p)
                break
            }
        }
        guard !removed.isEmpty else { return false }
        graph.removeNodes(at: removed)
        model.graph = graph
        return true
    }

    /// The constant's values per channel (one value repeated for a scalar), when it broadcasts
    /// against an output of rank `rank` along the channel axis (1) only.
    private func perChannel(_ t: Tensor, channels: Int, rank: Int) throws -> [Float]? {
        guard t.rank <= rank else { return nil }
        let shape = [Int](repeating: 1, count: rank - t.rank) + t.shape
        let values = try Conversion.floats(t)
        if shape.allSatisfy({ $0 == 1 }) { return [Float](repeating: values[0], count: channels) }
        guard rank >= 2, shape[1] == channels, shape.enumerated().allSatisfy({ $0.offset == 1 || $0.element == 1 }) else { return nil }
        return values
    }

    private func foldIntoConv(_ conv: Node, _ t: Tensor, isMul: Bool, name: String, _ graph: inout Graph, _ constants: Set<String>) throws -> Node? {
        guard conv.outputs.count == 1, conv.inputs.count >= 2, constants.contains(conv.inputs[1]),
              conv.inputs.count < 3 || conv.inputs[2].isEmpty || constants.contains(conv.inputs[2]),
              let w = graph.initializers[conv.inputs[1]], w.dataType == .float, w.rank >= 3,
              let s = try perChannel(t, channels: w.shape[0], rank: w.rank)
        else { return nil }
        let channels = w.shape[0]
        var bias = [Float](repeating: 0, count: channels)
        if conv.inputs.count >= 3 && !conv.inputs[2].isEmpty {
            guard let b = graph.initializers[conv.inputs[2]], b.dataType == .float, b.count == channels else { return nil }
            bias = try b.scalars(as: Float.self)
        }
        var result = conv
        if isMul {
            for c in 0..<channels { bias[c] *= s[c] }
            graph.initializers["\(name)/weight_folded"] = try w.scalingOutputChannels(by: s)
            result.inputs = [conv.inputs[0], "\(name)/weight_folded", "\(name)/bias_folded"]
        } else {
            for c in 0..<channels { bias[c] += s[c] }
            result.inputs = [conv.inputs[0], conv.inputs[1], "\(name)/bias_folded"]
        }
        graph.initializers["\(name)/bias_folded"] = try Tensor(shape: [channels], scalars: bias)
        return result
    }

    private func foldIntoBatchNorm(_ bn: Node, _ t: Tensor, rank: Int, isMul: Bool, name: String, _ graph: inout Graph, _ constants: Set<String>) throws -> Node? {
        guard bn.inputs.count == 5, bn.outputs.filter({ !$0.isEmpty }).count == 1, !bn.outputs[0].isEmpty,
              (bn.attributes["training_mode"].map { if case .int(let v) = $0 { v == 0 } else { false } } ?? true),
              bn.inputs[1...].allSatisfy({ constants.contains($0) }),
              let gammaTensor = graph.initializers[bn.inputs[1]], let betaTensor = graph.initializers[bn.inputs[2]],
              gammaTensor.dataType == .float, betaTensor.dataType == .float, gammaTensor.count == betaTensor.count,
              let s = try perChannel(t, channels: gammaTensor.count, rank: rank)
        else { return nil }
        var gamma = try gammaTensor.scalars(as: Float.self), beta = try betaTensor.scalars(as: Float.self)
        for c in 0..<gamma.count {
            if isMul { gamma[c] *= s[c]; beta[c] *= s[c] } else { beta[c] += s[c] }
        }
        graph.initializers["\(name)/scale_folded"] = try Tensor(shape: gammaTensor.shape, scalars: gamma)
        graph.initializers["\(name)/bias_folded"] = try Tensor(shape: betaTensor.shape, scalars: beta)
        var result = bn
        result.inputs[1] = "\(name)/scale_folded"
        result.inputs[2] = "\(name)/bias_folded"
        return result
    }
}

/// Replaces ShuffleNet's channel shuffle in front of a depthwise convolution, Reshape [N, g, c, H,
/// W] → Transpose [0, 2, 1, 3, 4] → Reshape [N, g·c, H, W] → Conv (group g·c), by a `FusedConv`
/// that reads the unshuffled tensor with `input_channel_shuffle` [g, c]: the depthwise kernel
/// picks each channel's input plane where it lies, so the shuffle's copy of the whole tensor is
/// not made. Only with static shapes, and when nothing else reads the intermediate values.
struct ChannelShuffleIntoConv: OptimizationPass {
    var name: String { "channel-shuffle-into-conv" }

    func run(on model: inout Model) throws -> Bool {
        // Reshape takes its shape as an input from opset 5 on (the form the expansion writes).
        guard (model.opsetImports[""] ?? 1) >= 5 else { return false }
        let patterns = PatternIndex(model)
        var inferred: ShapeInference.Result?
        var rewrites: [Rewrite] = []
        for (index, conv) in model.graph.nodes.enumerated() where Self.isDepthwiseCandidate(conv) {
            guard let merge = patterns.producer(of: conv.inputs[0], "Reshape"), patterns.isReadOnly(conv.inputs[0], by: index),
                  let transpose = patterns.producer(of: merge.node.inputs[0], "Transpose"),
                  patterns.isReadOnly(merge.node.inputs[0], by: merge.index),
                  case .ints([0, 2, 1, 3, 4])? = transpose.node.attributes["perm"],
                  let split = patterns.producer(of: transpose.node.inputs[0], "Reshape"),
                  patterns.isReadOnly(transpose.node.inputs[0], by: transpose.index),
                  let w = patterns.constants.contains(conv.inputs[1]) ? model.graph.initializers[conv.inputs[1]] : nil
            else { continue }
            if inferred == nil { inferred = ShapeInference.infer(model) }
            let x = split.node.inputs[0]
            guard let xShape = inferred?.shape(of: x)?.map(\.value), xShape.count == 4, !xShape.contains(nil),
                  let splitShape = inferred?.shape(of: split.node.outputs[0])?.map(\.value), splitShape.count == 5,
                  let mergedShape = inferred?.shape(of: merge.node.outputs[0])?.map(\.value),
                  mergedShape == xShape,
                  let groups = splitShape[1], let perGroup = splitShape[2],
                  splitShape[0] == xShape[0], groups * perGroup == xShape[1], splitShape[3] == xShape[2], splitShape[4] == xShape[3],
                  case .int(let group)? = conv.attributes["group"], group == xShape[1], w.rank == 4, w.shape[0] == group, w.shape[1] == 1
            else { continue }
            var fused = conv
            fused.opType = "FusedConv"
            fused.domain = FusedActivation.domain
            fused.inputs[0] = x
            fused.attributes["input_channel_shuffle"] = .ints([groups, perGroup])
            rewrites.append(Rewrite(removed: [split.index, transpose.index, merge.index, index], replacement: fused))
        }
        return model.apply(rewrites)
    }

    /// A Conv, or a FusedConv not yet reading a shuffle, with a data input and weights.
    private static func isDepthwiseCandidate(_ node: Node) -> Bool {
        let conv = node.isStandard("Conv")
            || (node.opType == "FusedConv" && node.domain == FusedActivation.domain && node.attributes["input_channel_shuffle"] == nil
                && node.attributes["output_channels_last"] == nil)
        return conv && node.inputs.count >= 2 && !node.inputs[0].isEmpty && node.outputs.count == 1
    }
}

/// Replaces a detection head's 1×1 convolution whose output is split into groups and moved to
/// channels-last, Conv [N, C, H, W] → Reshape [N, G, C/G, H, W] → Transpose [0, 1, 3, 4, 2]
/// (YOLOv5's three heads), by a `FusedConv` with `output_channels_last` G that writes
/// [N, G, H, W, C/G] directly: the product is computed as Xᵀ · Wᵀ per group, so the output is
/// stored once, already transposed, and a following activation (the heads' Sigmoid) fuses into
/// it as usual. Only for ungrouped 1×1 stride-1 unpadded convolutions with constant weights and
/// static shapes, when nothing else reads the intermediate values.
struct ChannelsLastOutputIntoConv: OptimizationPass {
    var name: String { "channels-last-output-into-conv" }

    func run(on model: inout Model) throws -> Bool {
        // The portable expansion reshapes by a computed shape, an input from opset 5 on.
        guard (model.opsetImports[""] ?? 1) >= 5 else { return false }
        let patterns = PatternIndex(model)
        var inferred: ShapeInference.Result?
        var rewrites: [Rewrite] = []
        for (index, conv) in model.graph.nodes.enumerated() where Self.isPointwiseCandidate(conv) {
            guard let split = patterns.soleReader(of: conv.outputs[0]), split.node.isStandard("Reshape"),
                  split.node.inputs.first == conv.outputs[0],
                  let transpose = patterns.soleReader(of: split.node.outputs[0]), transpose.node.isStandard("Transpose"),
                  case .ints([0, 1, 3, 4, 2])? = transpose.node.attributes["perm"],
                  patterns.constants.contains(conv.inputs[1]), let w = model.graph.initializers[conv.inputs[1]],
                  w.rank == 4, w.shape[2] == 1, w.shape[3] == 1
            else { continue }
            if inferred == nil { inferred = ShapeInference.infer(model) }
            guard let xShape = inferred?.shape(of: conv.inputs[0])?.map(\.value), xShape.count == 4, !xShape.contains(nil),
                  let splitShape = inferred?.shape(of: split.node.outputs[0])?.map(\.value), splitShape.count == 5,
                  let groups = splitShape[1], let perGroup = splitShape[2], groups * perGroup == w.shape[0],
                  splitShape[0] == xShape[0], splitShape[3] == xShape[2], splitShape[4] == xShape[3], w.shape[1] == xShape[1]
            else { continue }
            var fused = conv
            fused.opType = "FusedConv"
            fused.domain = FusedActivation.domain
            fused.outputs = transpose.node.outputs
            fused.attributes["output_channels_last"] = .int(groups)
            rewrites.append(Rewrite(removed: [index, split.index, transpose.index], replacement: fused))
        }
        return model.apply(rewrites)
    }

    /// A Conv (or a FusedConv without an activation, residual or shuffle) that is 1×1 by its
    /// attributes: group 1, strides 1, no padding.
    private static func isPointwiseCandidate(_ node: Node) -> Bool {
        let fusedPlain = node.opType == "FusedConv" && node.domain == FusedActivation.domain
            && node.attributes["activation"] == nil && node.attributes["input_channel_shuffle"] == nil
            && node.attributes["output_channels_last"] == nil && node.inputs.count <= 3
        guard node.isStandard("Conv") || fusedPlain, node.inputs.count >= 2, !node.inputs[0].isEmpty, node.outputs.count == 1 else { return false }
        func ints(_ name: String) -> [Int]? { if case .ints(let v)? = node.attributes[name] { v } else { nil } }
        if case .int(let group)? = node.attributes["group"], group != 1 { return false }
        if case .string(let pad)? = node.attributes["auto_pad"], !["NOTSET", "VALID", ""].contains(pad) { return false }
        return (ints("strides") ?? []).allSatisfy { $0 == 1 } && (ints("pads") ?? []).allSatisfy { $0 == 0 }
            && (ints("kernel_shape") ?? [1, 1]) == [1, 1]
    }
}
