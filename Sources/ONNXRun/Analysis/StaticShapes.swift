/// The shapes of a graph's values that every run agrees on, for kernels that choose a method at
/// plan time (a convolution skips Winograd weights for maps too small to use them).
///
/// Inference runs on the first question only, from the graph inputs' declared shapes (not the
/// model's `value_info`, which the runtime never checks): the runtime rejects inputs whose fixed
/// dimensions differ from the declared ones, so what it infers holds for every run.
final class StaticShapes {
    private let model: Model
    private var inferred: ShapeInference.Result?

    /// Shapes of `model`'s main graph.
    init(model: Model) { self.model = model }

    /// The shape of `name` in every run, or nil when a dimension is symbolic or unknown.
    func shape(of name: String) -> [Int]? {
        if inferred == nil {
            // Shape inference knows standard operators only: this project's fused ones are inferred
            // through their portable expansion, which keeps every value of the graph.
            let portable = (try? Optimizer.makePortable(model)) ?? model
            inferred = ShapeInference.infer(portable, useValueInfo: false)
        }
        guard let dimensions = inferred?.shape(of: name) else { return nil }
        let sizes = dimensions.compactMap(\.value)
        return sizes.count == dimensions.count ? sizes : nil
    }
}
