/// One graph rewrite. Passes must never change what the graph computes.
protocol OptimizationPass {
    /// A short name for logs and tests.
    var name: String { get }
    /// Rewrites the model's main graph; returns true when it changed something.
    func run(on model: inout Model) throws -> Bool
}

/// Runs the optimization passes of a level over a model until nothing changes.
///
/// Level 0 returns the model as loaded; level 1 removes no-ops and dead nodes and folds constants;
/// level 2 adds fusions (as they are written).
public enum Optimizer {
    /// Passes run at `level`, in order.
    static func passes(for level: Int) -> [any OptimizationPass] {
        guard level > 0 else { return [] }
        let cleanup: [any OptimizationPass] = [
            ConstantFolding(), ShapeFolding(), RedundantShapeOpElimination(), CommonSubexpressionElimination(), NoOpElimination(),
            DeadNodeElimination(),
        ]
        guard level > 1 else { return cleanup }
        let fusions: [any OptimizationPass] = [
            LayerNormFusion(), GeluFusion(), SiLUFusion(), AttentionFusion(), TransposeIntoMatMul(), MatMulBiasFusion(),
            MatMulActivationFusion(), GemmActivationFusion(), ScaleShiftIntoProducer(), BatchNormIntoConv(), ConvAddFusion(),
            ChannelsLastOutputIntoConv(), ConvActivationFusion(), ChannelShuffleIntoConv(), PackMatMulWeights(),
            DeadNodeElimination(),
        ]
        return cleanup + fusions
    }

    /// The optimized model. Runs the level's passes until a fixed point (at most a few rounds).
    public static func optimize(_ model: consuming Model, level: Int) throws -> Model {
        // Taking the model over lets passes that replace weights free the originals as they go.
        var result = consume model
        let passes = passes(for: level)
        guard !passes.isEmpty else { return result }
        for _ in 0..<4 {
            var changed = false
            for pass in passes { changed = try pass.run(on: &result) || changed }
            if !changed { break }
        }
        return result
    }

    /// Names whose values are fixed for every run: initializers that cannot be overridden by a feed.
    /// Before IR version 4 every initializer was also listed as an input, yet meant as a constant.
    static func constantNames(of model: Model) -> Set<String> {
        let graph = model.graph
        if model.irVersion < 4 { return Set(graph.initializers.keys) }
        let inputs = Set(graph.inputs.map(\.name))
        return Set(graph.initializers.keys.filter { !inputs.contains($0) })
    }
}
