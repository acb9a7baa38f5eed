/// The standard-ONNX form of this project's fused operators: the nodes a fused node replaced (or
/// standard operators computing the same), valid at a given opset of the default domain.
///
/// Used twice: `Optimizer.makePortable` writes them into models for other runtimes, and the fused
/// kernels run them (compiled as a small plan) for inputs their fast paths do not cover.
struct Expansion {
    /// Standard-domain nodes in topological order; they read the fused node's inputs and write its outputs.
    var nodes: [Node] = []
    /// Constants the nodes read.
    var initializers: [String: Tensor] = [:]
    /// Prefix of every new node and value name (the fused node's name).
    let prefix: String

    /// Appends a node named after the prefix; returns its output name (`output` or a new one).
    @discardableResult
    mutating func add(_ opType: String, _ inputs: [String], output: String? = nil, _ attributes: [String: Attribute] = [:]) -> String {
        let name = "\(prefix)/\(opType)_\(nodes.count)"
        let result = output ?? "\(name)_output"
        nodes.append(Node(name: name, opType: opType, inputs: inputs, outputs: [result], attributes: attributes))
        return result
    }

    /// A float32 scalar constant; returns its name.
    mutating func constant(_ value: Float) -> String {
        let name = "\(prefix)/const_\(initializers.count)"
        initializers[name] = Tensor(scalar: value)
        return name
    }

    /// An int64 vector constant; returns its name.
    mutating func constant(ints values: [Int]) -> String {
        let name = "\(prefix)/const_\(initializers.count)"
        initializers[name] = try! Tensor(shape: [values.count], scalars: values.map(Int64.init))
        return name
    }
}

enum FusedExpansion {
    /// The standard operators computing `node` (a node of `FusedActivation.domain`) at `opset`.
    static func expand(_ node: Node, opset: Int) throws -> Expansion {
        var e = Expansion(prefix: node.name)
        func ints(_ name: String) -> [Int]? { if case .ints(let v)? = node.attributes[name] { v } else { nil } }
        func float(_ name: String) -> Float? {
            switch node.attributes[name] {
            case .float(let v)?: v
            case .int(let v)?: Float(v)
            default: nil
            }
        }
        func string(_ name: String) -> String? { if case .string(let v)? = node.attributes[name] { v } else { nil } }
        func input(_ i: Int) -> String? { i < node.inputs.count && !node.inputs[i].isEmpty ? node.inputs[i] : nil }
        let output = node.outputs[0]

        switch node.opType {
        case "FusedConv", "FusedMatMul":
            var product: String
            if node.opType == "FusedConv" {
                var conv = node
                conv.opType = "Conv"
                conv.domain = ""
                conv.attributes["activation"] = nil
                conv.attributes["activation_params"] = nil
                conv.attributes["input_channel_shuffle"] = nil
                conv.attributes["output_channels_last"] = nil
                conv.name = "\(node.name)/Conv"
                conv.inputs = Array(node.inputs.prefix(3))
                // The channel shuffle read in place: X viewed as [N, g, c, H·W], transposed to
                // [N, c, g, H·W], and given X's shape again.
                if let shuffle = ints("input_channel_shuffle"), shuffle.count == 2, let x = input(0) {
                    let split = e.add("Reshape", [x, e.constant(ints: [0, shuffle[0], shuffle[1], -1])])
                    let swapped = e.add("Transpose", [split], ["perm": .ints([0, 2, 1, 3])])
                    conv.inputs[0] = e.add("Reshape", [swapped, e.add("Shape", [x])])
                }
                while conv.inputs.last == "" { conv.inputs.removeLast() }
                product = "\(node.name)/conv_output"
                conv.outputs = [product]
                e.nodes.append(conv)
                // The residual input Z.
                if let residual = input(3) { product = e.add("Add", [product, residual]) }
            } else {
                guard let a = input(0), let b = input(1) else { throw malformed(node, "needs inputs A and B") }
                let left = ints("perm_a").map { e.add("Transpose", [a], ["perm": .ints($0)]) } ?? a
                var right = ints("perm_b").map { e.add("Transpose", [b], ["perm": .ints($0)]) } ?? b
                // Weights stored as the GEMM's panels [⌈n/48⌉, k, 48]: [k, ⌈n/48⌉·48], first n columns.
                if case .int(let columns)? = node.attributes["packed_columns"] {
                    let rows = e.add("Transpose", [b], ["perm": .ints([1, 0, 2])])
                    let flat = e.add("Reshape", [rows, e.constant(ints: [0, -1])])
                    right = e.add("Slice", [flat, e.constant(ints: [0]), e.constant(ints: [columns]), e.constant(ints: [1])])
                }
                product = e.add("MatMul", [left, right])
                if let bias = input(2) { product = e.add("Add", [product, bias]) }
            }
            // With `output_channels_last` G the (activated) result [N, C, H, W] is split into
            // [N, G, C/G, H, W], H and W taken from X (a 1×1 stride-1 convolution keeps them), and
            // moved to [N, G, H, W, C/G].
            var finalOutput = output
            var groups: Int?
            if node.opType == "FusedConv", case .int(let g)? = node.attributes["output_channels_last"] {
                groups = g
                finalOutput = "\(node.name)/channels_first"
            }
            if let activation = try FusedActivation(node) {
                activation.expand(product, into: &e, output: finalOutput, opset: opset)
            } else {
                e.nodes[e.nodes.count - 1].outputs = [finalOutput]  // the product is the result
            }
            if let groups {
                guard let x = input(0) else { throw malformed(node, "needs input X") }
                let shape = e.add("Shape", [x])
                let batch = e.add("Gather", [shape, e.constant(ints: [0])])
                let spatial = e.add("Gather", [shape, e.constant(ints: [2, 3])])
                let target = e.add("Concat", [batch, e.constant(ints: [groups, -1]), spatial], ["axis": .int(0)])
                let split = e.add("Reshape", [finalOutput, target])
                e.add("Transpose", [split], output: output, ["perm": .ints([0, 1, 3, 4, 2])])
            }
        case "LayerNormalization":
            guard let x = input(0), let scale = input(1) else { throw malformed(node, "needs inputs X and Scale") }
            let epsilon = float("epsilon") ?? 1e-5
            if opset >= 17 {
                var inputs = [x, scale]
                if let bias = input(2) { inputs.append(bias) }
                e.add("LayerNormalization", inputs, output: output, ["axis": .int(-1), "epsilon": .float(epsilon)])
                break
            }
            func mean(_ v: String) -> String {
                opset >= 18 ? e.add("ReduceMean", [v, e.constant(ints: [-1])], ["keepdims": .int(1)])
                    : e.add("ReduceMean", [v], ["axes": .ints([-1]), "keepdims": .int(1)])
            }
            let centered = e.add("Sub", [x, mean(x)])
            let variance = mean(e.add("Pow", [centered, e.constant(2)]))
            let deviation = e.add("Sqrt", [e.add("Add", [variance, e.constant(epsilon)])])
            let scaled = e.add("Mul", [e.add("Div", [centered, deviation]), scale])
            if let bias = input(2) { e.add("Add", [scaled, bias], output: output) } else { e.nodes[e.nodes.count - 1].outputs = [output] }
        case "Gelu":
            guard let x = input(0) else { throw malformed(node, "needs input X") }
            (string("approximate") == "tanh" ? FusedActivation.geluTanh : .gelu).expand(x, into: &e, output: output, opset: opset)
        case "SiLU":
            guard let x = input(0) else { throw malformed(node, "needs input X") }
            FusedActivation.silu.expand(x, into: &e, output: output, opset: opset)
        case "ScaledDotProductAttention":
            guard let q = input(0), let k = input(1), let v = input(2) else { throw malformed(node, "needs inputs Q, K and V") }
            let key = ints("perm_k").map { e.add("Transpose", [k], ["perm": .ints($0)]) } ?? k
            var scores = e.add("MatMul", [q, key])
            if let scale = float("scale") {
                scores = e.add(string("scale_operation") == "Mul" ? "Mul" : "Div", [scores, e.constant(scale)])
            }
            if let mask = input(3) {
                if string("mask_operation") == "Where" {
                    scores = e.add("Where", [mask, scores, e.constant(float("fill") ?? 0)])
                } else {
                    scores = e.add("Add", [scores, mask])
                }
            }
            e.add("MatMul", [e.add("Softmax", [scores], ["axis": .int(-1)]), v], output: output)
        default:
            throw ONNXRunError(.unsupportedOperator, "no standard form of \(node.opType)", subject: node.label)
        }
        return e
    }

    private static func malformed(_ node: Node, _ message: String) -> ONNXRunError {
        ONNXRunError(.invalidModel, message, subject: node.label)
    }
}

extension Node {
    /// Sets a fused node's `activation` / `activation_params` attributes (read back by
    /// `FusedActivation.init(_:)`).
    mutating func setActivation(_ activation: FusedActivation) {
        let (name, parameters) = activation.attributes
        attributes["activation"] = .string(name)
        attributes["activation_params"] = parameters.isEmpty ? nil : .floats(parameters)
    }
}

extension FusedActivation {
    /// The activation of a fused node (`activation` / `activation_params`), nil when it has none.
    init?(_ node: Node) throws {
        guard case .string(let name)? = node.attributes["activation"] else { return nil }
        var parameters: [Float] = []
        if case .floats(let values)? = node.attributes["activation_params"] { parameters = values }
        guard let activation = FusedActivation(name: name, parameters: parameters) else {
            throw ONNXRunError(.invalidAttribute, "unknown fused activation '\(name)'", subject: node.label)
        }
        self = activation
    }

    /// Appends standard nodes applying the activation to `input` and writing `output`.
    func expand(_ input: String, into e: inout Expansion, output: String, opset: Int) {
        switch self {
        case .relu: e.add("Relu", [input], output: output)
        case .sigmoid: e.add("Sigmoid", [input], output: output)
        case .tanh: e.add("Tanh", [input], output: output)
        case .leakyRelu(let alpha): e.add("LeakyRelu", [input], output: output, ["alpha": .float(alpha)])
        case .hardSigmoid(let alpha, let beta): e.add("HardSigmoid", [input], output: output, ["alpha": .float(alpha), "beta": .float(beta)])
        case .clip(let low, let high):
            if opset < 11 {
                e.add("Clip", [input], output: output, ["min": .float(low), "max": .float(high)])
            } else {
                e.add("Clip", [input, e.constant(low), e.constant(high)], output: output)
            }
        case .gelu:
            if opset >= 20 { e.add("Gelu", [input], output: output); return }
            let erf = e.add("Erf", [e.add("Div", [input, e.constant(Float(2).squareRoot())])])
            let product = e.add("Mul", [input, e.add("Add", [erf, e.constant(1)])])
            e.add("Mul", [product, e.constant(0.5)], output: output)
        case .geluTanh:
            if opset >= 20 { e.add("Gelu", [input], output: output, ["approximate": .string("tanh")]); return }
            let cube = e.add("Mul", [e.add("Mul", [input, input]), input])
            let inner = e.add("Add", [input, e.add("Mul", [e.constant(0.044715), cube])])
            let tanh = e.add("Tanh", [e.add("Mul", [e.constant(Float((2 / Double.pi).squareRoot())), inner])])
            let half = e.add("Mul", [e.constant(0.5), input])
            e.add("Mul", [half, e.add("Add", [e.constant(1), tanh])], output: output)
        case .hardSwish:
            if opset >= 14 { e.add("HardSwish", [input], output: output); return }
            let gate = e.add("HardSigmoid", [input], ["alpha": .float(1 / 6), "beta": .float(0.5)])
            e.add("Mul", [input, gate], output: output)
        case .silu:
            e.add("Mul", [input, e.add("Sigmoid", [input])], output: output)
        }
    }
}
