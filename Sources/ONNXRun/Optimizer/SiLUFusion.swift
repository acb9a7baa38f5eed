/// Replaces SiLU written as `Mul(x, Sigmoid(x))` (either operand order) by one `SiLU` node of this
/// project's domain, which Conv and MatMul activation fusion then apply in their epilogue. The
/// Sigmoid output must have no other reader.
struct SiLUFusion: OptimizationPass {
    var name: String { "silu-fusion" }

    func run(on model: inout Model) throws -> Bool {
        let index = PatternIndex(model)
        var rewrites: [Rewrite] = []
        for (i, mul) in model.graph.nodes.enumerated() where mul.isStandard("Mul") && mul.inputs.count == 2 && mul.outputs.count == 1 {
            for (s, x) in [(mul.inputs[0], mul.inputs[1]), (mul.inputs[1], mul.inputs[0])] {
                guard let (sigmoidIndex, sigmoid) = index.producer(of: s, "Sigmoid"), sigmoid.inputs.first == x,
                      index.isReadOnly(s, by: i) else { continue }
                rewrites.append(Rewrite(removed: [sigmoidIndex, i], replacement: fusedNode("SiLU", name: "\(mul.name)/fused_silu", inputs: [x], outputs: mul.outputs)))
                break
            }
        }
        return model.apply(rewrites)
    }
}
