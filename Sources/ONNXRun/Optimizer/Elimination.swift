/// Removes Identity and inference-mode Dropout nodes by renaming their consumers' inputs.
struct NoOpElimination: OptimizationPass {
    var name: String { "no-op-elimination" }

    func run(on model: inout Model) throws -> Bool {
        var graph = model.graph
        let graphOutputs = Set(graph.outputs.map(\.name))
        var rename: [String: String] = [:]
        var kept: [Node] = []
        let uses = ValueUses(graph)
        for node in graph.nodes {
            let isDefaultDomain = node.domain.isEmpty || node.domain == "ai.onnx"
            let isNoOp: Bool
            switch node.opType {
            case "Identity" where isDefaultDomain: isNoOp = node.inputs.count == 1
            case "Dropout" where isDefaultDomain:
                // Inference Dropout passes its input through; the mask output must be absent or
                // unread (exporters often name it anyway).
                let ratioIsConstantOrAbsent = node.inputs.count < 3 || node.inputs[2].isEmpty
                let maskIsUnused = node.outputs.count < 2 || node.outputs[1].isEmpty || uses.isUnused(node.outputs[1])
                isNoOp = ratioIsConstantOrAbsent && maskIsUnused && node.outputs.count <= 2 && !node.inputs.isEmpty
            default: isNoOp = false
            }
            // Keep the node when its output is a graph output (the name must survive) or its input is empty.
            if isNoOp, let output = node.outputs.first, !graphOutputs.contains(output), !node.inputs[0].isEmpty {
                rename[output] = rename[node.inputs[0]] ?? node.inputs[0]
                continue
            }
            kept.append(node)
        }
        guard !rename.isEmpty else { return false }
        func resolve(_ name: String) -> String {
            var current = name
            var hops = 0
            while let next = rename[current], hops < 1000 { current = next; hops += 1 }
            return current
        }
        for i in kept.indices {
            kept[i].inputs = kept[i].inputs.map { $0.isEmpty ? $0 : resolve($0) }
            kept[i].attributes = kept[i].attributes.mapValues { renameFree($0, resolve) }
        }
        graph.nodes = kept
        model.graph = graph
        return true
    }

    /// Renames outer-scope references inside subgraph attributes; names a subgraph defines itself
    /// (or that an enclosing subgraph defines, `shadowed`) are left alone.
    private func renameFree(_ attribute: Attribute, _ resolve: (String) -> String, shadowed: Set<String> = []) -> Attribute {
        switch attribute {
        case .graph(let g): return .graph(renameFree(in: g, resolve, shadowed: shadowed))
        case .graphs(let gs): return .graphs(gs.map { renameFree(in: $0, resolve, shadowed: shadowed) })
        default: return attribute
        }
    }

    private func renameFree(in graph: Graph, _ resolve: (String) -> String, shadowed: Set<String>) -> Graph {
        var defined = shadowed.union(graph.initializers.keys).union(graph.inputs.map(\.name))
        for node in graph.nodes { defined.formUnion(node.outputs) }
        func map(_ name: String) -> String { name.isEmpty || defined.contains(name) ? name : resolve(name) }
        var g = graph
        for i in g.nodes.indices {
            g.nodes[i].inputs = g.nodes[i].inputs.map(map)
            g.nodes[i].attributes = g.nodes[i].attributes.mapValues { renameFree($0, resolve, shadowed: defined) }
        }
        // Subgraph outputs are matched by position, so an output that names an outer value may be renamed.
        for i in g.outputs.indices { g.outputs[i].name = map(g.outputs[i].name) }
        return g
    }
}

/// Removes nodes whose outputs nothing reads and initializers nothing uses.
struct DeadNodeElimination: OptimizationPass {
    var name: String { "dead-node-elimination" }

    func run(on model: inout Model) throws -> Bool {
        var graph = model.graph
        var live = Set(graph.outputs.map(\.name))
        // Walk backwards from the outputs, keeping every node that feeds a live value.
        let ordered = topologicalOrder(graph.nodes)
        var keptNodes: [Node] = []
        for node in ordered.reversed() {
            if node.outputs.contains(where: { live.contains($0) }) {
                keptNodes.append(node)
                for input in node.inputs where !input.isEmpty { live.insert(input) }
                live.formUnion(ExecutionPlan.outerReferences(of: node))
            }
        }
        let removedNodes = ordered.count - keptNodes.count
        // Initializers listed as inputs can be fed from IR version 4 on, so they stay; before
        // that they are constants like any other and go when unused (with their input entry).
        let inputs = model.irVersion < 4 ? Set<String>() : Set(graph.inputs.map(\.name))
        let unused = Set(graph.initializers.keys.filter { !live.contains($0) && !inputs.contains($0) })
        for name in unused { graph.initializers[name] = nil }
        if !unused.isEmpty { graph.inputs.removeAll { unused.contains($0.name) } }
        guard removedNodes > 0 || !unused.isEmpty else { return false }
        graph.nodes = keptNodes.reversed()
        model.graph = graph
        return true
    }
}
