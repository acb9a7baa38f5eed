/// Folds shape computations whose value is known once the input shapes are known: `Shape` of a
/// tensor with fixed dimensions, and the `Gather`/`Slice`/`Unsqueeze`/`Concat`/arithmetic chains
/// exporters build on it (`Shape → Gather → Unsqueeze → Concat → Reshape`). Symbolic dimensions
/// (`batch`) stay computed at run time; only values every run agrees on are folded, since the
/// runtime rejects inputs whose fixed dimensions differ from the declared ones.
struct ShapeFolding: OptimizationPass {
    var name: String { "shape-folding" }

    func run(on model: inout Model) throws -> Bool {
        let inference = ShapeInference.infer(model, useValueInfo: false)
        var graph = model.graph
        let outputs = Set(graph.outputs.map(\.name))
        var folded = Set<Int>()
        for (index, node) in graph.nodes.enumerated() where node.outputs.count == 1 && node.opType != "Constant" {
            let name = node.outputs[0]
            guard !name.isEmpty, !outputs.contains(name), graph.initializers[name] == nil,
                  let values = inference.knownValues[name],
                  let type = inference.elementType(of: name), type == .int64 || type == .int32,
                  let shape = inference.shape(of: name), shape.count <= 1,
                  shape.isEmpty ? values.count == 1 : shape[0].value == values.count
            else { continue }
            let tensor: Tensor
            if type == .int64 {
                tensor = try Tensor(shape: shape.isEmpty ? [] : [values.count], scalars: values.map { Int64($0) })
            } else {
                tensor = try Tensor(shape: shape.isEmpty ? [] : [values.count], scalars: values.map { Int32(truncatingIfNeeded: $0) })
            }
            graph.initializers[name] = tensor
            folded.insert(index)
        }
        guard !folded.isEmpty else { return false }
        graph.removeNodes(at: folded)
        model.graph = graph
        return true
    }
}
