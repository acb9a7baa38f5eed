/// Type and shape inference over the IR, with symbolic dimensions.
///
/// Walks a graph in order and gives every value an element type and a shape: fixed sizes where
/// the inputs allow, the model's symbolic names (`batch`, `seq`) where they flow through unchanged,
/// and unknown otherwise. Small integer values that describe shapes (`Shape → Gather → Concat →
/// Reshape`) are tracked symbolically too, so exporter shape chains resolve. Contradictions (two
/// fixed sizes that cannot broadcast, a MatMul whose inner sizes differ, a declared output shape
/// the graph cannot produce) are collected as issues naming the node; inference never throws.
public struct ShapeInference {
    /// A contradiction found while inferring.
    public struct Issue: Sendable, CustomStringConvertible {
        /// The node (`Conv node "conv1"`) or value the issue concerns.
        public let subject: String
        /// What does not agree, with the expected and actual types or shapes.
        public let message: String
        public var description: String { "\(subject): \(message)" }
    }

    /// The result: a type for every value that could be inferred, and the contradictions.
    public struct Result: Sendable {
        /// Inferred (or declared) type per value name, including nested subgraphs' values.
        public var types: [String: ValueType]
        /// Contradictions, in graph order.
        public var issues: [Issue]
        /// Fully known values of small integer tensors computed from shapes (`Shape`, and `Gather`,
        /// `Slice`, `Concat`, `Unsqueeze`, arithmetic on them), by value name.
        public var knownValues: [String: [Int]] = [:]

        /// The inferred shape of a tensor value, if known.
        public func shape(of name: String) -> [Dimension]? {
            if case .tensor(_, let shape)? = types[name] { return shape }
            return nil
        }

        /// The inferred element type of a tensor value, if known.
        public func elementType(of name: String) -> DataType? {
            if case .tensor(let t, _)? = types[name] { return t }
            return nil
        }
    }

    /// Infers `model`'s main graph (functions are expanded first). `inputShapes` overrides the declared
    /// shapes of graph inputs (for example to bind `batch` to 1 when estimating FLOPs).
    ///
    /// With `useValueInfo` false, declared types of intermediate values (`value_info`, which the
    /// runtime never checks) are ignored, so everything derived is implied by the graph inputs alone.
    public static func infer(_ model: Model, inputShapes: [String: [Int]] = [:], useValueInfo: Bool = true) -> Result {
        let expanded = (try? FunctionExpansion.expand(model)) ?? model
        var state = ShapeInference(opsets: expanded.opsetImports)
        state.useValueInfo = useValueInfo
        for (name, shape) in inputShapes {
            let declared = expanded.graph.inputs.first { $0.name == name }
            if case .tensor(let t, _)? = declared?.type {
                state.overrides[name] = .tensor(elementType: t, shape: shape.map { .known($0) })
            }
        }
        state.run(expanded.graph)
        var known: [String: [Int]] = [:]
        for (name, dims) in state.values {
            let ints = dims.compactMap(\.value)
            if ints.count == dims.count { known[name] = ints }
        }
        return Result(types: state.types, issues: state.issues, knownValues: known)
    }

    // MARK: - State

    let opsets: [String: Int]
    var types: [String: ValueType] = [:]
    /// Known values of small integer tensors (shapes, axes, indices): one dimension per element.
    var values: [String: [Dimension]] = [:]
    /// Values of small float constants (Resize's scales).
    var floatValues: [String: [Float]] = [:]
    var issues: [Issue] = []
    var overrides: [String: ValueType] = [:]
    var useValueInfo = true

    init(opsets: [String: Int]) { self.opsets = opsets }

    mutating func run(_ graph: Graph) {
        for input in graph.inputs {
            if let type = overrides[input.name] ?? input.type { types[input.name] = type }
        }
        for (name, tensor) in graph.initializers {
            types[name] = .tensor(elementType: tensor.dataType, shape: tensor.shape.map { .known($0) })
            recordValue(name, tensor)
        }
        let declared = useValueInfo ? Dictionary(graph.valueInfo.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }) : [:]
        for node in graph.nodes {
            let inferred = infer(node)
            for (index, output) in node.outputs.enumerated() where !output.isEmpty {
                let type = index < inferred.count ? inferred[index] : nil
                let declaredType = declared[output]?.type
                if let type, let declaredType { check(declaredType, against: type, value: output, node: node) }
                types[output] = merge(type, declaredType)
            }
        }
        for output in graph.outputs {
            guard let declaredType = output.type, let type = types[output.name] else { continue }
            check(declaredType, against: type, value: output.name, node: nil)
        }
    }

    // MARK: - Helpers

    /// A tensor type with an element type and shape.
    static func tensor(_ t: DataType?, _ shape: [Dimension]?) -> ValueType { .tensor(elementType: t, shape: shape) }

    func elementType(_ name: String) -> DataType? {
        if case .tensor(let t, _)? = types[name] { return t }
        return nil
    }

    func shape(_ name: String) -> [Dimension]? {
        guard !name.isEmpty, case .tensor(_, let s)? = types[name] else { return nil }
        return s
    }

    mutating func report(_ node: Node?, _ message: String, value: String? = nil) {
        let subject = node?.label ?? "output '\(value ?? "?")'"
        issues.append(Issue(subject: subject, message: message))
    }

    mutating func recordValue(_ name: String, _ tensor: Tensor) {
        if tensor.rank <= 1, tensor.count <= 64, tensor.dataType == .float, let floats = try? tensor.scalars(as: Float.self) {
            floatValues[name] = floats
        }
        guard tensor.rank <= 1, tensor.count <= 64, tensor.dataType == .int64 || tensor.dataType == .int32,
              let ints = try? Conversion.integers(tensor) else { return }
        values[name] = ints.map { .known($0) }
    }

    /// Declared information fills in what inference left open.
    func merge(_ inferred: ValueType?, _ declared: ValueType?) -> ValueType? {
        guard case .tensor(let t1, let s1)? = inferred else { return inferred ?? declared }
        guard case .tensor(let t2, let s2)? = declared else { return inferred }
        var shape = s1 ?? s2
        if let a = s1, let b = s2, a.count == b.count {
            shape = zip(a, b).map { x, y in if case .unknown = x { return y } else { return x } }
        }
        return .tensor(elementType: t1 ?? t2, shape: shape)
    }

    /// Reports when a declared type contradicts the inferred one (different element type, rank, or fixed size).
    mutating func check(_ declared: ValueType, against inferred: ValueType, value: String, node: Node?) {
        guard case .tensor(let dt, let ds) = declared, case .tensor(let it, let ishape) = inferred else { return }
        let subject = node.map { "\($0.label) output '\(value)'" } ?? "graph output '\(value)'"
        if let dt, let it, dt != it {
            issues.append(Issue(subject: subject, message: "declared element type \(dt), but the graph computes \(it)"))
            return
        }
        guard let ds, let ishape else { return }
        if ds.count != ishape.count {
            issues.append(Issue(subject: subject, message: "declared rank \(ds.count) \(Self.text(ds)), but the graph computes rank \(ishape.count) \(Self.text(ishape))"))
            return
        }
        for (d, i) in zip(ds, ishape) {
            if let a = d.value, let b = i.value, a != b {
                issues.append(Issue(subject: subject, message: "declared shape \(Self.text(ds)), but the graph computes \(Self.text(ishape))"))
                return
            }
        }
    }

    /// `[batch,3,224,224]`.
    static func text(_ shape: [Dimension]) -> String { "[" + shape.map(\.description).joined(separator: ",") + "]" }

    /// Normalizes a possibly negative axis; nil when out of range.
    static func axis(_ a: Int, rank: Int) -> Int? {
        let r = a < 0 ? a + rank : a
        return r >= 0 && r < rank ? r : nil
    }

    /// Known integer values of an input (attribute-free constant or tracked shape value).
    func knownInts(_ name: String) -> [Int]? {
        guard let v = values[name] else { return nil }
        let ints = v.compactMap(\.value)
        return ints.count == v.count ? ints : nil
    }

    var defaultOpset: Int { opsets[""] ?? opsets["ai.onnx"] ?? 1 }
}
