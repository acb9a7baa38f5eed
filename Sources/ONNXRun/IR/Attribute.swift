/// A node attribute value, one case per ONNX `AttributeProto` kind.
public indirect enum Attribute: Sendable {
    case float(Float)
    case int(Int)
    case string(String)
    case tensor(Tensor)
    case graph(Graph)
    case type(ValueType)
    case floats([Float])
    case ints([Int])
    case strings([String])
    case tensors([Tensor])
    case graphs([Graph])
    case types([ValueType])
    /// Inside a function body: the value is the calling node's attribute of this name.
    case reference(String)

    /// A short name of the attribute kind, as used in error messages (`INT`, `FLOATS`, ...).
    public var kindName: String {
        switch self {
        case .float: "FLOAT"
        case .int: "INT"
        case .string: "STRING"
        case .tensor: "TENSOR"
        case .graph: "GRAPH"
        case .type: "TYPE_PROTO"
        case .floats: "FLOATS"
        case .ints: "INTS"
        case .strings: "STRINGS"
        case .tensors: "TENSORS"
        case .graphs: "GRAPHS"
        case .types: "TYPE_PROTOS"
        case .reference: "REFERENCE"
        }
    }
}
