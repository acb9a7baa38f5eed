/// Per-operator shape rules of `ShapeInference`. An operator without a rule still gets its output
/// element types from its schema's type constraints; its shapes stay unknown.
extension ShapeInference {
    static let sameShapeOps: Set<String> = [
        "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Ceil", "Cos", "Cosh", "Elu", "Erf", "Exp", "Floor",
        "Gelu", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "Log", "LogSoftmax", "Mish", "Neg", "Not",
        "Reciprocal", "Relu", "Round", "Selu", "Sigmoid", "Sign", "Sin", "Sinh", "Softmax", "Softplus", "Softsign",
        "Sqrt", "Tan", "Tanh", "ThresholdedRelu", "Celu", "Shrink", "Hardmax", "BitwiseNot", "IsNaN", "IsInf",
        "Clip", "Dropout", "BatchNormalization", "InstanceNormalization", "LpNormalization", "LayerNormalization",
        "GroupNormalization", "RMSNormalization", "MeanVarianceNormalization", "LRN", "CumSum", "Trilu",
        "ReverseSequence", "Cast", "CastLike", "QuantizeLinear", "DequantizeLinear", "Swish",
    ]
    static let broadcastOps: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Equal", "Less", "Greater", "LessOrEqual",
        "GreaterOrEqual", "And", "Or", "Xor", "Where", "PRelu", "BitShift", "Mod", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
    ]
    static let comparisonOps: Set<String> = ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "IsNaN", "IsInf"]

    /// Output types of `node`, one per output (nil where unknown).
    mutating func infer(_ node: Node) -> [ValueType?] {
        let domain = node.domain == "ai.onnx" ? "" : node.domain
        for attribute in node.attributes.values {
            switch attribute {
            case .graph(let g): run(g)
            case .graphs(let gs): gs.forEach { run($0) }
            default: break
            }
        }
        let elements = schemaElementTypes(node, domain: domain)
        // This project's FusedConv has Conv's output shape (the fusion passes ask for shapes after
        // it), or with `output_channels_last` G, [N, G, H, W, C/G].
        if domain == FusedActivation.domain && node.opType == "FusedConv" {
            var shape = conv(node)
            if let groups = node.intAttribute("output_channels_last"), let s = shape, s.count == 4 {
                let perGroup: Dimension = s[1].value.map { groups > 0 && $0 % groups == 0 ? .known($0 / groups) : .unknown } ?? .unknown
                shape = [s[0], .known(groups), s[2], s[3], perGroup]
            }
            return [Self.tensor(elements.first ?? elementType(node.inputs.first ?? ""), shape)]
        }
        // Its elementwise activations and layer normalization keep their input's shape.
        if domain == FusedActivation.domain && ["SiLU", "Gelu", "LayerNormalization"].contains(node.opType) {
            let first = node.inputs.first ?? ""
            return [Self.tensor(elements.first ?? elementType(first), shape(first))]
        }
        guard domain.isEmpty else { return elements.map { $0.map { Self.tensor($0, nil) } } }
        let first = node.inputs.first ?? ""
        let shape0 = shape(first)
        func out(_ shape: [Dimension]?, _ type: DataType? = nil) -> [ValueType?] {
            var result: [ValueType?] = [Self.tensor(type ?? elements.first ?? nil, shape)]
            for t in elements.dropFirst() { result.append(t.map { Self.tensor($0, nil) }) }
            return result
        }
        let op = node.opType
        if Self.sameShapeOps.contains(op) {
            if op == "Dropout", node.outputs.count > 1 { return [Self.tensor(elements.first ?? nil, shape0), Self.tensor(.bool, shape0)] }
            if op == "LayerNormalization" { return [Self.tensor(elements.first ?? nil, shape0)] + elements.dropFirst().map { $0.map { Self.tensor($0, nil) } } }
            if op == "Cast", let to = node.intAttribute("to"), let t = DataType(rawValue: Int32(truncatingIfNeeded: to)) {
                if let v = values[first] { values[node.outputs[0]] = v }
                return out(shape0, t)
            }
            return out(shape0, Self.comparisonOps.contains(op) ? .bool : nil)
        }
        if Self.broadcastOps.contains(op) {
            let type: DataType? = Self.comparisonOps.contains(op) ? .bool : op == "Where" ? elementType(node.inputs.count > 1 ? node.inputs[1] : "") : nil
            // Before opset 7 broadcasting was opt-in (`broadcast`/`axis`) and unidirectional.
            if defaultOpset < 7 { return out(shape0, type) }
            var result: [Dimension]? = []
            for input in node.inputs where !input.isEmpty {
                guard let s = shape(input), let r = result else { result = nil; continue }
                guard let b = broadcast(r, s, node: node) else { return out(nil) }
                result = b
            }
            propagateArithmetic(node)
            return out(result, type)
        }
        switch op {
        case "Constant": return constantType(node)
        case "Shape": return shapeOf(node, shape0)
        case "Size": return [Self.tensor(.int64, [])]
        case "Conv", "ConvInteger", "QLinearConv": return out(conv(node))
        case "MaxPool", "AveragePool", "LpPool": return out(pool(node, shape0)) + (node.outputs.count > 1 ? [Self.tensor(.int64, pool(node, shape0))] : [])
        case "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool":
            return out(shape0.map { s in Array(s.prefix(2)) + Array(repeating: .known(1), count: max(0, s.count - 2)) })
        case "MatMul", "MatMulInteger", "QLinearMatMul": return out(matMul(node))
        case "Gemm": return out(gemm(node))
        case "Flatten": return out(flatten(node, shape0))
        case "Transpose": return out(transpose(node, shape0))
        case "Reshape": return out(reshape(node, shape0))
        case "Squeeze", "Unsqueeze": return out(squeeze(node, shape0))
        case "Concat": return out(concat(node))
        case "Gather": return out(gather(node))
        case "Slice": return out(slice(node, shape0))
        case "Expand": return out(expand(node, shape0))
        case "Resize": return out(resize(node, shape0))
        case "ConstantOfShape":
            var type: DataType? = .float
            if case .tensor(let t)? = node.attributes["value"] { type = t.dataType }
            return out(values[first], type)
        case "Range":
            // Length max(ceil((limit − start) / delta), 0) when all three scalars are known.
            guard node.inputs.count == 3, let start = knownInts(node.inputs[0])?.first, let limit = knownInts(node.inputs[1])?.first,
                  let delta = knownInts(node.inputs[2])?.first, delta != 0 else { return out([.unknown]) }
            let length = max(0, Int((Double(limit - start) / Double(delta)).rounded(.up)))
            if length <= 64 { values[node.outputs[0]] = stride(from: start, to: limit, by: delta).map { .known($0) } }
            return out([.known(length)])
        case "ArgMax", "ArgMin", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
             "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare":
            return out(reduce(node, shape0), op.hasPrefix("Arg") ? .int64 : nil)
        case "Split": return split(node, shape0, elements.first ?? nil)
        case "Tile":
            guard let s = shape0, let repeats = knownInts(node.inputs.count > 1 ? node.inputs[1] : ""), repeats.count == s.count else { return out(shape0.map { Array(repeating: .unknown, count: $0.count) }) }
            return out(zip(s, repeats).map { d, r in d.value.map { .known($0 * r) } ?? (r == 1 ? d : .unknown) })
        case "Pad":
            guard let s = shape0, let pads = knownInts(node.inputs.count > 1 ? node.inputs[1] : "") ?? node.intsAttribute("pads"),
                  pads.count == 2 * s.count, node.inputs.count < 4 || node.inputs[3].isEmpty else { return out(shape0.map { Array(repeating: .unknown, count: $0.count) }) }
            return out(s.enumerated().map { i, d in d.value.map { .known($0 + pads[i] + pads[i + s.count]) } ?? (pads[i] == 0 && pads[i + s.count] == 0 ? d : .unknown) })
        default:
            return elements.map { $0.map { Self.tensor($0, nil) } }
        }
    }

    /// Output element types from the schema: an output whose type parameter an input shares gets that input's type.
    func schemaElementTypes(_ node: Node, domain: String) -> [DataType?] {
        guard let opset = opsets[domain], let schema = OperatorSchemas.schema(node.opType, domain: domain, opset: opset) else {
            return node.outputs.map { _ in nil }
        }
        var bound: [String: DataType] = [:]
        for (index, input) in node.inputs.enumerated() where !input.isEmpty {
            let formal = index < schema.inputs.count ? schema.inputs[index] : schema.inputs.last
            if let formal, formal.option != .heterogeneous, let t = elementType(input), bound[formal.typeString] == nil { bound[formal.typeString] = t }
        }
        return node.outputs.indices.map { index in
            guard let formal = index < schema.outputs.count ? schema.outputs[index] : schema.outputs.last,
                  formal.option != .heterogeneous else { return nil }
            if let t = bound[formal.typeString] { return t }
            if let allowed = schema.typeConstraints[formal.typeString], allowed.count == 1, let only = allowed.first { return DataType(name: only) }
            return formal.typeString.hasPrefix("tensor(") ? DataType(name: formal.typeString) : nil
        }
    }

    // MARK: - Rules

    /// Multidirectional (numpy) broadcasting; reports incompatible fixed sizes.
    mutating func broadcast(_ a: [Dimension], _ b: [Dimension], node: Node) -> [Dimension]? {
        let rank = max(a.count, b.count)
        var result: [Dimension] = []
        for i in 0..<rank {
            let x = i < rank - a.count ? Dimension.known(1) : a[i - (rank - a.count)]
            let y = i < rank - b.count ? Dimension.known(1) : b[i - (rank - b.count)]
            switch (x, y) {
            case (.known(1), _): result.append(y)
            case (_, .known(1)): result.append(x)
            case (.known(let p), .known(let q)):
                if p != q {
                    report(node, "operand shapes \(Self.text(a)) and \(Self.text(b)) cannot be broadcast (dimension \(i): \(p) vs \(q))")
                    return nil
                }
                result.append(x)
            case (.known, _): result.append(x)
            case (_, .known): result.append(y)
            case (.symbolic(let p), .symbolic(let q)) where p == q: result.append(x)
            default: result.append(.unknown)
            }
        }
        return result
    }

    /// Tracks integer arithmetic on shape values (Add/Sub/Mul/Div of known sizes).
    mutating func propagateArithmetic(_ node: Node) {
        guard ["Add", "Sub", "Mul", "Div", "Max", "Min"].contains(node.opType), node.inputs.count == 2,
              let a = values[node.inputs[0]], let b = values[node.inputs[1]], a.count == b.count || a.count == 1 || b.count == 1
        else { return }
        let n = max(a.count, b.count)
        values[node.outputs[0]] = (0..<n).map { i in
            let x = a[a.count == 1 ? 0 : i], y = b[b.count == 1 ? 0 : i]
            if node.opType == "Mul", y == .known(1) { return x }
            if node.opType == "Mul", x == .known(1) { return y }
            if node.opType == "Div", y == .known(1) { return x }
            if node.opType == "Add" || node.opType == "Sub", y == .known(0) { return x }
            guard let p = x.value, let q = y.value else { return .unknown }
            switch node.opType {
            case "Add": return .known(p + q)
            case "Sub": return .known(p - q)
            case "Mul": return .known(p &* q)
            case "Div": return q <= 0 || p < 0 ? .unknown : .known(p / q)
            case "Max": return .known(max(p, q))
            default: return .known(min(p, q))
            }
        }
    }

    mutating func constantType(_ node: Node) -> [ValueType?] {
        let output = node.outputs.first ?? ""
        switch node.attributes["value"] ?? node.attributes["sparse_value"] {
        case .tensor(let t)?:
            recordValue(output, t)
            return [Self.tensor(t.dataType, t.shape.map { .known($0) })]
        default: break
        }
        switch node.attributes["value_int"] ?? node.attributes["value_ints"] ?? node.attributes["value_float"]
            ?? node.attributes["value_floats"] ?? node.attributes["value_string"] ?? node.attributes["value_strings"] {
        case .int(let v)?: values[output] = [.known(v)]; return [Self.tensor(.int64, [])]
        case .ints(let v)?: values[output] = v.map { .known($0) }; return [Self.tensor(.int64, [.known(v.count)])]
        case .float?: return [Self.tensor(.float, [])]
        case .floats(let v)?: return [Self.tensor(.float, [.known(v.count)])]
        case .string?: return [Self.tensor(.string, [])]
        case .strings(let v)?: return [Self.tensor(.string, [.known(v.count)])]
        default: return [nil]
        }
    }

    mutating func shapeOf(_ node: Node, _ input: [Dimension]?) -> [ValueType?] {
        guard let input else { return [Self.tensor(.int64, [.unknown])] }
        var start = node.intAttribute("start") ?? 0, end = node.intAttribute("end") ?? input.count
        if start < 0 { start += input.count }
        if end < 0 { end += input.count }
        start = min(max(start, 0), input.count)
        end = min(max(end, start), input.count)
        let dims = Array(input[start..<end])
        values[node.outputs[0]] = dims
        return [Self.tensor(.int64, [.known(dims.count)])]
    }

    /// Spatial output size of a convolution or pooling window along one axis.
    static func window(_ input: Dimension, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int, autoPad: String, ceil: Bool = false) -> Dimension {
        guard let size = input.value else { return .unknown }
        let effective = (kernel - 1) * dilation + 1
        switch autoPad {
        case "SAME_UPPER", "SAME_LOWER": return .known((size + stride - 1) / max(stride, 1))
        case "VALID": return .known((size - effective) / max(stride, 1) + 1)
        default:
            let span = size + padBegin + padEnd - effective
            guard span >= 0, stride > 0 else { return .unknown }
            var count = (ceil ? (span + stride - 1) / stride : span / stride) + 1
            // With ceil_mode, a last window that would start inside the end padding is dropped.
            if ceil && (count - 1) * stride >= size + padBegin { count -= 1 }
            return .known(count)
        }
    }

    static func autoPad(_ node: Node) -> String {
        if case .string(let s)? = node.attributes["auto_pad"] { return s }
        return "NOTSET"
    }

    mutating func conv(_ node: Node) -> [Dimension]? {
        let xName = node.inputs.first ?? ""
        let wName = node.opType == "QLinearConv" ? (node.inputs.count > 3 ? node.inputs[3] : "") : (node.inputs.count > 1 ? node.inputs[1] : "")
        guard let x = shape(xName), let w = shape(wName), x.count >= 3, w.count == x.count else { return nil }
        let group = node.intAttribute("group") ?? 1
        if let c = x[1].value, let wc = w[1].value, c != wc * group {
            report(node, "input has \(c) channels but the weights \(Self.text(w)) with group \(group) expect \(wc * group)")
        }
        let spatial = x.count - 2
        let kernel = node.intsAttribute("kernel_shape") ?? w.dropFirst(2).map { $0.value ?? 1 }
        let strides = node.intsAttribute("strides") ?? Array(repeating: 1, count: spatial)
        let dilations = node.intsAttribute("dilations") ?? Array(repeating: 1, count: spatial)
        let pads = node.intsAttribute("pads") ?? Array(repeating: 0, count: 2 * spatial)
        guard kernel.count == spatial, strides.count == spatial, dilations.count == spatial, pads.count == 2 * spatial else { return nil }
        let autoPad = Self.autoPad(node)
        return [x[0], w[0]] + (0..<spatial).map {
            Self.window(x[$0 + 2], kernel: kernel[$0], stride: strides[$0], dilation: dilations[$0], padBegin: pads[$0], padEnd: pads[$0 + spatial], autoPad: autoPad)
        }
    }

    /// Resize (opset 10 on): the `sizes` input when known, else floor(input · scale) per axis from
    /// constant `scales`. Nil with `axes`, a cropping mode or a non-stretching aspect policy.
    func resize(_ node: Node, _ x: [Dimension]?) -> [Dimension]? {
        guard let x, node.attributes["axes"] == nil,
              node.stringAttribute("coordinate_transformation_mode") != "tf_crop_and_resize",
              (node.stringAttribute("keep_aspect_ratio_policy") ?? "stretch") == "stretch" else { return nil }
        let scalesIndex = defaultOpset >= 11 ? 2 : 1
        if defaultOpset >= 11, node.inputs.count > 3, let sizes = knownInts(node.inputs[3]), sizes.count == x.count {
            return sizes.map { .known($0) }
        }
        guard node.inputs.count > scalesIndex, let scales = floatValues[node.inputs[scalesIndex]], scales.count == x.count else { return nil }
        return zip(x, scales).map { dimension, scale in
            guard let size = dimension.value else { return scale == 1 ? dimension : .unknown }
            return .known(Int((Double(size) * Double(scale)).rounded(.down)))
        }
    }

    func pool(_ node: Node, _ x: [Dimension]?) -> [Dimension]? {
        guard let x, x.count >= 3, let kernel = node.intsAttribute("kernel_shape") else { return nil }
        let spatial = x.count - 2
        let strides = node.intsAttribute("strides") ?? Array(repeating: 1, count: spatial)
        let dilations = node.intsAttribute("dilations") ?? Array(repeating: 1, count: spatial)
        let pads = node.intsAttribute("pads") ?? Array(repeating: 0, count: 2 * spatial)
        guard kernel.count == spatial, strides.count == spatial, dilations.count == spatial, pads.count == 2 * spatial else { return nil }
        let ceil = (node.intAttribute("ceil_mode") ?? 0) != 0
        let autoPad = Self.autoPad(node)
        return [x[0], x[1]] + (0..<spatial).map {
            Self.window(x[$0 + 2], kernel: kernel[$0], stride: strides[$0], dilation: dilations[$0], padBegin: pads[$0], padEnd: pads[$0 + spatial], autoPad: autoPad, ceil: ceil)
        }
    }

    mutating func matMul(_ node: Node) -> [Dimension]? {
        let bIndex = node.opType == "QLinearMatMul" ? 3 : 1
        guard node.inputs.count > bIndex, var a = shape(node.inputs[0]), var b = shape(node.inputs[bIndex]), !a.isEmpty, !b.isEmpty else { return nil }
        let vectorA = a.count == 1, vectorB = b.count == 1
        if vectorA { a.insert(.known(1), at: 0) }
        if vectorB { b.append(.known(1)) }
        if let k1 = a[a.count - 1].value, let k2 = b[b.count - 2].value, k1 != k2 {
            report(node, "inner dimensions differ: \(Self.text(a)) × \(Self.text(b)) (\(k1) vs \(k2))")
            return nil
        }
        guard let batch = broadcast(Array(a.dropLast(2)), Array(b.dropLast(2)), node: node) else { return nil }
        var result = batch
        if !vectorA { result.append(a[a.count - 2]) }
        if !vectorB { result.append(b[b.count - 1]) }
        return result
    }

    mutating func gemm(_ node: Node) -> [Dimension]? {
        guard node.inputs.count >= 2, let a = shape(node.inputs[0]), let b = shape(node.inputs[1]), a.count == 2, b.count == 2 else { return nil }
        let ta = (node.intAttribute("transA") ?? 0) != 0, tb = (node.intAttribute("transB") ?? 0) != 0
        let m = ta ? a[1] : a[0], k1 = ta ? a[0] : a[1], k2 = tb ? b[1] : b[0], n = tb ? b[0] : b[1]
        if let p = k1.value, let q = k2.value, p != q {
            report(node, "inner dimensions differ: A \(Self.text(a)) and B \(Self.text(b)) with transA=\(ta ? 1 : 0), transB=\(tb ? 1 : 0) (\(p) vs \(q))")
            return nil
        }
        if node.inputs.count > 2, !node.inputs[2].isEmpty, let c = shape(node.inputs[2]) {
            _ = broadcast([m, n], c, node: node)
        }
        return [m, n]
    }

    func flatten(_ node: Node, _ x: [Dimension]?) -> [Dimension]? {
        guard let x else { return [.unknown, .unknown] }
        var axis = node.intAttribute("axis") ?? 1
        if axis < 0 { axis += x.count }
        guard axis >= 0, axis <= x.count else { return nil }
        func product(_ dims: ArraySlice<Dimension>) -> Dimension {
            if dims.count == 1, let only = dims.first { return only }
            var p = 1
            for d in dims { guard let v = d.value else { return .unknown }; p *= v }
            return .known(p)
        }
        return [product(x[..<axis]), product(x[axis...])]
    }

    mutating func transpose(_ node: Node, _ x: [Dimension]?) -> [Dimension]? {
        guard let x else { return nil }
        let perm = node.intsAttribute("perm") ?? Array((0..<x.count).reversed())
        guard perm.count == x.count, Set(perm) == Set(0..<x.count) else {
            report(node, "perm \(perm) is not a permutation of the input's \(x.count) axes")
            return nil
        }
        return perm.map { x[$0] }
    }

    mutating func reshape(_ node: Node, _ x: [Dimension]?) -> [Dimension]? {
        let target: [Dimension]
        if let v = node.inputs.count > 1 ? values[node.inputs[1]] : nil {
            target = v
        } else if let s = node.intsAttribute("shape") {
            target = s.map { .known($0) }
        } else {
            if node.inputs.count > 1, let s = shape(node.inputs[1]), s.count == 1, let n = s[0].value { return Array(repeating: .unknown, count: n) }
            return nil
        }
        let allowZero = (node.intAttribute("allowzero") ?? 0) != 0
        var result = target.enumerated().map { i, d -> Dimension in
            if d == .known(0), !allowZero { return x.flatMap { i < $0.count ? $0[i] : nil } ?? .unknown }
            return d
        }
        if let inferIndex = result.firstIndex(of: .known(-1)) {
            result[inferIndex] = .unknown
            if let x {
                let total = x.reduce(Optional(1)) { p, d in p.flatMap { p in d.value.map { p * $0 } } }
                let rest = result.enumerated().reduce(Optional(1)) { p, e in e.offset == inferIndex ? p : p.flatMap { p in e.element.value.map { p * $0 } } }
                if let total, let rest, rest > 0 {
                    if total % rest != 0 {
                        report(node, "cannot reshape \(Self.text(x)) (\(total) elements) to \(Self.text(target))")
                        return nil
                    }
                    result[inferIndex] = .known(total / rest)
                } else {
                    // Symbolic: cancel matching dims of the input and the target.
                    var remaining = x
                    var others = result.enumerated().filter { $0.offset != inferIndex }.map(\.element)
                    for d in others where d != .unknown { if let j = remaining.firstIndex(of: d) { remaining.remove(at: j); others.removeAll { $0 == d } } }
                    if others.isEmpty, remaining.count == 1 { result[inferIndex] = remaining[0] }
                }
            }
        } else if let x {
            let total = x.reduce(Optional(1)) { p, d in p.flatMap { p in d.value.map { p * $0 } } }
            let wanted = result.reduce(Optional(1)) { p, d in p.flatMap { p in d.value.map { p * $0 } } }
            if let total, let wanted, total != wanted {
                report(node, "cannot reshape \(Self.text(x)) (\(total) elements) to \(Self.text(target)) (\(wanted) elements)")
                return nil
            }
        }
        if result.contains(where: { ($0.value ?? 0) < -1 }) { return nil }
        return result
    }

    mutating func squeeze(_ node: Node, _ x: [Dimension]?) -> [Dimension]? {
        let axes = (node.inputs.count > 1 ? knownInts(node.inputs[1]) : nil) ?? node.intsAttribute("axes")
        let input = node.inputs.first ?? ""
        if node.opType == "Unsqueeze" {
            guard let axes else { return nil }
            if let v = values[input], v.count == 1 || (shape(input)?.isEmpty ?? false), axes.count == 1 { values[node.outputs[0]] = v }
            guard let x else { return nil }
            let rank = x.count + axes.count
            let normalized = Set(axes.compactMap { Self.axis($0, rank: rank) })
            guard normalized.count == axes.count else {
                report(node, "axes \(axes) are out of range or repeated for an output of rank \(rank)")
                return nil
            }
            var iterator = x.makeIterator()
            return (0..<rank).map { normalized.contains($0) ? .known(1) : (iterator.next() ?? .unknown) }
        }
        guard let x else { return nil }
        if let v = values[input], v.count == 1 { values[node.outputs[0]] = v }
        if axes == nil && node.inputs.count > 1 && !node.inputs[1].isEmpty { return nil }
        guard let axes else {
            if x.allSatisfy({ $0.value != nil }) { return x.filter { $0 != .known(1) } }
            return nil
        }
        let normalized = Set(axes.compactMap { Self.axis($0, rank: x.count) })
        for a in normalized where x[a].value != nil && x[a] != .known(1) {
            report(node, "cannot squeeze axis \(a) of size \(x[a]) in \(Self.text(x))")
        }
        return x.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
    }

    mutating func concat(_ node: Node) -> [Dimension]? {
        let inputs = node.inputs.filter { !$0.isEmpty }
        if inputs.allSatisfy({ values[$0] != nil }) { values[node.outputs[0]] = inputs.flatMap { values[$0]! } }
        let shapes = inputs.map { shape($0) }
        guard let firstShape = shapes.first ?? nil, shapes.allSatisfy({ $0?.count == firstShape.count }) else { return nil }
        guard let axis = Self.axis(node.intAttribute("axis") ?? 0, rank: firstShape.count) else { return nil }
        var result = firstShape
        var total: Int? = 0
        for s in shapes {
            guard let s else { continue }
            for i in s.indices where i != axis {
                if let p = result[i].value, let q = s[i].value, p != q {
                    report(node, "inputs differ outside the concatenation axis \(axis): \(Self.text(firstShape)) vs \(Self.text(s))")
                    return nil
                }
                if result[i].value == nil, s[i].value != nil { result[i] = s[i] }
            }
            total = total.flatMap { t in s[axis].value.map { t + $0 } }
        }
        result[axis] = total.map { .known($0) } ?? (shapes.count == 1 ? firstShape[axis] : .unknown)
        return result
    }

    mutating func gather(_ node: Node) -> [Dimension]? {
        guard node.inputs.count == 2, let data = shape(node.inputs[0]), let indices = shape(node.inputs[1]) else { return nil }
        guard let axis = Self.axis(node.intAttribute("axis") ?? 0, rank: data.count) else {
            report(node, "axis is out of range for data of rank \(data.count)")
            return nil
        }
        if let v = values[node.inputs[0]], let idx = knownInts(node.inputs[1]) {
            let picked = idx.map { i -> Dimension in
                let j = i < 0 ? i + v.count : i
                return j >= 0 && j < v.count ? v[j] : .unknown
            }
            values[node.outputs[0]] = picked
        }
        return Array(data[..<axis]) + indices + Array(data[(axis + 1)...])
    }

    mutating func slice(_ node: Node, _ x: [Dimension]?) -> [Dimension]? {
        guard let x else { return nil }
        let starts: [Int]?, ends: [Int]?, axesList: [Int]?, steps: [Int]?
        if defaultOpset < 10 || node.inputs.count == 1 {
            starts = node.intsAttribute("starts"); ends = node.intsAttribute("ends"); axesList = node.intsAttribute("axes"); steps = nil
        } else {
            starts = knownInts(node.inputs[1])
            ends = node.inputs.count > 2 ? knownInts(node.inputs[2]) : nil
            axesList = node.inputs.count > 3 && !node.inputs[3].isEmpty ? knownInts(node.inputs[3]) : nil
            steps = node.inputs.count > 4 && !node.inputs[4].isEmpty ? knownInts(node.inputs[4]) : nil
            if node.inputs.count > 3 && !node.inputs[3].isEmpty && axesList == nil { return Array(repeating: .unknown, count: x.count) }
            if node.inputs.count > 4 && !node.inputs[4].isEmpty && steps == nil { return Array(repeating: .unknown, count: x.count) }
        }
        guard let starts, let ends, starts.count == ends.count else { return Array(repeating: .unknown, count: x.count) }
        let axes = axesList ?? Array(0..<starts.count)
        var result = x
        let value = node.inputs.first.flatMap { values[$0] }
        for (i, a) in axes.enumerated() {
            guard let axis = Self.axis(a, rank: x.count) else {
                report(node, "axis \(a) is out of range for rank \(x.count)")
                return nil
            }
            let step = steps.map { i < $0.count ? $0[i] : 1 } ?? 1
            guard step != 0 else { return nil }
            guard let size = x[axis].value else {
                if starts[i] == 0, ends[i] >= Int(Int32.max), step == 1 { continue }
                result[axis] = .unknown
                continue
            }
            var s = starts[i] < 0 ? starts[i] + size : starts[i]
            var e = ends[i] < 0 ? ends[i] + size : ends[i]
            if step > 0 {
                s = min(max(s, 0), size); e = min(max(e, 0), size)
                result[axis] = .known(max(0, (e - s + step - 1) / step))
            } else {
                s = min(max(s, -1), size - 1); e = min(max(e, -1), size - 1)
                result[axis] = .known(max(0, (s - e + (-step) - 1) / (-step)))
            }
            if x.count == 1, let value, value.count == size {
                var picked: [Dimension] = []
                var k = s
                while step > 0 ? k < e : k > e { picked.append(value[k]); k += step }
                values[node.outputs[0]] = picked
            }
        }
        return result
    }

    mutating func expand(_ node: Node, _ x: [Dimension]?) -> [Dimension]? {
        guard node.inputs.count > 1 else { return nil }
        guard let target = values[node.inputs[1]] else {
            if let s = shape(node.inputs[1]), s.count == 1, let n = s[0].value, let x { return Array(repeating: .unknown, count: max(n, x.count)) }
            return nil
        }
        guard let x else { return target.map { $0 == .known(1) ? .unknown : $0 } }
        return broadcast(x, target, node: node)
    }

    func reduce(_ node: Node, _ x: [Dimension]?) -> [Dimension]? {
        guard let x else { return nil }
        let keep = (node.intAttribute("keepdims") ?? 1) != 0
        var axes: [Int]
        if node.opType.hasPrefix("Arg") {
            axes = [node.intAttribute("axis") ?? 0]
        } else if let a = node.intsAttribute("axes") {
            axes = a
        } else if node.inputs.count > 1, !node.inputs[1].isEmpty {
            guard let a = knownInts(node.inputs[1]) else { return keep ? Array(repeating: .unknown, count: x.count) : nil }
            axes = a
        } else {
            axes = []
        }
        if axes.isEmpty {
            if (node.intAttribute("noop_with_empty_axes") ?? 0) != 0 { return x }
            axes = Array(0..<x.count)
        }
        let normalized = Set(axes.compactMap { Self.axis($0, rank: x.count) })
        return x.enumerated().compactMap { i, d in normalized.contains(i) ? (keep ? .known(1) : nil) : d }
    }

    func split(_ node: Node, _ x: [Dimension]?, _ type: DataType?) -> [ValueType?] {
        let count = node.outputs.count
        guard let x, let axis = Self.axis(node.intAttribute("axis") ?? 0, rank: x.count) else {
            return Array(repeating: Self.tensor(type, nil), count: count)
        }
        let splitInput = node.inputs.count > 1 && !node.inputs[1].isEmpty
        let sizes = (splitInput ? knownInts(node.inputs[1]) : nil) ?? node.intsAttribute("split")
        if splitInput && sizes == nil {
            return (0..<count).map { _ in var s = x; s[axis] = .unknown; return Self.tensor(type, s) }
        }
        return (0..<count).map { i in
            var s = x
            if let sizes, i < sizes.count { s[axis] = .known(sizes[i]) }
            else if let n = x[axis].value, sizes == nil, node.intAttribute("num_outputs") == nil || n % count == 0 {
                s[axis] = n % count == 0 ? .known(n / count) : .unknown
            } else { s[axis] = .unknown }
            return Self.tensor(type, s)
        }
    }
}
