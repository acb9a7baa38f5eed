/// One operator application in a graph.
public struct Node: Sendable {
    /// The node's name (may be empty in the model; the loader fills in a unique one).
    public var name: String
    /// The operator, e.g. `Conv`.
    public var opType: String
    /// The operator set domain; `""` is the default ONNX domain (`ai.onnx`).
    public var domain: String
    /// Input value names; an empty string marks an omitted optional input.
    public var inputs: [String]
    /// Output value names; an empty string marks an unused optional output.
    public var outputs: [String]
    /// Attributes by name.
    public var attributes: [String: Attribute]
    /// Free-form documentation.
    public var docString: String

    /// Creates a node.
    public init(
        name: String, opType: String, domain: String = "", inputs: [String], outputs: [String],
        attributes: [String: Attribute] = [:], docString: String = ""
    ) {
        self.name = name
        self.opType = opType
        self.domain = domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
        self.docString = docString
    }

    /// A description such as `Conv node "conv1"` for messages.
    public var label: String { "\(opType) node \"\(name)\"" }

    /// The value of an INT attribute; nil when it is absent or of another kind.
    func intAttribute(_ name: String) -> Int? {
        if case .int(let v)? = attributes[name] { return v }
        return nil
    }

    /// The value of a FLOAT attribute; nil when it is absent or of another kind.
    func floatAttribute(_ name: String) -> Float? {
        if case .float(let v)? = attributes[name] { return v }
        return nil
    }

    /// The value of an INTS attribute; nil when it is absent or of another kind.
    func intsAttribute(_ name: String) -> [Int]? {
        if case .ints(let v)? = attributes[name] { return v }
        return nil
    }

    /// The value of a STRING attribute; nil when it is absent or of another kind.
    func stringAttribute(_ name: String) -> String? {
        if case .string(let v)? = attributes[name] { return v }
        return nil
    }
}

/// A computation graph: nodes plus the values flowing into and out of it.
public struct Graph: Sendable {
    /// The graph's name.
    public var name: String
    /// Nodes in the order the model lists them (not necessarily topological).
    public var nodes: [Node]
    /// Declared inputs, including any that also have an initializer (those are optional to feed).
    public var inputs: [ValueInfo]
    /// Declared outputs.
    public var outputs: [ValueInfo]
    /// Constant tensors by name (sparse initializers are densified by the loader).
    public var initializers: [String: Tensor]
    /// Type annotations of intermediate values.
    public var valueInfo: [ValueInfo]
    /// Free-form documentation.
    public var docString: String

    /// Creates a graph.
    public init(
        name: String = "", nodes: [Node], inputs: [ValueInfo], outputs: [ValueInfo],
        initializers: [String: Tensor] = [:], valueInfo: [ValueInfo] = [], docString: String = ""
    ) {
        self.name = name
        self.nodes = nodes
        self.inputs = inputs
        self.outputs = outputs
        self.initializers = initializers
        self.valueInfo = valueInfo
        self.docString = docString
    }

    /// The inputs a caller must or may feed: declared inputs without an initializer.
    public var feedInputs: [ValueInfo] { inputs.filter { initializers[$0.name] == nil } }
}

/// A model-local function: a named, reusable subgraph called like an operator.
public struct Function: Sendable {
    /// The operator name it defines.
    public var name: String
    /// The domain it defines the operator in.
    public var domain: String
    /// Distinguishes functions with the same name and domain.
    public var overload: String
    /// Formal input names.
    public var inputs: [String]
    /// Formal output names.
    public var outputs: [String]
    /// Attribute names the function accepts, with defaults where the model gives them.
    public var attributeNames: [String]
    /// Default attribute values.
    public var attributeDefaults: [String: Attribute]
    /// The body.
    public var nodes: [Node]
    /// Opsets the body uses.
    public var opsetImports: [String: Int]

    /// Creates a function.
    public init(
        name: String, domain: String, overload: String = "", inputs: [String], outputs: [String],
        attributeNames: [String] = [], attributeDefaults: [String: Attribute] = [:], nodes: [Node],
        opsetImports: [String: Int]
    ) {
        self.name = name
        self.domain = domain
        self.overload = overload
        self.inputs = inputs
        self.outputs = outputs
        self.attributeNames = attributeNames
        self.attributeDefaults = attributeDefaults
        self.nodes = nodes
        self.opsetImports = opsetImports
    }
}

/// A loaded ONNX model: metadata, opsets, the main graph and local functions.
public struct Model: Sendable {
    /// The IR version the file declares.
    public var irVersion: Int
    /// Opset version per domain (`""` is the default ONNX domain).
    public var opsetImports: [String: Int]
    /// The tool that produced the model.
    public var producerName: String
    /// The producing tool's version.
    public var producerVersion: String
    /// The model's domain (reverse-DNS name).
    public var domain: String
    /// The model's own version number.
    public var modelVersion: Int
    /// Free-form documentation.
    public var docString: String
    /// Key/value metadata.
    public var metadata: [String: String]
    /// The main graph.
    public var graph: Graph
    /// Model-local functions.
    public var functions: [Function]

    /// Creates a model.
    public init(
        irVersion: Int = 10, opsetImports: [String: Int], producerName: String = "",
        producerVersion: String = "", domain: String = "", modelVersion: Int = 0, docString: String = "",
        metadata: [String: String] = [:], graph: Graph, functions: [Function] = []
    ) {
        self.irVersion = irVersion
        self.opsetImports = opsetImports
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.domain = domain
        self.modelVersion = modelVersion
        self.docString = docString
        self.metadata = metadata
        self.graph = graph
        self.functions = functions
    }
}
