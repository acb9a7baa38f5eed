/// Level-1 cleanups that turn redundant nodes into Identity (which `NoOpElimination` then removes,
/// renaming readers and keeping graph-output names):
/// - Cast to the type its input already has (known from a graph input, an initializer or a previous Cast);
/// - Reshape of a Reshape whose result only it reads: the inner one is skipped (when the outer
///   shape is a constant without 0 entries, which would copy dimensions of the skipped input);
/// - Squeeze of an Unsqueeze with the same constant axes.
struct RedundantShapeOpElimination: OptimizationPass {
    var name: String { "redundant-shape-op-elimination" }

    func run(on model: inout Model) throws -> Bool {
        let index = PatternIndex(model)
        let opset = model.opsetImports[""] ?? 1
        var known: [String: DataType] = [:]
        for input in model.graph.inputs {
            if case .tensor(let type?, _)? = input.type { known[input.name] = type }
        }
        for (name, tensor) in model.graph.initializers where index.constants.contains(name) { known[name] = tensor.dataType }
        var graph = model.graph
        var changed = false
        for (i, node) in graph.nodes.enumerated() where !node.inputs.isEmpty && node.outputs.count == 1 {
            let input = node.inputs[0]
            if node.isStandard("Cast"), case .int(let to)? = node.attributes["to"], let target = DataType(rawValue: Int32(to)) {
                if let source = known[input], source == target, node.attributes["saturate"] == nil {
                    graph.nodes[i] = identity(node, input)
                    changed = true
                }
                known[node.outputs[0]] = target
            } else if node.isStandard("Reshape"), node.inputs.count == 2, let shape = index.integers(node.inputs[1]),
                      !shape.contains(0), let (_, inner) = index.producer(of: input, "Reshape"), index.isReadOnly(input, by: i),
                      !inner.inputs.isEmpty, !inner.inputs[0].isEmpty {
                graph.nodes[i].inputs[0] = inner.inputs[0]
                changed = true
            } else if node.isStandard("Squeeze"), let axes = axes(of: node, index, opset: opset),
                      let (_, unsqueeze) = index.producer(of: input, "Unsqueeze"),
                      let inserted = self.axes(of: unsqueeze, index, opset: opset), Set(axes) == Set(inserted), axes.count == inserted.count {
                graph.nodes[i] = identity(node, unsqueeze.inputs[0])
                changed = true
            }
        }
        if changed { model.graph = graph }
        return changed
    }

    /// An Identity taking `node`'s place and output.
    private func identity(_ node: Node, _ input: String) -> Node {
        Node(name: node.name, opType: "Identity", inputs: [input], outputs: node.outputs)
    }

    /// Constant axes of a Squeeze or Unsqueeze (an attribute before opset 13, an input from 13 on).
    private func axes(of node: Node, _ index: PatternIndex, opset: Int) -> [Int]? {
        if opset < 13 {
            guard case .ints(let axes)? = node.attributes["axes"] else { return nil }
            return axes
        }
        guard node.inputs.count == 2 else { return nil }
        return index.integers(node.inputs[1])
    }
}

/// Common-subexpression elimination: a node with the same operator, domain, attributes and inputs
/// as an earlier one is replaced by Identity nodes reading the earlier node's outputs. Never merges
/// nondeterministic operators, Dropout, nodes without inputs (constants are folded anyway) or nodes
/// whose attributes hold tensors, graphs or types.
struct CommonSubexpressionElimination: OptimizationPass {
    var name: String { "common-subexpression-elimination" }

    func run(on model: inout Model) throws -> Bool {
        var graph = model.graph
        var seen: [String: Int] = [:]
        var rename: [String: String] = [:]
        var changed = false
        let order = topologicalOrder(graph.nodes)
        for node in order {
            let inputs = node.inputs.map { rename[$0] ?? $0 }
            guard let key = key(of: node, inputs: inputs) else { continue }
            guard let first = seen[key] else {
                seen[key] = graph.nodes.firstIndex { $0.name == node.name && $0.outputs == node.outputs }
                continue
            }
            let original = graph.nodes[first]
            guard original.outputs.count == node.outputs.count,
                  let position = graph.nodes.firstIndex(where: { $0.name == node.name && $0.outputs == node.outputs })
            else { continue }
            // One Identity per output; unused optional outputs stay unused.
            let pairs = zip(node.outputs, original.outputs).filter { !$0.0.isEmpty }
            guard pairs.allSatisfy({ !$0.1.isEmpty }) else { continue }
            for (duplicate, kept) in pairs { rename[duplicate] = kept }
            graph.nodes[position] = Node(name: node.name, opType: "Identity", inputs: [pairs[0].1], outputs: [pairs[0].0])
            for (k, pair) in pairs.dropFirst().enumerated() {
                graph.nodes.append(Node(name: "\(node.name)/identity_\(k + 1)", opType: "Identity", inputs: [pair.1], outputs: [pair.0]))
            }
            changed = true
        }
        if changed { model.graph = graph }
        return changed
    }

    /// A string identifying what a node computes, or nil when it must not be merged.
    private func key(of node: Node, inputs: [String]) -> String? {
        guard !inputs.isEmpty, !node.outputs.isEmpty, node.opType != "Dropout", node.opType != "Identity",
              !ConstantFolding.nondeterministic.contains(node.opType) else { return nil }
        func quoted(_ s: String) -> String { "\(s.utf8.count):\(s)" }
        var parts = [node.domain == "ai.onnx" ? "" : node.domain, node.opType, inputs.map(quoted).joined(separator: ",")]
        for (name, value) in node.attributes.sorted(by: { $0.key < $1.key }) {
            switch value {
            case .float(let v): parts.append("\(name)=f\(v.bitPattern)")
            case .int(let v): parts.append("\(name)=i\(v)")
            case .string(let v): parts.append("\(name)=s\(quoted(v))")
            case .floats(let v): parts.append("\(name)=F\(v.map { String($0.bitPattern) }.joined(separator: ","))")
            case .ints(let v): parts.append("\(name)=I\(v.map(String.init).joined(separator: ","))")
            case .strings(let v): parts.append("\(name)=S\(v.map(quoted).joined(separator: ","))")
            default: return nil
            }
        }
        return parts.joined(separator: "|")
    }
}
