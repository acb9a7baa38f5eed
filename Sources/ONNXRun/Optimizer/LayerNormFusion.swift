/// Replaces the decomposed layer normalization exporters write below opset 17,
/// `ReduceMean → Sub → Pow 2 (or Mul d·d) → ReduceMean → Add ε → Sqrt → Div → Mul γ → Add β`
/// over the last axis, by one `LayerNormalization` node of this project's domain. The Div may read
/// the same Sub as the Pow or a second identical Sub. γ and β are constant float vectors; β is optional.
struct LayerNormFusion: OptimizationPass {
    var name: String { "layer-norm-fusion" }

    func run(on model: inout Model) throws -> Bool {
        let index = PatternIndex(model)
        var rewrites: [Rewrite] = []
        for (i, node) in model.graph.nodes.enumerated() where node.isStandard("Div") {
            if let rewrite = match(i, node, index, opset: model.opsetImports[""] ?? 1) { rewrites.append(rewrite) }
        }
        return model.apply(rewrites)
    }

    private func match(_ divIndex: Int, _ div: Node, _ index: PatternIndex, opset: Int) -> Rewrite? {
        guard div.inputs.count == 2,
              let (sqrtIndex, sqrt) = index.producer(of: div.inputs[1], "Sqrt"), index.isReadOnly(div.inputs[1], by: divIndex),
              let (addIndex, add) = index.producer(of: sqrt.inputs[0], "Add"), index.isReadOnly(sqrt.inputs[0], by: sqrtIndex),
              add.inputs.count == 2, let epsilon = index.scalar(add.inputs[1]), epsilon >= 0,
              let (varianceIndex, variance) = index.producer[add.inputs[0]].map({ ($0, index.graph.nodes[$0]) }),
              index.reducesLastAxis(variance, opset: opset), index.isReadOnly(add.inputs[0], by: addIndex),
              let (squareIndex, square) = index.producer[variance.inputs[0]].map({ ($0, index.graph.nodes[$0]) }),
              index.isReadOnly(variance.inputs[0], by: varianceIndex)
        else { return nil }
        // The square of the centered value: Pow(d, 2) or Mul(d, d).
        let centered: String
        if square.isStandard("Pow"), square.inputs.count == 2, index.scalar(square.inputs[1], is: 2) {
            centered = square.inputs[0]
        } else if square.isStandard("Mul"), square.inputs.count == 2, square.inputs[0] == square.inputs[1] {
            centered = square.inputs[0]
        } else {
            return nil
        }
        guard let (subIndex, sub) = index.producer(of: centered, "Sub"), sub.inputs.count == 2,
              let (meanIndex, mean) = index.producer[sub.inputs[1]].map({ ($0, index.graph.nodes[$0]) }),
              index.reducesLastAxis(mean, opset: opset), mean.inputs[0] == sub.inputs[0]
        else { return nil }
        let x = sub.inputs[0]
        var nodes = [meanIndex, subIndex, squareIndex, varianceIndex, addIndex, sqrtIndex, divIndex]
        if div.inputs[0] == centered {
            guard index.isReadOnly(centered, by: [squareIndex, divIndex]), index.isReadOnly(sub.inputs[1], by: subIndex) else { return nil }
        } else {
            // A second Sub(x, mean) feeding the Div.
            guard let (secondIndex, second) = index.producer(of: div.inputs[0], "Sub"), second.inputs == sub.inputs,
                  index.isReadOnly(div.inputs[0], by: divIndex), index.isReadOnly(centered, by: squareIndex),
                  index.isReadOnly(sub.inputs[1], by: [subIndex, secondIndex])
            else { return nil }
            nodes.append(secondIndex)
        }
        // Scale, then the optional shift.
        guard let (mulIndex, mul) = index.soleReader(of: div.outputs[0]), mul.isStandard("Mul"),
              let gamma = mul.otherInput(than: div.outputs[0]), index.isVector(gamma)
        else { return nil }
        nodes.append(mulIndex)
        var inputs = [x, gamma]
        var output = mul.outputs[0]
        if let (shiftIndex, shift) = index.soleReader(of: mul.outputs[0]), shift.isStandard("Add"),
           let beta = shift.otherInput(than: mul.outputs[0]), index.isVector(beta) {
            nodes.append(shiftIndex)
            inputs.append(beta)
            output = shift.outputs[0]
        }
        let replacement = fusedNode(
            "LayerNormalization", name: "\(div.name)/fused_layer_norm", inputs: inputs, outputs: [output],
            ["axis": .int(-1), "epsilon": .float(epsilon)])
        return Rewrite(removed: Set(nodes), replacement: replacement)
    }
}
