/// Evaluates nodes whose inputs are all constants, once, with the runtime's own kernels, and
/// replaces them by initializers.
struct ConstantFolding: OptimizationPass {
    var name: String { "constant-folding" }

    /// Operators whose result differs from run to run, never folded.
    static let nondeterministic: Set<String> = [
        "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli", "Multinomial",
    ]

    /// Largest folded output kept, in bytes; bigger results stay computed at run time.
    static let maximumBytes = 1 << 30

    func run(on model: inout Model) throws -> Bool {
        var constants = Optimizer.constantNames(of: model)
        var graph = model.graph
        var remaining: [Node] = []
        var changed = false
        // A folded graph output stays an output, now backed by an initializer.
        for node in topologicalOrder(graph.nodes) {
            guard isFoldable(node, constants: constants, opsets: model.opsetImports),
                  let values = try? evaluate(node, graph: graph, opsets: model.opsetImports),
                  values.allSatisfy({ $0.byteCount <= Self.maximumBytes })
            else {
                remaining.append(node)
                continue
            }
            for (name, tensor) in zip(node.outputs, values) where !name.isEmpty {
                graph.initializers[name] = tensor
                constants.insert(name)
            }
            changed = true
        }
        graph.nodes = remaining
        model.graph = graph
        return changed
    }

    private func isFoldable(_ node: Node, constants: Set<String>, opsets: [String: Int]) -> Bool {
        guard !Self.nondeterministic.contains(node.opType), !node.outputs.isEmpty else { return false }
        // Dropout given a training_mode input may draw a random mask: one fold would fix one draw.
        if node.opType == "Dropout", node.inputs.count > 2, !node.inputs[2].isEmpty { return false }
        for attribute in node.attributes.values {
            if case .graph = attribute { return false }
            if case .graphs = attribute { return false }
        }
        return node.inputs.allSatisfy { $0.isEmpty || constants.contains($0) }
    }

    private func evaluate(_ node: Node, graph: Graph, opsets: [String: Int]) throws -> [Tensor] {
        let domain = node.domain == "ai.onnx" ? "" : node.domain
        guard let opset = opsets[domain],
              let factory = KernelRegistry.standard.factory(for: node.opType, domain: domain, opset: opset)
        else { throw ONNXRunError(.unsupportedOperator, "no kernel") }
        let inputs = node.inputs.map { $0.isEmpty ? nil : graph.initializers[$0] }
        let context = KernelContext(
            node: node, opsetVersion: opset, constantInputs: inputs,
            compileSubgraph: { _ in throw ONNXRunError(.unsupportedOperator, "no subgraphs while folding") })
        let kernel = try factory(context)
        let values = try kernel.run(inputs.map { $0.map(Value.tensor) }, RunContext(threads: 1))
        return try values.map {
            guard let t = $0.tensor else { throw ONNXRunError(.unsupportedType, "not a tensor") }
            return t
        }
    }
}

/// Nodes in an order where producers come before consumers (model order when already sorted);
/// nodes that cannot be ordered (cycles, dangling inputs) keep their relative order at the end.
func topologicalOrder(_ nodes: [Node]) -> [Node] {
    var producer: [String: Int] = [:]
    for (i, node) in nodes.enumerated() { for o in node.outputs where !o.isEmpty { producer[o] = i } }
    var visited = [UInt8](repeating: 0, count: nodes.count)  // 0 new, 1 in progress, 2 done
    var order: [Int] = []
    order.reserveCapacity(nodes.count)
    for start in nodes.indices where visited[start] == 0 {
        var stack: [(Int, Int)] = [(start, 0)]
        visited[start] = 1
        while let (index, next) = stack.last {
            let inputs = nodes[index].inputs
            if next < inputs.count {
                stack[stack.count - 1].1 += 1
                if let p = producer[inputs[next]], visited[p] == 0 {
                    visited[p] = 1
                    stack.append((p, 0))
                }
            } else {
                visited[index] = 2
                order.append(index)
                stack.removeLast()
            }
        }
    }
    return order.map { nodes[$0] }
}
