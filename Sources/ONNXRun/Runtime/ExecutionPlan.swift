import Dispatch

/// A graph compiled for execution: nodes in topological order with their kernels, every value
/// name resolved to an integer slot, and the slots each step frees after its last use.
///
/// A plan is immutable; each `run` works on its own slot array, so one plan can run on many
/// threads at once.
final class ExecutionPlan: Sendable {
    struct Step: Sendable {
        let node: Node
        let kernel: any Kernel
        /// Slot per node input; -1 for an omitted optional input.
        let inputs: [Int]
        /// Slot per node output; -1 for an unused optional output.
        let outputs: [Int]
        /// Slots whose values are dead after this step.
        let release: [Int]
    }

    let graph: Graph
    let slotCount: Int
    let steps: [Step]
    /// Initializer values, loaded into their slots before every run.
    let constants: [(slot: Int, value: Value)]
    /// Slot of each declared graph input, in declaration order.
    let inputSlots: [Int]
    /// Slot of each declared graph output, in declaration order.
    let outputSlots: [Int]
    /// Names this graph reads from enclosing graphs (subgraphs only), with the slot they go to.
    let captures: [(name: String, slot: Int)]
    /// Slot of every named value in this graph, for nested subgraphs that capture them.
    let slotsByName: [String: Int]

    /// Compiles `graph`. `outerNames` are values visible from enclosing graphs (empty for a main graph);
    /// `staticShapes`, when given, lets kernels choose a method by the shapes every run will have.
    init(graph: Graph, opsets: [String: Int], registry: KernelRegistry, outerNames: Set<String> = [], staticShapes: StaticShapes? = nil) throws {
        self.graph = graph
        var slotsByName: [String: Int] = [:]
        func slot(_ name: String) -> Int {
            if let s = slotsByName[name] { return s }
            let s = slotsByName.count
            slotsByName[name] = s
            return s
        }

        // Values available before any node runs.
        var available = Set<String>()
        var constants: [(Int, Value)] = []
        for (name, tensor) in graph.initializers.sorted(by: { $0.key < $1.key }) {
            constants.append((slot(name), .tensor(tensor)))
            available.insert(name)
        }
        var inputSlots: [Int] = []
        for input in graph.inputs {
            guard !input.name.isEmpty else { throw ONNXRunError(.invalidModel, "graph '\(graph.name)' has an input without a name") }
            inputSlots.append(slot(input.name))
            available.insert(input.name)
        }

        // Every output name must be produced once.
        var producer: [String: Int] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for output in node.outputs where !output.isEmpty {
                if producer[output] != nil || available.contains(output) {
                    throw ONNXRunError(.invalidModel, "value '\(output)' is produced more than once", subject: node.label)
                }
                producer[output] = index
            }
        }

        // Topological order (Kahn), stable with respect to the model's node order.
        var captures: [(String, Int)] = []
        var capturedNames = Set<String>()
        var pending = [Int](repeating: 0, count: graph.nodes.count)
        var consumers = [[Int]](repeating: [], count: graph.nodes.count)
        for (index, node) in graph.nodes.enumerated() {
            var names = Set(node.inputs.filter { !$0.isEmpty })
            names.formUnion(Self.outerReferences(of: node))
            for name in names {
                if let p = producer[name] {
                    if p == index {
                        throw ONNXRunError(.invalidModel, "graph has a cycle: node reads its own output '\(name)'", subject: node.label)
                    }
                    pending[index] += 1
                    consumers[p].append(index)
                } else if available.contains(name) {
                    continue
                } else if outerNames.contains(name) {
                    if capturedNames.insert(name).inserted { captures.append((name, slot(name))) }
                } else {
                    throw ONNXRunError(.invalidModel, "input '\(name)' is not produced by any node, initializer or graph input (dangling edge)", subject: node.label)
                }
            }
        }
        var ready = (0..<graph.nodes.count).filter { pending[$0] == 0 }.reversed() as [Int]
        var order: [Int] = []
        order.reserveCapacity(graph.nodes.count)
        while let next = ready.popLast() {
            order.append(next)
            var newlyReady: [Int] = []
            for c in consumers[next] {
                pending[c] -= 1
                if pending[c] == 0 { newlyReady.append(c) }
            }
            ready.append(contentsOf: newlyReady.sorted(by: >))
            ready.sort(by: >)
        }
        if order.count != graph.nodes.count {
            let stuck = (0..<graph.nodes.count).filter { pending[$0] > 0 }.prefix(5).map { "\"\(graph.nodes[$0].name)\"" }
            throw ONNXRunError(.invalidModel, "graph '\(graph.name)' has a cycle through nodes \(stuck.joined(separator: ", "))")
        }

        // Graph outputs must exist.
        var outputSlots: [Int] = []
        for output in graph.outputs {
            guard producer[output.name] != nil || available.contains(output.name) || outerNames.contains(output.name) else {
                throw ONNXRunError(.invalidModel, "graph output '\(output.name)' is not produced by any node, initializer or input")
            }
            if producer[output.name] == nil && !available.contains(output.name) && capturedNames.insert(output.name).inserted {
                captures.append((output.name, slot(output.name)))
            }
            outputSlots.append(slot(output.name))
        }

        // Kernels, with unsupported operators collected and reported together.
        var kernels: [Int: any Kernel] = [:]
        var unsupported: [String: [String]] = [:]
        let visibleNames = outerNames.union(available).union(producer.keys)
        for index in order {
            let node = graph.nodes[index]
            let domain = node.domain == "ai.onnx" ? "" : node.domain
            guard let opset = opsets[domain] else {
                throw ONNXRunError(.invalidModel, "the model imports no opset for domain '\(domain)'", subject: node.label)
            }
            guard let factory = registry.factory(for: node.opType, domain: domain, opset: opset) else {
                let since = registry.earliestVersion(of: node.opType, domain: domain).map { " (implemented from opset \($0))" } ?? ""
                unsupported["\(node.opType) (domain '\(domain.isEmpty ? "ai.onnx" : domain)', opset \(opset))\(since)", default: []].append(node.name)
                continue
            }
            let constantInputs = node.inputs.map { name -> Tensor? in graph.initializers[name] }
            let context = KernelContext(
                node: node, opsetVersion: opset, constantInputs: constantInputs,
                compileSubgraph: { subgraph in
                    try ExecutionPlan(graph: subgraph, opsets: opsets, registry: registry, outerNames: visibleNames)
                },
                staticShapes: staticShapes)
            do {
                kernels[index] = try factory(context)
            } catch let error as ONNXRunError where error.code == .unsupportedOperator && error.subject == nil {
                // Unsupported operators inside a subgraph join the one report for the whole model.
                let nested = error.message.replacingOccurrences(of: "unsupported operators: ", with: "")
                for entry in nested.components(separatedBy: "; ") {
                    unsupported["\(entry) (inside \(node.label))", default: []].append(contentsOf: [])
                }
            } catch let error as ONNXRunError {
                throw error.about(node.label)
            }
        }
        if !unsupported.isEmpty {
            let list = unsupported.sorted { $0.key < $1.key }.map { op, nodes in
                if nodes.isEmpty { return op }
                let shown = nodes.prefix(5).map { "\"\($0)\"" }.joined(separator: ", ")
                return "\(op) used by \(nodes.count > 5 ? "\(shown) and \(nodes.count - 5) more" : shown)"
            }
            throw ONNXRunError(.unsupportedOperator, "unsupported operators: " + list.joined(separator: "; "))
        }

        // Liveness: free each slot after its last reader, unless it is a graph output or constant.
        var keep = Set(outputSlots)
        keep.formUnion(constants.map(\.0))
        var lastUse: [Int: Int] = [:]
        for (position, index) in order.enumerated() {
            let node = graph.nodes[index]
            for name in node.inputs where !name.isEmpty { lastUse[slot(name)] = position }
            // Values a subgraph reads from this scope must live until the node that owns it ran.
            for name in Self.outerReferences(of: node) where slotsByName[name] != nil { lastUse[slot(name)] = position }
        }
        var releases = [[Int]](repeating: [], count: order.count)
        for (s, position) in lastUse where !keep.contains(s) { releases[position].append(s) }

        steps = order.enumerated().map { position, index in
            let node = graph.nodes[index]
            return Step(
                node: node, kernel: kernels[index]!,
                inputs: node.inputs.map { $0.isEmpty ? -1 : slot($0) },
                outputs: node.outputs.map { $0.isEmpty ? -1 : slot($0) },
                release: releases[position].sorted())
        }
        self.constants = constants
        self.inputSlots = inputSlots
        self.outputSlots = outputSlots
        self.captures = captures
        self.slotsByName = slotsByName
        self.slotCount = slotsByName.count
    }

    /// Names a node's subgraph attributes read from outside themselves (transitively).
    static func outerReferences(of node: Node) -> Set<String> {
        var result = Set<String>()
        for attribute in node.attributes.values {
            switch attribute {
            case .graph(let g): result.formUnion(freeNames(of: g))
            case .graphs(let gs): for g in gs { result.formUnion(freeNames(of: g)) }
            default: break
            }
        }
        return result
    }

    /// Names a graph reads that it does not define itself.
    static func freeNames(of graph: Graph) -> Set<String> {
        var defined = Set(graph.initializers.keys)
        defined.formUnion(graph.inputs.map(\.name))
        for node in graph.nodes { defined.formUnion(node.outputs) }
        var free = Set<String>()
        for node in graph.nodes {
            for name in node.inputs where !name.isEmpty && !defined.contains(name) { free.insert(name) }
            for name in outerReferences(of: node) where !defined.contains(name) { free.insert(name) }
        }
        for output in graph.outputs where !defined.contains(output.name) { free.insert(output.name) }
        return free
    }

    /// Runs the plan. `inputs` follow the graph's declared inputs (nil: not fed, use the
    /// initializer if there is one). Captured outer values are read from `context.scope`.
    func run(inputs: [Value?], context: RunContext) throws -> [Value] {
        let frame = Frame(slotCount: slotCount, plan: self, parent: context.scope)
        for (slot, value) in constants { frame.slots[slot] = value }
        for (index, slot) in inputSlots.enumerated() {
            if index < inputs.count, let value = inputs[index] { frame.slots[slot] = value }
        }
        for (name, slot) in captures {
            guard let value = context.scope?.lookup(name) else {
                throw ONNXRunError(.invalidModel, "outer-scope value '\(name)' is not available to subgraph '\(graph.name)'")
            }
            frame.slots[slot] = value
        }
        var stepContext = context
        stepContext.scope = frame
        for step in steps {
            var arguments = [Value?]()
            arguments.reserveCapacity(step.inputs.count)
            for (position, slot) in step.inputs.enumerated() {
                if slot < 0 {
                    arguments.append(nil)
                } else if let value = frame.slots[slot] {
                    arguments.append(value)
                } else {
                    throw ONNXRunError(.invalidInput, "input '\(step.node.inputs[position])' has no value (was it fed?)", subject: step.node.label)
                }
            }
            let results: [Value]
            let start = context.profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            do {
                results = try step.kernel.run(arguments, stepContext)
            } catch let error as ONNXRunError {
                throw error.about(step.node.label)
            }
            if let profile = context.profile {
                profile.record(step.node, nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
            }
            guard results.count >= step.outputs.filter({ $0 >= 0 }).count else {
                throw ONNXRunError(.invalidModel, "produced \(results.count) outputs, the node declares \(step.outputs.count)", subject: step.node.label)
            }
            for (index, slot) in step.outputs.enumerated() where slot >= 0 && index < results.count {
                frame.slots[slot] = results[index]
            }
            for slot in step.release { frame.slots[slot] = nil }
        }
        return try outputSlots.enumerated().map { index, slot in
            guard let value = frame.slots[slot] else {
                throw ONNXRunError(.invalidModel, "graph output '\(graph.outputs[index].name)' was not computed")
            }
            return value
        }
    }
}

/// The values of one running graph, and the link to the graph that encloses it.
///
/// Used by one thread for the duration of one run, which is why it may be `@unchecked Sendable`.
final class Frame: @unchecked Sendable {
    var slots: [Value?]
    let plan: ExecutionPlan
    let parent: Frame?

    init(slotCount: Int, plan: ExecutionPlan, parent: Frame?) {
        slots = Array(repeating: nil, count: slotCount)
        self.plan = plan
        self.parent = parent
    }

    /// The current value of `name` in this frame or an enclosing one.
    func lookup(_ name: String) -> Value? {
        if let slot = plan.slotsByName[name], let value = slots[slot] { return value }
        return parent?.lookup(name)
    }
}
