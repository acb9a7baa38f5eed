/// A compiled operator: created once per node when a session is planned, then run many times.
///
/// Creation (the registry's factory) parses and validates attributes and may pre-pack constant
/// weights; `run` should only check what depends on the actual inputs and compute.
protocol Kernel: Sendable {
    /// Computes the node's outputs. `inputs[i]` is `nil` for an omitted optional input.
    /// Returns one value per declared output (unused optional outputs may be any placeholder).
    func run(_ inputs: [Value?], _ context: RunContext) throws -> [Value]
}

/// A kernel whose inputs and outputs are all tensors (most operators).
protocol TensorKernel: Kernel {
    /// Computes output tensors from input tensors; `nil` marks an omitted optional input.
    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor]
}

extension TensorKernel {
    func run(_ inputs: [Value?], _ context: RunContext) throws -> [Value] {
        var tensors = [Tensor?]()
        tensors.reserveCapacity(inputs.count)
        for (index, input) in inputs.enumerated() {
            switch input {
            case nil: tensors.append(nil)
            case .tensor(let t)?: tensors.append(t)
            case let other?:
                throw ONNXRunError(.invalidInput, "input \(index) must be a tensor, got \(other.typeDescription)")
            }
        }
        return try compute(tensors, context).map(Value.tensor)
    }
}

/// Settings and shared resources available to kernels while a plan runs.
struct RunContext: Sendable {
    /// Threads kernels may use.
    var threads: Int
    /// The frame of the graph being run, through which subgraphs read outer-scope values.
    var scope: Frame? = nil
    /// Where step times are recorded, when the caller asked for a profile.
    var profile: RunProfile? = nil
}

/// Everything known about a node when its kernel is created.
struct KernelContext {
    /// The node being compiled.
    let node: Node
    /// The opset version in effect for the node's domain.
    let opsetVersion: Int
    /// Input tensors whose values are fixed at plan time (initializers), by input position.
    let constantInputs: [Tensor?]
    /// Compiles a subgraph attribute (If/Loop/Scan bodies) in the scope of this node.
    let compileSubgraph: (Graph) throws -> ExecutionPlan
    /// Shapes every run agrees on, when the plan knows them (a session's main graph).
    var staticShapes: StaticShapes? = nil

    /// Number of inputs the node lists, including omitted optional ones at the end.
    var inputCount: Int { node.inputs.count }
    /// True when input `i` is present (listed and not empty).
    func hasInput(_ i: Int) -> Bool { i < node.inputs.count && !node.inputs[i].isEmpty }

    /// The shape input `i` has in every run, or nil when it is absent, symbolic or not known at plan time.
    func staticShape(ofInput i: Int) -> [Int]? {
        hasInput(i) ? staticShapes?.shape(of: node.inputs[i]) : nil
    }

    /// Throws unless the node has between `min` and `max` inputs.
    func expectInputs(_ min: Int, _ max: Int? = nil) throws {
        let present = node.inputs.count
        let upper = max ?? min
        guard present >= min && present <= upper else {
            let range = min == upper ? "\(min)" : "\(min) to \(upper)"
            throw error(.invalidModel, "expects \(range) inputs, has \(present)")
        }
    }

    /// An error about this node.
    func error(_ code: ONNXRunError.Code, _ message: String) -> ONNXRunError {
        ONNXRunError(code, message, subject: node.label)
    }

    // MARK: Attributes

    private func attribute(_ name: String) -> Attribute? { node.attributes[name] }

    private func wrongKind(_ name: String, _ expected: String, _ actual: Attribute) -> ONNXRunError {
        error(.invalidAttribute, "attribute '\(name)' must be \(expected), got \(actual.kindName)")
    }

    /// An INT attribute, or `defaultValue` when absent.
    func int(_ name: String, default defaultValue: Int) throws -> Int {
        try int(name) ?? defaultValue
    }

    /// An INT attribute, or nil when absent.
    func int(_ name: String) throws -> Int? {
        guard let a = attribute(name) else { return nil }
        guard case .int(let v) = a else { throw wrongKind(name, "INT", a) }
        return v
    }

    /// A FLOAT attribute, or `defaultValue` when absent.
    func float(_ name: String, default defaultValue: Float) throws -> Float {
        try float(name) ?? defaultValue
    }

    /// A FLOAT attribute, or nil when absent.
    func float(_ name: String) throws -> Float? {
        guard let a = attribute(name) else { return nil }
        switch a {
        case .float(let v): return v
        case .int(let v): return Float(v)  // some exporters write integral floats as INT
        default: throw wrongKind(name, "FLOAT", a)
        }
    }

    /// A STRING attribute, or `defaultValue` when absent.
    func string(_ name: String, default defaultValue: String) throws -> String {
        try string(name) ?? defaultValue
    }

    /// A STRING attribute, or nil when absent.
    func string(_ name: String) throws -> String? {
        guard let a = attribute(name) else { return nil }
        guard case .string(let v) = a else { throw wrongKind(name, "STRING", a) }
        return v
    }

    /// An INTS attribute, or nil when absent.
    func ints(_ name: String) throws -> [Int]? {
        guard let a = attribute(name) else { return nil }
        switch a {
        case .ints(let v): return v
        case .int(let v): return [v]
        default: throw wrongKind(name, "INTS", a)
        }
    }

    /// A FLOATS attribute, or nil when absent.
    func floats(_ name: String) throws -> [Float]? {
        guard let a = attribute(name) else { return nil }
        switch a {
        case .floats(let v): return v
        case .float(let v): return [v]
        default: throw wrongKind(name, "FLOATS", a)
        }
    }

    /// A STRINGS attribute, or nil when absent.
    func strings(_ name: String) throws -> [String]? {
        guard let a = attribute(name) else { return nil }
        guard case .strings(let v) = a else { throw wrongKind(name, "STRINGS", a) }
        return v
    }

    /// A TENSOR attribute, or nil when absent.
    func tensor(_ name: String) throws -> Tensor? {
        guard let a = attribute(name) else { return nil }
        guard case .tensor(let v) = a else { throw wrongKind(name, "TENSOR", a) }
        return v
    }

    /// A GRAPH attribute, or nil when absent.
    func graph(_ name: String) throws -> Graph? {
        guard let a = attribute(name) else { return nil }
        guard case .graph(let v) = a else { throw wrongKind(name, "GRAPH", a) }
        return v
    }

    /// A required attribute: throws when absent.
    func required<T>(_ name: String, _ read: (String) throws -> T?) throws -> T {
        guard let v = try read(name) else { throw error(.invalidAttribute, "missing required attribute '\(name)'") }
        return v
    }
}
