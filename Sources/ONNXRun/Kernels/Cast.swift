/// Cast: converts elements to the type named by `to` (a type name STRING in opset 1, a
/// `TensorProto.DataType` code INT from opset 6).
struct CastKernel: TensorKernel {
    let target: DataType
    /// Opset 19+: clamp values out of a float8 type's range instead of producing ∞/NaN.
    let saturate: Bool
    /// float8e8m0 rounding: up, down or nearest.
    let roundMode: String

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        saturate = try context.int("saturate", default: 1) != 0
        roundMode = try context.string("round_mode", default: "up")
        switch context.node.attributes["to"] {
        case .string(let name)?:
            guard let type = DataType(name: name) else {
                throw context.error(.invalidAttribute, "attribute 'to' names unknown type '\(name)'")
            }
            target = type
        default:
            let code = try context.required("to", context.int)
            guard let raw = Int32(exactly: code), let type = DataType(rawValue: raw) else {
                throw context.error(.invalidAttribute, "attribute 'to' is not a known data type code: \(code)")
            }
            target = type
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        return [try Conversion.cast(x, to: target, saturate: saturate, roundMode: roundMode)]
    }
}

extension KernelRegistry {
    static func registerCast(_ r: inout KernelRegistry) {
        r.register("Cast", since: 1, 6, 9, 13, 19, 21, 23) { try CastKernel($0) }
    }
}
