/// Estimated floating-point operations of a model for given input shapes, from shape inference.
///
/// Counts a multiply-add as two operations. Convolutions, matrix products and attention dominate
/// real models and are counted exactly; elementwise ops, normalizations, pooling and softmax are
/// counted per output element with a small per-element cost. Nodes whose shapes stay unknown
/// (symbolic dims without `inputShapes`) are listed as not counted.
public struct FlopEstimate: Sendable {
    /// Total estimated operations of the counted nodes.
    public var total: Int
    /// Operations per operator type, largest first.
    public var byOperator: [(op: String, flops: Int)]
    /// Nodes whose output shape was unknown, so they were not counted.
    public var uncountedNodes: Int

    /// Estimates `model`'s operations with `inputShapes` binding its symbolic input dims.
    public static func estimate(_ model: Model, inputShapes: [String: [Int]] = [:]) -> FlopEstimate {
        let expanded = (try? FunctionExpansion.expand(model)) ?? model
        let types = ShapeInference.infer(expanded, inputShapes: inputShapes)
        func dims(_ name: String) -> [Int]? {
            guard let shape = types.shape(of: name) else { return nil }
            let values = shape.compactMap(\.value)
            return values.count == shape.count ? values : nil
        }
        func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }
        var perOp: [String: Int] = [:]
        var uncounted = 0
        for node in expanded.graph.nodes {
            guard let out = node.outputs.first.flatMap(dims) else {
                if !["Constant", "Shape", "Identity"].contains(node.opType) { uncounted += 1 }
                continue
            }
            let input = node.inputs.first.flatMap(dims)
            var flops = 0
            switch node.opType {
            case "Conv", "ConvInteger", "QLinearConv", "FusedConv":
                let wIndex = node.opType == "QLinearConv" ? 3 : 1
                if node.inputs.count > wIndex, let w = dims(node.inputs[wIndex]), w.count >= 2 {
                    flops = 2 * count(out) * count(Array(w.dropFirst()))
                }
            case "ConvTranspose":
                if let input, node.inputs.count > 1, let w = dims(node.inputs[1]), w.count >= 2 {
                    flops = 2 * count(input) * count(Array(w.dropFirst()))
                }
            case "MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul":
                if let input { flops = 2 * count(out) * (input.last ?? 1) }
            case "Gemm":
                if let input, input.count == 2 {
                    let transA = (node.intAttribute("transA") ?? 0) != 0
                    flops = 2 * count(out) * (transA ? input[0] : input[1])
                }
            case "MaxPool", "AveragePool", "LpPool":
                flops = count(out) * (node.intsAttribute("kernel_shape")?.reduce(1, *) ?? 1)
            case "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin":
                flops = input.map(count) ?? 0
            case "BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization", "RMSNormalization",
                 "Softmax", "LogSoftmax", "Gelu", "Erf", "Tanh", "Sigmoid", "Exp", "Log", "HardSwish", "Mish":
                flops = 5 * count(out)
            case "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Clip", "Max", "Min", "Sum", "Pow", "Sqrt", "Neg",
                 "PRelu", "Where", "Abs", "HardSigmoid", "Elu", "Selu":
                flops = count(out)
            default:
                flops = 0
            }
            let key = node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain).\(node.opType)"
            if flops > 0 { perOp[key, default: 0] += flops }
        }
        let sorted = perOp.sorted { $0.value > $1.value }.map { (op: $0.key, flops: $0.value) }
        return FlopEstimate(total: sorted.reduce(0) { $0 + $1.flops }, byOperator: sorted, uncountedNodes: uncounted)
    }
}
