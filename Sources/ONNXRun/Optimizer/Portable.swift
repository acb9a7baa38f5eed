extension Optimizer {
    /// The model with this project's fused operators rewritten into standard ONNX operators
    /// (`FusedConv` → `Conv` + activation), so any ONNX runtime can load it.
    public static func makePortable(_ model: Model) throws -> Model {
        var result = model
        let opset = model.opsetImports[""] ?? 1
        var nodes: [Node] = []
        var counter = 0
        for node in model.graph.nodes {
            guard node.domain == FusedActivation.domain, node.opType == "FusedConv" else {
                nodes.append(node)
                continue
            }
            counter += 1
            var conv = node
            conv.opType = "Conv"
            conv.domain = ""
            conv.attributes["activation"] = nil
            conv.attributes["activation_params"] = nil
            let intermediate = "\(node.outputs[0])/conv_before_activation"
            conv.outputs = [intermediate]
            var parameters: [Float] = []
            if case .floats(let values)? = node.attributes["activation_params"] { parameters = values }
            guard case .string(let name)? = node.attributes["activation"],
                  let activation = FusedActivation(name: name, parameters: parameters) else {
                throw ONNXRunError(.invalidModel, "FusedConv without a known activation", subject: node.label)
            }
            var act = Node(name: "\(node.name)/activation", opType: name, inputs: [intermediate], outputs: node.outputs)
            switch activation {
            case .leakyRelu(let alpha): act.attributes["alpha"] = .float(alpha)
            case .hardSigmoid(let alpha, let beta): act.attributes = ["alpha": .float(alpha), "beta": .float(beta)]
            case .clip(let low, let high):
                if opset < 11 {
                    act.attributes = ["min": .float(low), "max": .float(high)]
                } else {
                    let lowName = "\(node.name)/clip_min", highName = "\(node.name)/clip_max"
                    result.graph.initializers[lowName] = Tensor(scalar: low)
                    result.graph.initializers[highName] = Tensor(scalar: high)
                    act.inputs = [intermediate, lowName, highName]
                }
            default: break
            }
            nodes.append(conv)
            nodes.append(act)
        }
        result.graph.nodes = nodes
        if !nodes.contains(where: { $0.domain == FusedActivation.domain }) { result.opsetImports[FusedActivation.domain] = nil }
        return result
    }

    /// Prepares a model for writing: before IR version 4 initializers had to be listed as graph
    /// inputs (and meant constants); writing IR 4+ without those inputs keeps that meaning everywhere.
    public static func normalizedForWriting(_ model: Model) -> Model {
        var result = model
        if model.irVersion < 4 {
            result.irVersion = 4
            result.graph.inputs = model.graph.inputs.filter { model.graph.initializers[$0.name] == nil }
        }
        return result
    }
}
