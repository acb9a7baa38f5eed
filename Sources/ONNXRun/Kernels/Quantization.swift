/// Linear quantization: QuantizeLinear, DequantizeLinear (per-tensor, per-axis and blocked scales,
/// every zero-point type including float8, int4/uint4 and int2/uint2) and DynamicQuantizeLinear.

/// Maps each element of `x` to the index of its scale: per-tensor (scalar scale), per-axis
/// (1-D scale along `axis`) or blocked (scale of x's rank, `blockSize` elements per scale on `axis`).
private func scaleIndices(of x: Tensor, scale: Tensor, axis: Int, blockSize: Int) throws -> [Int] {
    if scale.count == 1 && (scale.rank == 0 || scale.rank == 1) && blockSize == 0 { return [Int](repeating: 0, count: x.count) }
    let a = try DataMovement.axis(axis, rank: x.rank)
    let inner = DataMovement.product(x.shape, (a + 1)..<x.rank), n = x.shape[a]
    if scale.rank <= 1 && blockSize == 0 {
        guard scale.count == n else { throw ONNXRunError(.shapeMismatch, "per-axis scale has \(scale.count) values, axis \(a) has \(n)") }
        return (0..<x.count).map { ($0 / inner) % n }
    }
    guard blockSize > 0, scale.rank == x.rank else { throw ONNXRunError(.shapeMismatch, "blocked quantization needs block_size > 0 and a scale of rank \(x.rank)") }
    guard scale.shape[a] == (n + blockSize - 1) / blockSize else {
        throw ONNXRunError(.shapeMismatch, "scale has \(scale.shape[a]) blocks on axis \(a), \(n) elements in blocks of \(blockSize) need \((n + blockSize - 1) / blockSize)")
    }
    let xStrides = x.strides, sStrides = scale.strides
    return (0..<x.count).map { flat in
        var rest = flat, target = 0
        for d in 0..<x.rank {
            var coordinate = rest / xStrides[d]
            rest %= xStrides[d]
            if d == a { coordinate /= blockSize }
            target += coordinate * sStrides[d]
        }
        return target
    }
}

/// The saturation range of an integer quantized type.
private func integerRange(_ type: DataType) -> ClosedRange<Double>? {
    switch type {
    case .uint8: 0...255
    case .int8: -128...127
    case .uint16: 0...65535
    case .int16: -32768...32767
    case .uint4: 0...15
    case .int4: -8...7
    case .uint2: 0...3
    case .int2: -2...1
    case .int32: Double(Int32.min)...Double(Int32.max)
    default: nil
    }
}

extension KernelRegistry {
    static func registerQuantization(_ r: inout KernelRegistry) {
        r.register("QuantizeLinear", since: 10, 13, 19, 21, 23, 24, 25, 28) { c in
            try c.expectInputs(2, 3)
            let axis = try c.int("axis", default: 1), blockSize = try c.int("block_size", default: 0)
            let saturate = try c.int("saturate", default: 1) != 0
            let outputCode = try c.int("output_dtype", default: 0)
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0), scale = try inputs.tensor(1), zeroPoint = try inputs.optionalTensor(2)
                var outType = zeroPoint?.dataType ?? .uint8
                if outputCode != 0, let t = DataType(rawValue: Int32(outputCode)) { outType = t }
                let index = try scaleIndices(of: x, scale: scale, axis: axis, blockSize: blockSize)
                let readX = try Conversion.reader(x), readScale = try Conversion.reader(scale)
                let readZero = try zeroPoint.map { try Conversion.reader($0) }
                // Divide in the scale's precision (float32 unless the scale is double), as the spec says.
                let single = scale.dataType != .double
                let quotients = (0..<x.count).map { i -> Double in
                    single ? Double(Float(readX(i)) / Float(readScale(index[i]))) : readX(i) / readScale(index[i])
                }
                if let range = integerRange(outType) {
                    let values = quotients.enumerated().map { i, q -> Int64 in
                        let v = q.rounded(.toNearestOrEven) + (readZero?(index[i]) ?? 0)
                        return Int64(Swift.min(Swift.max(v, range.lowerBound), range.upperBound))
                    }
                    return [.tensor(try Conversion.cast(try Tensor(shape: x.shape, scalars: values), to: outType))]
                }
                guard outType.isFloatingPoint else { throw ONNXRunError(.unsupportedType, "quantization to \(outType) is not supported") }
                let values = quotients.enumerated().map { i, q in q + (readZero?(index[i]) ?? 0) }
                return [.tensor(try Conversion.cast(try Tensor(shape: x.shape, scalars: values), to: outType, saturate: saturate))]
            }
        }
        r.register("DequantizeLinear", since: 10, 13, 19, 21, 23, 24, 25, 28) { c in
            try c.expectInputs(2, 3)
            let axis = try c.int("axis", default: 1), blockSize = try c.int("block_size", default: 0)
            let outputCode = try c.int("output_dtype", default: 0)
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0), scale = try inputs.tensor(1), zeroPoint = try inputs.optionalTensor(2)
                var outType = scale.dataType
                if outputCode != 0, let t = DataType(rawValue: Int32(outputCode)) { outType = t }
                let index = try scaleIndices(of: x, scale: scale, axis: axis, blockSize: blockSize)
                let readX = try Conversion.reader(x), readScale = try Conversion.reader(scale)
                let readZero = try zeroPoint.map { try Conversion.reader($0) }
                let single = scale.dataType != .double
                let values = (0..<x.count).map { i -> Double in
                    let shifted = readX(i) - (readZero?(index[i]) ?? 0)
                    return single ? Double(Float(shifted) * Float(readScale(index[i]))) : shifted * readScale(index[i])
                }
                return [.tensor(try Conversion.cast(try Tensor(shape: x.shape, scalars: values), to: outType))]
            }
        }
        r.register("DynamicQuantizeLinear", since: 11) { c in
            try c.expectInputs(1)
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                let values = try Conversion.floats(x)
                let low = Swift.min(0, values.min() ?? 0), high = Swift.max(0, values.max() ?? 0)
                let scale = (high - low) / 255
                let zero = scale == 0 ? 0 : Swift.min(Swift.max((0 - low / scale).rounded(.toNearestOrEven), 0), 255)
                let q = values.map { v -> UInt8 in
                    let y = scale == 0 ? zero : (v / scale).rounded(.toNearestOrEven) + zero
                    return UInt8(Swift.min(Swift.max(y, 0), 255))
                }
                return [.tensor(try Tensor(shape: x.shape, scalars: q)), .tensor(Tensor(scalar: scale)), .tensor(Tensor(scalar: UInt8(zero)))]
            }
        }
    }
}
