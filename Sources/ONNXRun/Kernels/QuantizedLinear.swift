/// Integer and quantized linear algebra: MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv.
/// Zero points are subtracted in Double and products summed exactly (dgemm / float conv on
/// 8-bit values), then QLinear* requantize with round-half-to-even and saturation.

/// `t − zeroPoint` as a double tensor; the zero point is a scalar or per-row (`axis`) vector.
private func shifted(_ t: Tensor, _ zeroPoint: Tensor?, axis: Int) throws -> Tensor {
    let read = try Conversion.reader(t)
    let zero = try zeroPoint.map { try Conversion.reader($0) }
    let count = zeroPoint?.count ?? 1
    let a = t.rank == 0 ? 0 : (axis < 0 ? axis + t.rank : axis)
    let inner = t.rank == 0 ? 1 : DataMovement.product(t.shape, (a + 1)..<t.rank), n = t.rank == 0 ? 1 : t.shape[a]
    let values = (0..<t.count).map { i -> Double in
        let z = count == 1 ? (zero?(0) ?? 0) : (zero?((i / inner) % n) ?? 0)
        return read(i) - z
    }
    return try Tensor(shape: t.shape, scalars: values)
}

/// Requantizes real values: round(v / scale) + zero point, saturated to the output type.
private func requantize(_ values: Tensor, scale: [Double], zeroPoint: Tensor?, perAxis axis: Int?) throws -> Tensor {
    let outType = zeroPoint?.dataType ?? .uint8
    let range: ClosedRange<Double> = outType == .int8 ? -128...127 : 0...255
    let read = try Conversion.reader(values)
    let zero = try zeroPoint.map { try Conversion.reader($0) }
    let n = axis.map { values.shape[$0] } ?? 1
    let inner = axis.map { DataMovement.product(values.shape, ($0 + 1)..<values.rank) } ?? 1
    let out = (0..<values.count).map { i -> Int64 in
        let k = scale.count == 1 ? 0 : (i / inner) % n
        let z = zero.map { zeroPoint!.count == 1 ? $0(0) : $0(k) } ?? 0
        let q = (read(i) / scale[k]).rounded(.toNearestOrEven) + z
        return Int64(Swift.min(Swift.max(q, range.lowerBound), range.upperBound))
    }
    return try Conversion.cast(try Tensor(shape: values.shape, scalars: out), to: outType)
}

/// Builds a Conv kernel for the float computation behind ConvInteger/QLinearConv.
private func floatConv(_ c: KernelContext) throws -> ConvKernel {
    var node = c.node
    node.inputs = Array(node.inputs.prefix(2))
    node.opType = "Conv"
    return try ConvKernel(KernelContext(node: node, opsetVersion: 11, constantInputs: [], compileSubgraph: c.compileSubgraph))
}

extension KernelRegistry {
    static func registerQuantizedLinear(_ r: inout KernelRegistry) {
        r.register("MatMulInteger", since: 10) { c in
            try c.expectInputs(2, 4)
            return ValueKernel { inputs, _ in
                let a = try inputs.tensor(0), b = try inputs.tensor(1)
                let product = try MatMulKernel.multiply(
                    try shifted(a, try inputs.optionalTensor(2), axis: a.rank - 2),
                    try shifted(b, try inputs.optionalTensor(3), axis: b.rank - 1))
                return [.tensor(try Conversion.cast(product, to: .int32))]
            }
        }
        r.register("ConvInteger", since: 10) { c in
            try c.expectInputs(2, 4)
            let conv = try floatConv(c)
            return ValueKernel { inputs, context in
                let x = try shifted(try inputs.tensor(0), try inputs.optionalTensor(2), axis: 0)
                let w = try shifted(try inputs.tensor(1), try inputs.optionalTensor(3), axis: 0)
                let y = try conv.compute([try Conversion.cast(x, to: .float), try Conversion.cast(w, to: .float)], context)[0]
                return [.tensor(try Conversion.cast(y, to: .int32))]
            }
        }
        r.register("QLinearMatMul", since: 10, 21) { c in
            try c.expectInputs(8)
            return ValueKernel { inputs, _ in
                let a = try inputs.tensor(0), b = try inputs.tensor(3)
                let product = try MatMulKernel.multiply(try shifted(a, try inputs.tensor(2), axis: a.rank - 2), try shifted(b, try inputs.tensor(5), axis: b.rank - 1))
                let aScale = try Conversion.floats(try inputs.tensor(1)).map(Double.init), bScale = try Conversion.floats(try inputs.tensor(4)).map(Double.init)
                let yScale = try Conversion.floats(try inputs.tensor(6)).map(Double.init)
                // Real value = acc · a_scale · b_scale; output = round(real / y_scale) + y_zero_point.
                let realScale = yScale.map { $0 / (aScale[0] * bScale[0]) }
                return [.tensor(try requantize(product, scale: realScale, zeroPoint: try inputs.tensor(7), perAxis: nil))]
            }
        }
        r.register("QLinearConv", since: 10) { c in
            try c.expectInputs(8, 9)
            let conv = try floatConv(c)
            return ValueKernel { inputs, context in
                let x = try shifted(try inputs.tensor(0), try inputs.tensor(2), axis: 0)
                let w = try shifted(try inputs.tensor(3), try inputs.tensor(5), axis: 0)
                let xScale = Double(try Conversion.floats(try inputs.tensor(1))[0])
                let wScale = try Conversion.floats(try inputs.tensor(4)).map(Double.init)
                let yScale = Double(try Conversion.floats(try inputs.tensor(6))[0])
                var y = try conv.compute([try Conversion.cast(x, to: .float), try Conversion.cast(w, to: .float)], context)[0]
                if inputs.count > 8, let biasValue = inputs[8], let bias = biasValue.tensor {
                    let values = try Conversion.integers(bias), channels = y.shape[1], inner = DataMovement.product(y.shape, 2..<y.rank)
                    let read = try Conversion.reader(y)
                    y = try Tensor(shape: y.shape, scalars: (0..<y.count).map { read($0) + Double(values[($0 / inner) % channels]) })
                }
                let scales = wScale.map { yScale / (xScale * $0) }
                return [.tensor(try requantize(y, scale: scales, zeroPoint: try inputs.tensor(7), perAxis: wScale.count > 1 ? 1 : nil))]
            }
        }
    }
}
