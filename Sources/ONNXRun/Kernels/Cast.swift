/// Cast: converts elements to the type named by `to` (a type name STRING in opset 1, a
/// `TensorProto.DataType` code INT from opset 6).
struct CastKernel: TensorKernel {
    let target: DataType

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
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
        return [try Conversion.cast(x, to: target)]
    }
}

extension KernelRegistry {
    static func registerCast(_ r: inout KernelRegistry) {
        r.register("Cast", since: 1, 6, 9, 13, 19, 21, 23) { try CastKernel($0) }
    }
}
