/// TensorScatter (KV-cache updates, opset 24) and LabelEncoder (ai.onnx.ml).

extension KernelRegistry {
    static func registerMapping(_ r: inout KernelRegistry) {
        r.register("TensorScatter", since: 24) { c in
            try c.expectInputs(2, 3)
            let axisAttribute = try c.int("axis", default: -2)
            let circular = try c.string("mode", default: "linear") == "circular"
            return ValueKernel { inputs, _ in
                let cache = try inputs.tensor(0), update = try inputs.tensor(1)
                let axis = try DataMovement.axis(axisAttribute, rank: cache.rank)
                guard axis > 0, update.rank == cache.rank, (0..<cache.rank).allSatisfy({ $0 == axis || update.shape[$0] == cache.shape[$0] }) else {
                    throw ONNXRunError(.shapeMismatch, "update \(update.shape) does not fit cache \(cache.shape) outside axis \(axis)")
                }
                let write = try inputs.optionalTensor(2).map { try Conversion.integers($0) }
                let maxLength = cache.shape[axis], length = update.shape[axis]
                let inner = DataMovement.product(cache.shape, (axis + 1)..<cache.rank)
                let prefix = DataMovement.product(cache.shape, 0..<axis), perBatch = prefix / Swift.max(cache.shape[0], 1)
                // Target of each update element, in the update's own row-major order.
                var targets: [Int] = []
                targets.reserveCapacity(update.count)
                for p in 0..<prefix {
                    let batch = p / Swift.max(perBatch, 1)
                    let start = write?[batch] ?? 0
                    for s in 0..<length {
                        var target = start + s
                        if circular { target %= maxLength }
                        guard target >= 0 && target < maxLength else { throw ONNXRunError(.outOfRange, "write index \(start + s) is outside a cache of length \(maxLength)") }
                        for i in 0..<inner { targets.append((p * maxLength + target) * inner + i) }
                    }
                }
                return [.tensor(try overlay(cache, update, targets: targets))]
            }
        }
        r.register("LabelEncoder", domain: "ai.onnx.ml", since: 1, 2, 4) { c in
            try c.expectInputs(1)
            // Keys and values as strings (the common key), with the output type remembered.
            func strings(_ prefix: String) throws -> (keys: [String], type: DataType)? {
                if let v = try c.strings("\(prefix)_strings") { return (v, .string) }
                if let v = try c.ints("\(prefix)_int64s") { return (v.map(String.init), .int64) }
                if let v = try c.floats("\(prefix)_floats") { return (v.map { "\($0)" }, .float) }
                if let t = try c.tensor("\(prefix)_tensor") {
                    if t.dataType == .string { return (t.strings, .string) }
                    if let ints = try? Conversion.integers(t), t.dataType.isInteger { return (ints.map(String.init), t.dataType) }
                    return (try Conversion.floats(t).map { "\($0)" }, t.dataType)
                }
                return nil
            }
            guard let keys = try strings("keys"), let values = try strings("values"), keys.keys.count == values.keys.count else {
                throw c.error(.invalidAttribute, "needs keys_* and values_* attributes of equal length")
            }
            var fallback: String
            switch values.type {
            case .string: fallback = try c.string("default_string", default: "_Unused")
            case .int64, .int32, .int16, .int8: fallback = String(try c.int("default_int64", default: -1))
            default: fallback = "\(try c.float("default_float", default: -0.0))"
            }
            if let t = try c.tensor("default_tensor"), t.count == 1 {
                fallback = t.dataType == .string ? t.strings[0] : (t.dataType.isInteger ? String(try Conversion.integers(t)[0]) : "\(try Conversion.floats(t)[0])")
            }
            let table = Dictionary(zip(keys.keys, values.keys), uniquingKeysWith: { first, _ in first })
            let outType = values.type, missing = fallback
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                let inputs: [String]
                if x.dataType == .string { inputs = x.strings }
                else if x.dataType.isInteger { inputs = try Conversion.integers(x).map(String.init) }
                else { inputs = try Conversion.floats(x).map { "\($0)" } }
                let mapped = inputs.map { table[$0] ?? missing }
                if outType == .string { return [.tensor(try Tensor(shape: x.shape, strings: mapped))] }
                if outType.isInteger { return [.tensor(try Conversion.cast(try Tensor(shape: x.shape, scalars: mapped.map { Int64($0) ?? 0 }), to: outType))] }
                return [.tensor(try Conversion.cast(try Tensor(shape: x.shape, scalars: mapped.map { Double($0) ?? .nan }), to: outType))]
            }
        }
    }
}
