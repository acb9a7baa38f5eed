import Foundation

/// FlexAttention (ai.onnx.preview): scaled dot-product attention on rank-4 inputs with optional
/// `score_mod` and `prob_mod` subgraphs (compiled once with the plan) and grouped K/V heads.
struct FlexAttentionKernel: Kernel {
    let scoreMod: ExecutionPlan?
    let probMod: ExecutionPlan?
    let scale: Float?
    let precision: DataType?

    init(_ context: KernelContext) throws {
        try context.expectInputs(3)
        scoreMod = try context.graph("score_mod").map { try context.compileSubgraph($0) }
        probMod = try context.graph("prob_mod").map { try context.compileSubgraph($0) }
        let s = try context.float("scale")
        scale = s == 0 ? nil : s
        precision = try context.int("softmax_precision").flatMap { DataType(rawValue: Int32($0)) }
    }

    func run(_ inputs: [Value?], _ context: RunContext) throws -> [Value] {
        let q = try inputs.tensor(0), k = try inputs.tensor(1), v = try inputs.tensor(2)
        guard q.rank == 4, k.rank == 4, v.rank == 4, q.shape[0] == k.shape[0], k.shape[1] == v.shape[1], q.shape[1] % k.shape[1] == 0 else {
            throw ONNXRunError(.shapeMismatch, "Q \(q.shape), K \(k.shape), V \(v.shape) must be rank 4 with compatible heads")
        }
        let (b, hq, lq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (hkv, lk, dv) = (k.shape[1], k.shape[2], v.shape[3])
        let group = hq / hkv
        let work = precision ?? (q.dataType == .double ? .double : .float)
        let qs = try Elements(q).doubles, ks = try Elements(k).doubles, vs = try Elements(v).doubles
        let factor = Double(scale ?? Float(1 / Double(d).squareRoot()))
        var scores = [Double](repeating: 0, count: b * hq * lq * lk)
        for n in 0..<b { for h in 0..<hq { for i in 0..<lq { for j in 0..<lk {
            var sum = 0.0
            let qb = ((n * hq + h) * lq + i) * d, kb = ((n * hkv + h / group) * lk + j) * d
            for x in 0..<d { sum += qs[qb + x] * ks[kb + x] }
            scores[((n * hq + h) * lq + i) * lk + j] = sum * factor
        } } } }
        func apply(_ plan: ExecutionPlan?, _ values: [Double]) throws -> [Double] {
            let tensor = try Conversion.cast(try Tensor(shape: [b, hq, lq, lk], scalars: values), to: work)
            guard let plan else { return try Elements(tensor).doubles }
            guard let result = try plan.run(inputs: [.tensor(tensor)], context: context).first?.tensor else {
                throw ONNXRunError(.invalidModel, "a FlexAttention modifier must return one tensor")
            }
            return try Elements(result).doubles
        }
        scores = try apply(scoreMod, scores)
        for row in 0..<(b * hq * lq) {
            let base = row * lk
            let peak = scores[base..<base + lk].max() ?? 0
            var total = 0.0
            for j in 0..<lk {
                let e = peak.isFinite ? Foundation.exp(scores[base + j] - peak) : 0
                scores[base + j] = e
                total += e
            }
            for j in 0..<lk { scores[base + j] = total > 0 ? scores[base + j] / total : 0 }
        }
        let probs = try apply(probMod, scores)
        var out = [Double](repeating: 0, count: b * hq * lq * dv)
        for n in 0..<b { for h in 0..<hq { for i in 0..<lq { for x in 0..<dv {
            var sum = 0.0
            for j in 0..<lk { sum += probs[((n * hq + h) * lq + i) * lk + j] * vs[((n * hkv + h / group) * lk + j) * dv + x] }
            out[((n * hq + h) * lq + i) * dv + x] = sum
        } } } }
        return [.tensor(try Conversion.cast(try Tensor(shape: [b, hq, lq, dv], scalars: out), to: q.dataType))]
    }
}

extension KernelRegistry {
    static func registerFlexAttention(_ r: inout KernelRegistry) {
        r.register("FlexAttention", domain: "ai.onnx.preview", since: 1) { try FlexAttentionKernel($0) }
    }
}
