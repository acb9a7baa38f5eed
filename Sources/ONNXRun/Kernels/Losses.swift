import Foundation

/// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
///
/// Input is [N, C, D1, ..., Dk] (scores or log-probabilities), target [N, D1, ..., Dk] holds class
/// indices. Each position contributes −input[n, target, d] · weight[target] (weight 1 without the
/// optional weights input), or nothing when its target equals `ignore_index`. `reduction` "none" keeps
/// the per-position losses (target's shape), "sum" adds them, "mean" divides the sum by the total
/// weight of the positions not ignored. Computed in Double, returned in the input's type.
struct LossKernel: TensorKernel {
    enum Reduction: Sendable { case none, sum, mean }

    let softmax: Bool
    let reduction: Reduction
    let ignoreIndex: Int?
    let wantsLogProb: Bool

    init(_ context: KernelContext, softmax: Bool) throws {
        try context.expectInputs(2, 3)
        self.softmax = softmax
        switch try context.string("reduction", default: "mean") {
        case "none": reduction = .none
        case "sum": reduction = .sum
        case "mean": reduction = .mean
        case let other: throw context.error(.invalidAttribute, "reduction must be none, sum or mean, got '\(other)'")
        }
        ignoreIndex = try context.int("ignore_index")
        let outputs = context.node.outputs
        wantsLogProb = softmax && outputs.count > 1 && !outputs[1].isEmpty
    }

    private var op: String { softmax ? "SoftmaxCrossEntropyLoss" : "NegativeLogLikelihoodLoss" }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0], let target = inputs[1] else { throw ONNXRunError(.invalidInput, "input and target are required") }
        let weightT = inputs.count > 2 ? inputs[2] : nil
        switch x.dataType {
        case .float, .double, .float16, .bfloat16: break
        default: throw ONNXRunError(.unsupportedType, "\(op) of \(x.dataType) is not supported")
        }
        guard x.rank >= 2 else { throw ONNXRunError(.shapeMismatch, "input must have rank 2 or more, got \(x.shape)") }
        let batch = x.shape[0], classes = x.shape[1]
        let expectedTarget = [batch] + Array(x.shape[2...])
        guard target.shape == expectedTarget else {
            throw ONNXRunError(.shapeMismatch, "target \(target.shape) must be \(expectedTarget) for input \(x.shape)")
        }
        let inner = x.shape[2...].reduce(1, *)
        let labels = try Conversion.integers(target)
        let weights = try weightT.map { try Conversion.cast($0, to: .double).scalars(as: Double.self) }
        if let weights, weights.count != classes {
            throw ONNXRunError(.shapeMismatch, "weight has \(weights.count) values for \(classes) classes")
        }
        var values = try Conversion.cast(x, to: .double).scalars(as: Double.self)
        if softmax {
            // Log-softmax over the class axis.
            for n in 0..<batch {
                for d in 0..<inner where classes > 0 {
                    let base = n * classes * inner + d
                    var maximum = -Double.infinity
                    for c in 0..<classes { maximum = max(maximum, values[base + c * inner]) }
                    var sum = 0.0
                    for c in 0..<classes { sum += Foundation.exp(values[base + c * inner] - maximum) }
                    let offset = maximum + Foundation.log(sum)
                    for c in 0..<classes { values[base + c * inner] -= offset }
                }
            }
        }
        var losses = [Double](repeating: 0, count: batch * inner)
        var totalWeight = 0.0
        for n in 0..<batch {
            for d in 0..<inner {
                let label = labels[n * inner + d]
                if label == ignoreIndex { continue }
                guard label >= 0 && label < classes else {
                    throw ONNXRunError(.outOfRange, "target \(label) is outside [0, \(classes))")
                }
                let w = weights?[label] ?? 1
                losses[n * inner + d] = -values[(n * classes + label) * inner + d] * w
                totalWeight += w
            }
        }
        let loss: Tensor
        switch reduction {
        case .none: loss = try Tensor(shape: target.shape, scalars: losses)
        case .sum: loss = Tensor(scalar: losses.reduce(0, +))
        case .mean: loss = Tensor(scalar: losses.reduce(0, +) / totalWeight)
        }
        var results = [try Conversion.cast(loss, to: x.dataType)]
        if wantsLogProb {
            results.append(try Conversion.cast(Tensor(shape: x.shape, scalars: values), to: x.dataType))
        }
        return results
    }
}

extension KernelRegistry {
    static func registerLosses(_ r: inout KernelRegistry) {
        r.register("NegativeLogLikelihoodLoss", since: 12, 13, 22) { try LossKernel($0, softmax: false) }
        r.register("SoftmaxCrossEntropyLoss", since: 12, 13) { try LossKernel($0, softmax: true) }
    }
}
