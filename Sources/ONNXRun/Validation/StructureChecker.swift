/// The structural checks of `validate`, in the spirit of `onnx.checker`'s full check: versions and
/// opset imports, names defined before use (with outer scopes for subgraphs), single assignment,
/// graph input and output types, initializers against their declarations, node arity and
/// attributes against the operator schema, element types against type constraints, and
/// model-local functions.
struct StructureChecker {
    let model: Model
    var findings: [ValidationFinding] = []
    /// Model-local functions by domain and name.
    let functions: [String: Function]

    init(model: Model) {
        self.model = model
        var functions: [String: Function] = [:]
        for f in model.functions { functions["\(f.domain)|\(f.name)"] = f }
        self.functions = functions
    }

    mutating func error(_ check: String, _ message: String, _ subject: String? = nil) {
        findings.append(ValidationFinding(.error, check, message, subject: subject))
    }

    mutating func warning(_ check: String, _ message: String, _ subject: String? = nil) {
        findings.append(ValidationFinding(.warning, check, message, subject: subject))
    }

    static func domainName(_ domain: String) -> String { domain.isEmpty ? "ai.onnx" : domain }

    // MARK: - Model

    /// Runs every check; `types` is the model's shape inference, for the type-constraint check.
    mutating func checkModel(opsetLimit: Int?, types: ShapeInference.Result) {
        let newestIR = OperatorSchemas.newestIRVersion
        if model.irVersion < 1 {
            error("model", "ir_version \(model.irVersion) is not a valid IR version (1...\(newestIR))")
        } else if model.irVersion > newestIR {
            error("model", "ir_version \(model.irVersion) is newer than this runtime knows (up to \(newestIR))")
        }
        if model.irVersion >= 3 && model.opsetImports.isEmpty {
            error("model", "the model imports no opset (opset_import is empty)")
        }
        for (domain, version) in model.opsetImports.sorted(by: { $0.key < $1.key }) {
            let name = Self.domainName(domain)
            if version < 1 {
                error("model", "opset import of '\(name)' has version \(version); versions start at 1")
            } else if let newest = OperatorSchemas.knownDomains[domain == "ai.onnx" ? "" : domain], version > newest {
                error("model", "imports opset \(version) of '\(name)', newer than this runtime knows (up to \(newest))")
            }
        }
        if let limit = opsetLimit, let version = model.opsetImports[""] ?? model.opsetImports["ai.onnx"], version > limit {
            error("model", "imports ai.onnx opset \(version), above the limit \(limit) set by --opset-limit")
        }
        var seen = Set<String>()
        for f in model.functions {
            if !seen.insert("\(f.domain)|\(f.name)|\(f.overload)").inserted {
                error("function", "function '\(f.name)' (domain '\(f.domain)') is defined more than once")
            }
        }
        checkGraph(model.graph, outer: [], opsets: model.opsetImports, path: "graph '\(model.graph.name)'", isMain: true)
        for f in model.functions { checkFunction(f) }
        checkTypes(types)
    }

    // MARK: - Graphs

    /// Checks one graph; `outer` holds names visible from enclosing graphs. Only the main graph must
    /// declare input and output types (subgraphs may leave them to inference, as in onnx.checker).
    mutating func checkGraph(_ graph: Graph, outer: Set<String>, opsets: [String: Int], path: String, isMain: Bool = false) {
        var defined = Set<String>()
        for input in graph.inputs {
            if input.name.isEmpty { error("graph", "\(path) has an input without a name") }
            if !defined.insert(input.name).inserted { error("graph", "\(path) declares input '\(input.name)' twice") }
            if input.type == nil && isMain { error("graph", "graph input '\(input.name)' has no type") }
        }
        let declared = Dictionary(graph.inputs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, tensor) in graph.initializers.sorted(by: { $0.key < $1.key }) {
            defined.insert(name)
            guard let info = declared[name], case .tensor(let type, let shape)? = info.type else { continue }
            if let type, type != tensor.dataType {
                error("graph", "initializer is \(tensor.dataType) but the input declares \(type)", "initializer '\(name)'")
            }
            if let shape {
                let matches = shape.count == tensor.rank && zip(shape, tensor.shape).allSatisfy { d, n in d.value.map { $0 == n } ?? true }
                if !matches {
                    error("graph", "initializer has shape \(tensor.shape) but the input declares \(ShapeInference.text(shape))", "initializer '\(name)'")
                }
            }
        }
        let producerIndex = graph.producerIndices
        var producer: [String: String] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for input in node.inputs where !input.isEmpty && !defined.contains(input) && !outer.contains(input) {
                if producerIndex[input] == index {
                    error("graph", "input '\(input)' is the node's own output (a cycle)", node.label)
                } else if let later = producerIndex[input] {
                    error("graph", "input '\(input)' is used before \(graph.nodes[later].label) produces it (nodes must be in topological order)", node.label)
                } else {
                    error("graph", "input '\(input)' is not produced by any node, initializer or graph input (dangling edge)", node.label)
                }
            }
            for attribute in node.attributes.values {
                let scope = outer.union(defined)
                switch attribute {
                case .graph(let g): checkGraph(g, outer: scope, opsets: opsets, path: "subgraph '\(g.name)' of \(node.label)")
                case .graphs(let gs): for g in gs { checkGraph(g, outer: scope, opsets: opsets, path: "subgraph '\(g.name)' of \(node.label)") }
                default: break
                }
            }
            checkSchema(node, opsets: opsets)
            for output in node.outputs where !output.isEmpty {
                if let other = producer[output] {
                    error("graph", "output '\(output)' is also produced by \(other) (every value must be assigned once)", node.label)
                } else if defined.contains(output) {
                    error("graph", "output '\(output)' overwrites a graph input or initializer of the same name", node.label)
                }
                producer[output] = node.label
                defined.insert(output)
            }
        }
        for output in graph.outputs {
            if output.type == nil && isMain { error("graph", "graph output '\(output.name)' has no type") }
            if !defined.contains(output.name) && !outer.contains(output.name) {
                error("graph", "graph output '\(output.name)' is not produced by any node, initializer or input", path)
            }
        }
    }

    // MARK: - Schemas

    mutating func checkSchema(_ node: Node, opsets: [String: Int]) {
        let domain = node.domain == "ai.onnx" ? "" : node.domain
        guard let opset = opsets[domain] else {
            error("schema", "uses domain '\(Self.domainName(domain))', which the model does not import (opset_import)", node.label)
            return
        }
        if let function = functions["\(domain)|\(node.opType)"] {
            if node.inputs.count > function.inputs.count || node.outputs.count > function.outputs.count {
                error("schema", "calls function '\(function.name)' with \(node.inputs.count) inputs and \(node.outputs.count) outputs; it takes \(function.inputs.count) and \(function.outputs.count)", node.label)
            }
            return
        }
        guard OperatorSchemas.knownDomains[domain] != nil else { return } // custom domain: only the support check applies
        guard let schema = OperatorSchemas.schema(node.opType, domain: domain, opset: opset) else {
            let versions = OperatorSchemas.versions(of: node.opType, domain: domain)
            if let first = versions.first {
                error("schema", "\(node.opType) does not exist at \(Self.domainName(domain)) opset \(opset); it was introduced in opset \(first)", node.label)
            } else {
                error("schema", "'\(node.opType)' is not an operator of domain '\(Self.domainName(domain))'", node.label)
            }
            return
        }
        let at = "\(node.opType)-\(schema.sinceVersion)"
        if schema.deprecated {
            error("schema", "\(node.opType) is deprecated at opset \(opset) (removed from the standard)", node.label)
        }
        if !schema.inputCount.contains(node.inputs.count) {
            error("schema", "has \(node.inputs.count) inputs; \(at) takes \(Self.range(schema.inputCount))", node.label)
        }
        if !schema.outputCount.contains(node.outputs.count) {
            error("schema", "has \(node.outputs.count) outputs; \(at) produces \(Self.range(schema.outputCount))", node.label)
        }
        for (index, formal) in schema.inputs.enumerated() where formal.option == .single && index < node.inputs.count && node.inputs[index].isEmpty {
            error("schema", "required input \(index) ('\(formal.name)') is empty", node.label)
        }
        for (name, value) in node.attributes.sorted(by: { $0.key < $1.key }) {
            guard let spec = schema.attributes[name] else {
                let accepted = schema.attributes.keys.sorted().joined(separator: ", ")
                error("schema", "unknown attribute '\(name)'; \(at) accepts \(accepted.isEmpty ? "no attributes" : accepted)", node.label)
                continue
            }
            if case .reference = value { continue }
            let kind = value.kindName
            let compatible = kind == spec.kind || (kind == "TENSOR" && spec.kind == "SPARSE_TENSOR")
            if !compatible {
                error("schema", "attribute '\(name)' is \(kind), but \(at) expects \(spec.kind)", node.label)
            }
        }
        for spec in schema.attributes.values.sorted(by: { $0.name < $1.name }) where spec.required && node.attributes[spec.name] == nil {
            error("schema", "required attribute '\(spec.name)' (\(spec.kind)) is missing", node.label)
        }
    }

    static func range(_ r: ClosedRange<Int>) -> String {
        if r.lowerBound == r.upperBound { return "exactly \(r.lowerBound)" }
        if r.upperBound >= Int(Int32.max) { return "at least \(r.lowerBound)" }
        return "\(r.lowerBound) to \(r.upperBound)"
    }

    // MARK: - Element types

    /// Checks the main graph's element types, as `inference` found them, against the schemas' type constraints.
    mutating func checkTypes(_ inference: ShapeInference.Result) {
        for node in model.graph.nodes {
            let domain = node.domain == "ai.onnx" ? "" : node.domain
            guard let opset = model.opsetImports[domain], functions["\(domain)|\(node.opType)"] == nil,
                  let schema = OperatorSchemas.schema(node.opType, domain: domain, opset: opset) else { continue }
            var bound: [String: (DataType, String)] = [:]
            for (index, input) in node.inputs.enumerated() where !input.isEmpty {
                guard let formal = index < schema.inputs.count ? schema.inputs[index] : (schema.inputs.last?.option == .variadic || schema.inputs.last?.option == .heterogeneous ? schema.inputs.last : nil),
                      let type = inference.elementType(of: input) else { continue }
                if let allowed = schema.typeConstraints[formal.typeString] ?? (formal.typeString.hasPrefix("tensor(") ? [formal.typeString] : nil),
                   allowed.contains(where: { $0.hasPrefix("tensor(") }), !allowed.contains("tensor(\(type))") {
                    let names = allowed.filter { $0.hasPrefix("tensor(") }.map { String($0.dropFirst(7).dropLast()) }.sorted().joined(separator: ", ")
                    error("types", "input '\(input)' is \(type), but \(node.opType)-\(schema.sinceVersion) accepts \(formal.typeString == formal.name ? "" : formal.typeString + " in "){\(names)}", node.label)
                    continue
                }
                if formal.option == .heterogeneous { continue }
                if let (other, otherName) = bound[formal.typeString], other != type {
                    error("types", "inputs '\(otherName)' (\(other)) and '\(input)' (\(type)) must have the same type \(formal.typeString)", node.label)
                } else {
                    bound[formal.typeString] = (type, input)
                }
            }
        }
    }

    // MARK: - Functions

    mutating func checkFunction(_ f: Function) {
        let subject = "function '\(f.name)'"
        let opsets = f.opsetImports.isEmpty ? model.opsetImports : f.opsetImports
        var defined = Set<String>()
        for input in f.inputs where !defined.insert(input).inserted {
            error("function", "declares input '\(input)' twice", subject)
        }
        let attributes = Set(f.attributeNames).union(f.attributeDefaults.keys)
        for node in f.nodes {
            for input in node.inputs where !input.isEmpty && !defined.contains(input) {
                error("function", "\(node.label) reads '\(input)', which is neither a function input nor an earlier node's output", subject)
            }
            for (name, value) in node.attributes {
                if case .reference(let ref) = value, !attributes.contains(ref) {
                    error("function", "\(node.label) attribute '\(name)' refers to '\(ref)', which the function does not declare", subject)
                }
            }
            let domain = node.domain == "ai.onnx" ? "" : node.domain
            if opsets[domain] == nil && functions["\(domain)|\(node.opType)"] == nil {
                error("function", "\(node.label) uses domain '\(Self.domainName(domain))', which the function does not import", subject)
            } else {
                checkSchema(node, opsets: opsets)
            }
            for output in node.outputs where !output.isEmpty {
                if !defined.insert(output).inserted { error("function", "\(node.label) output '\(output)' is assigned twice", subject) }
            }
        }
        for output in f.outputs where !defined.contains(output) {
            error("function", "output '\(output)' is not produced by any node of the function", subject)
        }
    }
}
