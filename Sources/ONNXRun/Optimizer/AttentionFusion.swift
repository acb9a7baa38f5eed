/// Replaces scaled-dot-product attention, `MatMul(Q, Kᵀ) → Div or Mul by a scalar → Add mask or
/// Where(mask, ·, fill) → Softmax(last axis) → MatMul(·, V)` (scale and mask optional), by one
/// `ScaledDotProductAttention` node of this project's domain. A Transpose swapping K's last two
/// axes is absorbed. Every intermediate must have no reader outside the pattern.
struct AttentionFusion: OptimizationPass {
    var name: String { "attention-fusion" }

    func run(on model: inout Model) throws -> Bool {
        let index = PatternIndex(model)
        var rewrites: [Rewrite] = []
        for (i, node) in model.graph.nodes.enumerated() where node.isStandard("Softmax") {
            if let rewrite = match(i, node, index) { rewrites.append(rewrite) }
        }
        return model.apply(rewrites)
    }

    private func match(_ softmaxIndex: Int, _ softmax: Node, _ index: PatternIndex) -> Rewrite? {
        guard case .int(-1)? = softmax.attributes["axis"], softmax.inputs.count == 1,
              let (outIndex, out) = index.soleReader(of: softmax.outputs[0]), out.isStandard("MatMul"),
              out.inputs.count == 2, out.inputs[0] == softmax.outputs[0], out.inputs[1] != softmax.outputs[0]
        else { return nil }
        var nodes = [softmaxIndex, outIndex]
        var attributes: [String: Attribute] = [:]
        var scores = softmax.inputs[0], reader = softmaxIndex
        var mask: String? = nil

        /// Steps to the producer of `scores` when it is a standard `opType` read only by `reader`.
        func step(_ opType: String) -> (Int, Node)? {
            guard let (i, node) = index.producer(of: scores, opType), index.isReadOnly(scores, by: reader) else { return nil }
            return (i, node)
        }
        // The optional mask.
        if let (i, add) = step("Add"), add.inputs.count == 2 {
            // The scores side is the one produced by the scaling or the product.
            let side = [0, 1].first { j in
                guard let p = index.producer[add.inputs[j]] else { return false }
                return ["Div", "Mul", "MatMul"].contains { index.graph.nodes[p].isStandard($0) } && add.inputs[1 - j] != add.inputs[j]
            }
            guard let side else { return nil }
            mask = add.inputs[1 - side]
            attributes["mask_operation"] = .string("Add")
            nodes.append(i)
            (scores, reader) = (add.inputs[side], i)
        } else if let (i, select) = step("Where"), select.inputs.count == 3, let fill = index.scalar(select.inputs[2]),
                  select.inputs[0] != select.inputs[1] {
            mask = select.inputs[0]
            attributes["mask_operation"] = .string("Where")
            attributes["fill"] = .float(fill)
            nodes.append(i)
            (scores, reader) = (select.inputs[1], i)
        }
        // The optional scaling.
        if let (i, div) = step("Div"), div.inputs.count == 2, let scale = index.scalar(div.inputs[1]) {
            attributes["scale"] = .float(scale)
            attributes["scale_operation"] = .string("Div")
            nodes.append(i)
            (scores, reader) = (div.inputs[0], i)
        } else if let (i, mul) = step("Mul"), mul.inputs.count == 2 {
            guard let j = [1, 0].first(where: { index.scalar(mul.inputs[$0]) != nil }) else { return nil }
            attributes["scale"] = .float(index.scalar(mul.inputs[j])!)
            attributes["scale_operation"] = .string("Mul")
            nodes.append(i)
            (scores, reader) = (mul.inputs[1 - j], i)
        }
        guard let (productIndex, product) = step("MatMul"), product.inputs.count == 2 else { return nil }
        nodes.append(productIndex)
        var key = product.inputs[1]
        if let (t, transpose) = index.producer(of: key, "Transpose"), let perm = transpose.swapsLastTwoAxes,
           index.isReadOnly(key, by: productIndex) {
            attributes["perm_k"] = .ints(perm)
            nodes.append(t)
            key = transpose.inputs[0]
        }
        var inputs = [product.inputs[0], key, out.inputs[1]]
        if let mask { inputs.append(mask) }
        let replacement = fusedNode("ScaledDotProductAttention", name: "\(softmax.name)/fused_attention",
                                    inputs: inputs, outputs: out.outputs, attributes)
        return Rewrite(removed: Set(nodes), replacement: replacement)
    }
}
