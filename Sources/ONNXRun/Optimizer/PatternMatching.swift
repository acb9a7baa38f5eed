/// A read-only index of a graph for matching fusion patterns: who produces and who reads each value,
/// and which values are constants.
struct PatternIndex {
    let graph: Graph
    let constants: Set<String>
    let producer: [String: Int]
    /// Node indices reading each value, once per input position that names it.
    private var readers: [String: [Int]] = [:]
    /// Reads from subgraphs capturing the value, and graph outputs: uses no pattern can absorb.
    private var pinned: Set<String> = []

    init(_ model: Model) {
        graph = model.graph
        constants = Optimizer.constantNames(of: model)
        producer = graph.producerIndices
        pinned = Set(graph.outputs.map(\.name))
        for (i, node) in graph.nodes.enumerated() {
            for input in node.inputs where !input.isEmpty { readers[input, default: []].append(i) }
            pinned.formUnion(ExecutionPlan.outerReferences(of: node))
        }
    }

    /// The node producing `name` when it is a standard `opType` node.
    func producer(of name: String, _ opType: String) -> (index: Int, node: Node)? {
        guard let i = producer[name], graph.nodes[i].isStandard(opType) else { return nil }
        return (i, graph.nodes[i])
    }

    /// The one node reading `name` (once), when nothing else uses it.
    func soleReader(of name: String) -> (index: Int, node: Node)? {
        guard !pinned.contains(name), let list = readers[name], list.count == 1 else { return nil }
        return (list[0], graph.nodes[list[0]])
    }

    /// True when every use of `name` is an input of the nodes at `indices` (counted per input position).
    func isReadOnly(_ name: String, by indices: [Int]) -> Bool {
        guard !pinned.contains(name) else { return false }
        let expected = indices.reduce(0) { count, i in count + graph.nodes[i].inputs.filter { $0 == name }.count }
        return (readers[name]?.count ?? 0) == expected
    }

    /// True when `name` has exactly one use, by a node at `index`.
    func isReadOnly(_ name: String, by index: Int) -> Bool { isReadOnly(name, by: [index]) }

    /// The value of a float32 scalar (rank 0) constant.
    func scalar(_ name: String) -> Float? {
        guard constants.contains(name), let t = graph.initializers[name], t.dataType == .float, t.rank == 0 else { return nil }
        return try? t.scalars(as: Float.self)[0]
    }

    /// True when `name` is a float32 scalar constant close to `value` (relative 1e-6: a few float ulps,
    /// for irrational constants that exporters round differently).
    func scalar(_ name: String, isNear value: Double) -> Bool {
        guard let v = scalar(name) else { return false }
        return abs(Double(v) - value) <= 1e-6 * abs(value)
    }

    /// True when `name` is a float32 scalar constant equal to `value` exactly.
    func scalar(_ name: String, is value: Float) -> Bool { scalar(name) == value }

    /// True when `name` is a constant 1-D float32 tensor (a bias, scale or shift vector).
    func isVector(_ name: String) -> Bool {
        guard constants.contains(name), let t = graph.initializers[name] else { return false }
        return t.dataType == .float && t.rank == 1
    }

    /// The constant integer values of `name`, if it is a constant.
    func integers(_ name: String) -> [Int]? {
        guard constants.contains(name), let t = graph.initializers[name] else { return nil }
        return try? Conversion.integers(t)
    }

    /// True when a standard ReduceMean reduces only the last axis and keeps it (axes an attribute
    /// before opset 18, a constant input from 18 on).
    func reducesLastAxis(_ node: Node, opset: Int) -> Bool {
        guard node.isStandard("ReduceMean"), !node.inputs.isEmpty else { return false }
        if case .int(let keep)? = node.attributes["keepdims"], keep != 1 { return false }
        if opset < 18 {
            guard case .ints(let axes)? = node.attributes["axes"] else { return false }
            return axes == [-1] && node.inputs.count == 1
        }
        return node.inputs.count == 2 && integers(node.inputs[1]) == [-1]
    }
}

extension Node {
    /// The other input of a two-input node, when exactly one of its inputs is `name`.
    func otherInput(than name: String) -> String? {
        guard inputs.count == 2 else { return nil }
        if inputs[0] == name && inputs[1] != name { return inputs[1] }
        if inputs[1] == name && inputs[0] != name { return inputs[0] }
        return nil
    }

    /// The explicit `perm` of a Transpose, if it swaps the last two axes and keeps the others.
    var swapsLastTwoAxes: [Int]? {
        guard case .ints(let perm)? = attributes["perm"], perm.count >= 2 else { return nil }
        let r = perm.count
        return perm == Array(0..<(r - 2)) + [r - 1, r - 2] ? perm : nil
    }
}

/// One fusion: the nodes it removes and the node replacing them.
struct Rewrite {
    var removed: Set<Int>
    var replacement: Node
}

extension Graph {
    /// Applies rewrites that do not overlap (later overlapping ones are skipped). Each replacement
    /// takes the place of its last removed node, so a topologically sorted graph stays sorted.
    mutating func apply(_ rewrites: [Rewrite]) -> Bool {
        var claimed = Set<Int>()
        var replacements: [Int: Node] = [:]
        for rewrite in rewrites where claimed.isDisjoint(with: rewrite.removed) {
            claimed.formUnion(rewrite.removed)
            replacements[rewrite.removed.max()!] = rewrite.replacement
        }
        guard !claimed.isEmpty else { return false }
        var result: [Node] = []
        for (i, node) in nodes.enumerated() {
            if let replacement = replacements[i] { result.append(replacement) } else if !claimed.contains(i) { result.append(node) }
        }
        nodes = result
        return true
    }
}

extension Model {
    /// Applies `rewrites` to the main graph and imports this project's domain when anything changed.
    mutating func apply(_ rewrites: [Rewrite]) -> Bool {
        guard graph.apply(rewrites) else { return false }
        if opsetImports[FusedActivation.domain] == nil { opsetImports[FusedActivation.domain] = 1 }
        return true
    }
}

/// A node of this project's domain.
func fusedNode(_ opType: String, name: String, inputs: [String], outputs: [String], _ attributes: [String: Attribute] = [:]) -> Node {
    Node(name: name, opType: opType, domain: FusedActivation.domain, inputs: inputs, outputs: outputs, attributes: attributes)
}
