/// Replaces the exported forms of GELU by one `Gelu` node of this project's domain:
/// erf form `x · 0.5 · (1 + erf(x / √2))` (Div by √2 or Mul by 1/√2) and tanh form
/// `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))` (x³ as Pow 3 or Mul x·x·x), with the final
/// products in any of the orders exporters write. Constants are float32 scalars; every
/// intermediate must have no reader outside the pattern.
struct GeluFusion: OptimizationPass {
    var name: String { "gelu-fusion" }

    func run(on model: inout Model) throws -> Bool {
        let index = PatternIndex(model)
        var rewrites: [Rewrite] = []
        for (i, node) in model.graph.nodes.enumerated() {
            if node.isStandard("Erf"), let rewrite = erfForm(i, node, index) { rewrites.append(rewrite) }
            if node.isStandard("Tanh"), let rewrite = tanhForm(i, node, index) { rewrites.append(rewrite) }
        }
        return model.apply(rewrites)
    }

    /// Div(x, √2) or Mul(x, 1/√2) → Erf → Add 1 → products with x and 0.5.
    private func erfForm(_ erfIndex: Int, _ erf: Node, _ index: PatternIndex) -> Rewrite? {
        guard erf.inputs.count == 1, let scaled = index.producer[erf.inputs[0]], index.isReadOnly(erf.inputs[0], by: erfIndex) else { return nil }
        let scaling = index.graph.nodes[scaled]
        let x: String
        if scaling.isStandard("Div"), scaling.inputs.count == 2, index.scalar(scaling.inputs[1], isNear: 2.0.squareRoot()) {
            x = scaling.inputs[0]
        } else if scaling.isStandard("Mul"), let (_, other) = scalarOperand(scaling, index, isNear: 0.5.squareRoot()) {
            x = other
        } else {
            return nil
        }
        guard let (tail, output) = onePlus(erf.outputs[0], times: x, index) else { return nil }
        let replacement = fusedNode("Gelu", name: "\(erf.name)/fused_gelu", inputs: [x], outputs: [output], ["approximate": .string("none")])
        return Rewrite(removed: Set([scaled, erfIndex] + tail), replacement: replacement)
    }

    /// Mul(√(2/π), Add(x, Mul(0.044715, x³))) → Tanh → Add 1 → products with x and 0.5.
    private func tanhForm(_ tanhIndex: Int, _ tanh: Node, _ index: PatternIndex) -> Rewrite? {
        guard tanh.inputs.count == 1, let p = index.producer[tanh.inputs[0]], index.isReadOnly(tanh.inputs[0], by: tanhIndex) else { return nil }
        let scaling = index.graph.nodes[p]
        guard scaling.isStandard("Mul"), let (_, inner) = scalarOperand(scaling, index, isNear: (2 / Double.pi).squareRoot()),
              let (innerIndex, sum) = index.producer(of: inner, "Add"), index.isReadOnly(inner, by: p), sum.inputs.count == 2
        else { return nil }
        for (x, term) in [(sum.inputs[0], sum.inputs[1]), (sum.inputs[1], sum.inputs[0])] {
            guard let (termIndex, termNode) = index.producer(of: term, "Mul"), index.isReadOnly(term, by: innerIndex),
                  let (_, cube) = scalarOperand(termNode, index, isNear: 0.044715),
                  let cubeNodes = self.cube(of: x, named: cube, readBy: termIndex, index),
                  let (tail, output) = onePlus(tanh.outputs[0], times: x, index)
            else { continue }
            let replacement = fusedNode("Gelu", name: "\(tanh.name)/fused_gelu", inputs: [x], outputs: [output], ["approximate": .string("tanh")])
            return Rewrite(removed: Set([p, tanhIndex, innerIndex, termIndex] + cubeNodes + tail), replacement: replacement)
        }
        return nil
    }

    /// The nodes computing `name` = x³ as Pow(x, 3) or Mul(Mul(x, x), x) in either order.
    private func cube(of x: String, named name: String, readBy reader: Int, _ index: PatternIndex) -> [Int]? {
        guard let i = index.producer[name], index.isReadOnly(name, by: reader) else { return nil }
        let node = index.graph.nodes[i]
        if node.isStandard("Pow"), node.inputs.count == 2, node.inputs[0] == x, index.scalar(node.inputs[1], is: 3) { return [i] }
        guard node.isStandard("Mul"), let square = node.otherInput(than: x),
              let (s, squareNode) = index.producer(of: square, "Mul"), index.isReadOnly(square, by: i),
              squareNode.inputs == [x, x]
        else { return nil }
        return [i, s]
    }

    /// Matches `a` → Add(a, 1) → the products with x and 0.5 (x·(1+a)·0.5, (0.5·x)·(1+a) or
    /// x·((1+a)·0.5), each operand order). Returns the matched nodes and the final output.
    private func onePlus(_ a: String, times x: String, _ index: PatternIndex) -> (nodes: [Int], output: String)? {
        guard let (addIndex, add) = index.soleReader(of: a), add.isStandard("Add"), let one = add.otherInput(than: a),
              index.scalar(one, is: 1) else { return nil }
        let sum = add.outputs[0]
        guard let (mulIndex, mul) = index.soleReader(of: sum), mul.isStandard("Mul"), let other = mul.otherInput(than: sum) else { return nil }
        if other == x {
            // (x · (1+a)) · 0.5
            guard let (halfIndex, half) = index.soleReader(of: mul.outputs[0]), half.isStandard("Mul"),
                  let c = half.otherInput(than: mul.outputs[0]), index.scalar(c, is: 0.5) else { return nil }
            return ([addIndex, mulIndex, halfIndex], half.outputs[0])
        }
        if index.scalar(other, is: 0.5) {
            // x · ((1+a) · 0.5)
            guard let (outerIndex, outer) = index.soleReader(of: mul.outputs[0]), outer.isStandard("Mul"),
                  outer.otherInput(than: mul.outputs[0]) == x else { return nil }
            return ([addIndex, mulIndex, outerIndex], outer.outputs[0])
        }
        // (0.5 · x) · (1+a)
        guard let (halfIndex, half) = index.producer(of: other, "Mul"), index.isReadOnly(other, by: mulIndex),
              let c = half.otherInput(than: x), index.scalar(c, is: 0.5) else { return nil }
        return ([addIndex, mulIndex, halfIndex], mul.outputs[0])
    }

    /// For a two-input node with one float scalar operand near `value`: (that scalar, the other input).
    private func scalarOperand(_ node: Node, _ index: PatternIndex, isNear value: Double) -> (String, String)? {
        guard node.inputs.count == 2 else { return nil }
        if index.scalar(node.inputs[1], isNear: value) { return (node.inputs[1], node.inputs[0]) }
        if index.scalar(node.inputs[0], isNear: value) { return (node.inputs[0], node.inputs[1]) }
        return nil
    }
}
