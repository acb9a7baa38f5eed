extension Optimizer {
    /// The model with this project's fused operators rewritten into standard ONNX operators valid at
    /// the model's opset (`FusedConv` → `Conv` + activation, `FusedMatMul` → Transpose/MatMul/Add +
    /// activation, and the transformer fusions back into their decompositions), so any ONNX runtime can load it.
    public static func makePortable(_ model: Model) throws -> Model {
        var result = model
        let opset = model.opsetImports[""] ?? 1
        var nodes: [Node] = []
        for node in model.graph.nodes {
            guard node.domain == FusedActivation.domain else {
                nodes.append(node)
                continue
            }
            let expansion = try FusedExpansion.expand(node, opset: opset)
            nodes.append(contentsOf: expansion.nodes)
            result.graph.initializers.merge(expansion.initializers) { _, new in new }
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
