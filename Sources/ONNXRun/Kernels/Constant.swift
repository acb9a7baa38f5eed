/// Constant and ConstantOfShape.

/// Constant: a tensor fixed by exactly one of its attributes, built once when the plan is compiled.
struct ConstantKernel: TensorKernel {
    let value: Tensor

    /// Attribute names with the opset that introduced them.
    static let attributes: [(name: String, since: Int)] = [
        ("value", 1), ("sparse_value", 11), ("value_float", 12), ("value_floats", 12),
        ("value_int", 12), ("value_ints", 12), ("value_string", 12), ("value_strings", 12),
    ]

    init(_ context: KernelContext) throws {
        try context.expectInputs(0)
        let given = Self.attributes.filter { context.node.attributes[$0.name] != nil }
        guard given.count == 1, let chosen = given.first else {
            let names = given.isEmpty ? "none" : given.map(\.name).joined(separator: ", ")
            throw context.error(.invalidAttribute, "needs exactly one of value, sparse_value or value_*, has \(names)")
        }
        guard chosen.since <= context.opsetVersion else {
            throw context.error(.invalidAttribute, "attribute '\(chosen.name)' needs opset \(chosen.since) or later, the model uses \(context.opsetVersion)")
        }
        switch chosen.name {
        case "value", "sparse_value":
            value = try context.required(chosen.name, context.tensor)
        case "value_float":
            value = Tensor(scalar: try context.required(chosen.name, context.float))
        case "value_floats":
            let v = try context.required(chosen.name, context.floats)
            value = try Tensor(shape: [v.count], scalars: v)
        case "value_int":
            value = Tensor(scalar: Int64(try context.required(chosen.name, context.int)))
        case "value_ints":
            let v = try context.required(chosen.name, context.ints).map { Int64($0) }
            value = try Tensor(shape: [v.count], scalars: v)
        case "value_string":
            value = try Tensor(shape: [], strings: [try context.required(chosen.name, context.string)])
        default:
            let v = try context.required(chosen.name, context.strings)
            value = try Tensor(shape: [v.count], strings: v)
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] { [value] }
}

/// ConstantOfShape: a tensor of the shape given by a 1-D int64 input, every element equal to the
/// one-element `value` attribute (default float 0).
struct ConstantOfShapeKernel: TensorKernel {
    let value: Tensor

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        if let v = try context.tensor("value") {
            guard v.count == 1 else {
                throw context.error(.invalidAttribute, "attribute 'value' must hold one element, has shape \(v.shape)")
            }
            if v.dataType != .string { _ = try DataMovement.elementSize(v.dataType) }
            value = v
        } else {
            value = Tensor(scalar: Float(0))
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let shapeInput = inputs[0] else { throw ONNXRunError(.invalidInput, "shape input is required") }
        guard shapeInput.rank == 1 else {
            throw ONNXRunError(.invalidInput, "shape input must be 1-D, got shape \(shapeInput.shape)")
        }
        let shape = try Conversion.integers(shapeInput)
        guard shape.allSatisfy({ $0 >= 0 }) else { throw ONNXRunError(.invalidInput, "shape \(shape) has a negative dimension") }
        if value.dataType == .string {
            return [try Tensor(shape: shape, strings: Array(repeating: value.strings[0], count: try Tensor.elementCount(shape)))]
        }
        let out = try Tensor(uninitialized: value.dataType, shape: shape)
        Self.fill(out, with: value)
        return [out]
    }

    /// Writes the single element of `value` into every element of `out` (same byte-sized type).
    static func fill(_ out: Tensor, with value: Tensor) {
        let size = value.dataType.bitWidth / 8
        let total = out.count * size
        guard total > 0 else { return }
        let bytes = out.storage.bytes
        bytes.copyMemory(from: value.storage.bytes, byteCount: size)
        var filled = size
        while filled < total {
            let chunk = min(filled, total - filled)
            (bytes + filled).copyMemory(from: bytes, byteCount: chunk)
            filled += chunk
        }
    }
}

extension KernelRegistry {
    static func registerConstantKernels(_ r: inout KernelRegistry) {
        r.register("Constant", since: 1, 9, 11, 12, 13, 19, 21, 23) { try ConstantKernel($0) }
        r.register("ConstantOfShape", since: 9, 20, 21, 23) { try ConstantOfShapeKernel($0) }
    }
}
