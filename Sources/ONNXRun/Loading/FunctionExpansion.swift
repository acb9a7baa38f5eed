/// Inlines calls to model-local functions, so the runtime only sees operators it has kernels for.
enum FunctionExpansion {
    /// Deepest chain of function calls expanded before giving up (guards against recursion).
    static let maximumDepth = 32

    /// The model with every call to one of its local functions replaced by the function's body.
    static func expand(_ model: Model) throws -> Model {
        guard !model.functions.isEmpty else { return model }
        var functions: [String: Function] = [:]
        for f in model.functions { functions[key(f.domain, f.name)] = f }
        var result = model
        var counter = 0
        result.graph = try expand(model.graph, functions: functions, depth: 0, counter: &counter)
        for f in model.functions {
            for (domain, version) in f.opsetImports where result.opsetImports[domain] == nil {
                result.opsetImports[domain] = version
            }
        }
        return result
    }

    private static func key(_ domain: String, _ name: String) -> String { domain + "::" + name }

    private static func expand(_ graph: Graph, functions: [String: Function], depth: Int, counter: inout Int) throws -> Graph {
        var result = graph
        result.nodes = try expand(nodes: graph.nodes, functions: functions, depth: depth, counter: &counter)
        return result
    }

    private static func expand(nodes: [Node], functions: [String: Function], depth: Int, counter: inout Int) throws -> [Node] {
        var output: [Node] = []
        for var node in nodes {
            for (name, attribute) in node.attributes {
                switch attribute {
                case .graph(let g): node.attributes[name] = .graph(try expand(g, functions: functions, depth: depth, counter: &counter))
                case .graphs(let gs): node.attributes[name] = .graphs(try gs.map { try expand($0, functions: functions, depth: depth, counter: &counter) })
                default: break
                }
            }
            guard let function = functions[key(node.domain, node.opType)] else {
                output.append(node)
                continue
            }
            guard depth < maximumDepth else {
                throw ONNXRunError(.invalidModel, "function calls nest more than \(maximumDepth) levels (recursive function?)", subject: node.label)
            }
            counter += 1
            let prefix = "\(node.name)/\(function.name)#\(counter)/"
            var rename: [String: String] = [:]
            for (i, formal) in function.inputs.enumerated() { rename[formal] = i < node.inputs.count ? node.inputs[i] : "" }
            for (i, formal) in function.outputs.enumerated() { rename[formal] = i < node.outputs.count ? node.outputs[i] : prefix + formal }
            func mapped(_ name: String) -> String {
                if name.isEmpty { return "" }
                return rename[name] ?? prefix + name
            }
            var body: [Node] = []
            for inner in function.nodes {
                var copy = inner
                copy.name = prefix + inner.name
                copy.inputs = inner.inputs.map(mapped)
                copy.outputs = inner.outputs.map(mapped)
                for (name, attribute) in inner.attributes {
                    if case .reference(let ref) = attribute {
                        copy.attributes[name] = node.attributes[ref] ?? function.attributeDefaults[ref]
                    }
                }
                body.append(copy)
            }
            output.append(contentsOf: try expand(nodes: body, functions: functions, depth: depth + 1, counter: &counter))
        }
        return output
    }
}
