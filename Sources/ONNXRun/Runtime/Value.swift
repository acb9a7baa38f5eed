/// A runtime value flowing along a graph edge: a tensor, a sequence, an optional or a map.
public indirect enum Value: Sendable {
    /// A tensor.
    case tensor(Tensor)
    /// An ordered sequence of values (usually tensors).
    case sequence([Value])
    /// A value that may be absent (`nil`).
    case optional(Value?)
    /// A map from scalar keys (a 1-D tensor) to the values at the same positions.
    case map(keys: Tensor, values: [Value])

    /// The tensor, when this value is one.
    public var tensor: Tensor? {
        if case .tensor(let t) = self { return t }
        return nil
    }

    /// A short type description for messages, e.g. `tensor(float)[1,3]` or `seq(3)`.
    public var typeDescription: String {
        switch self {
        case .tensor(let t): "tensor(\(t.dataType))\(t.shape)"
        case .sequence(let items): "sequence of \(items.count)"
        case .optional(let v): v == nil ? "optional(none)" : "optional(\(v!.typeDescription))"
        case .map(let keys, _): "map of \(keys.count)"
        }
    }
}
