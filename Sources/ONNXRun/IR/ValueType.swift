/// One dimension of a tensor shape as declared in a model: a number, a symbolic name, or unknown.
public enum Dimension: Hashable, Sendable, CustomStringConvertible {
    /// A fixed size.
    case known(Int)
    /// A named size such as `batch`, shared by every dimension with the same name.
    case symbolic(String)
    /// A size the model leaves open.
    case unknown

    /// The size when it is fixed.
    public var value: Int? {
        if case .known(let v) = self { return v }
        return nil
    }

    public var description: String {
        switch self {
        case .known(let v): String(v)
        case .symbolic(let name): name
        case .unknown: "?"
        }
    }
}

/// The declared type of a graph value: a tensor, sequence, optional or map.
public indirect enum ValueType: Hashable, Sendable, CustomStringConvertible {
    /// A tensor with an element type and, when declared, a shape.
    case tensor(elementType: DataType?, shape: [Dimension]?)
    /// A sparse tensor (declared only; stored densely at run time).
    case sparseTensor(elementType: DataType?, shape: [Dimension]?)
    /// A sequence of values of one type.
    case sequence(ValueType?)
    /// A value that may be absent.
    case optional(ValueType?)
    /// A map from a scalar key type to values.
    case map(key: DataType?, value: ValueType?)
    /// A type the model names but the runtime does not interpret.
    case opaque(domain: String, name: String)

    public var description: String {
        switch self {
        case .tensor(let t, let shape), .sparseTensor(let t, let shape):
            let kind = if case .tensor = self { "tensor" } else { "sparse_tensor" }
            let dims = shape.map { "[" + $0.map(\.description).joined(separator: ",") + "]" } ?? ""
            return "\(kind)(\(t?.description ?? "?"))\(dims)"
        case .sequence(let e): return "seq(\(e?.description ?? "?"))"
        case .optional(let e): return "optional(\(e?.description ?? "?"))"
        case .map(let k, let v): return "map(\(k?.description ?? "?"),\(v?.description ?? "?"))"
        case .opaque(let d, let n): return "opaque(\(d).\(n))"
        }
    }
}

/// A named, typed value declared by a graph: an input, an output, or an annotated intermediate.
public struct ValueInfo: Sendable, Hashable {
    /// The value's name, unique within its graph.
    public var name: String
    /// The declared type, if the model gives one.
    public var type: ValueType?
    /// Free-form documentation from the model.
    public var docString: String

    /// Creates a value declaration.
    public init(name: String, type: ValueType?, docString: String = "") {
        self.name = name
        self.type = type
        self.docString = docString
    }
}
