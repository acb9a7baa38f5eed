import Foundation

/// LinearAttention (opset 27): recurrent linear attention with the linear, gated, delta and
/// gated-delta update rules, grouped-query heads and a carried state (B, H_kv, d_k, d_v).
/// Computed token by token in float32, as the recurrence is defined.
struct LinearAttentionKernel: TensorKernel {
    let rule: String
    let qHeads: Int
    let kvHeads: Int
    let scale: Float?

    init(_ context: KernelContext) throws {
        try context.expectInputs(3, 6)
        rule = try context.string("update_rule", default: "gated_delta")
        guard ["linear", "gated", "delta", "gated_delta"].contains(rule) else { throw context.error(.invalidAttribute, "unknown update_rule '\(rule)'") }
        qHeads = try context.required("q_num_heads", context.int)
        kvHeads = try context.required("kv_num_heads", context.int)
        guard qHeads > 0, kvHeads > 0, qHeads % kvHeads == 0 else { throw context.error(.invalidAttribute, "q_num_heads \(qHeads) must be a positive multiple of kv_num_heads \(kvHeads)") }
        let s = try context.float("scale")
        scale = s == 0 ? nil : s
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let q = inputs[0], let k = inputs[1], let v = inputs[2], q.rank == 3, k.rank == 3, v.rank == 3 else {
            throw ONNXRunError(.invalidInput, "query, key and value must be rank 3 (B, T, H·D)")
        }
        let gating = rule == "gated" || rule == "gated_delta", delta = rule == "delta" || rule == "gated_delta"
        let decayTensor = inputs.count > 4 ? inputs[4] : nil, betaTensor = inputs.count > 5 ? inputs[5] : nil
        guard gating == (decayTensor != nil), delta == (betaTensor != nil) else {
            throw ONNXRunError(.invalidInput, "update_rule '\(rule)' \(gating ? "requires" : "forbids") decay and \(delta ? "requires" : "forbids") beta")
        }
        let (b, t) = (q.shape[0], q.shape[1])
        let dk = q.shape[2] / qHeads, dv = v.shape[2] / kvHeads, group = qHeads / kvHeads
        let qs = try Conversion.floats(q), ks = try Conversion.floats(k), vs = try Conversion.floats(v)
        let decay = try decayTensor.map { try Conversion.floats($0) }, beta = try betaTensor.map { try Conversion.floats($0) }
        let decayWidth = decayTensor?.shape[2] ?? 0, betaWidth = betaTensor?.shape[2] ?? 0
        let pastTensor = inputs.count > 3 ? inputs[3] : nil
        var state = try pastTensor.map { try Conversion.floats($0) } ?? [Float](repeating: 0, count: b * kvHeads * dk * dv)
        guard state.count == b * kvHeads * dk * dv else { throw ONNXRunError(.shapeMismatch, "past_state does not have shape (\(b), \(kvHeads), \(dk), \(dv))") }
        let factor = scale ?? 1 / Float(dk).squareRoot()
        var output = [Float](repeating: 0, count: b * t * qHeads * dv)
        for batch in 0..<b {
            for step in 0..<t {
                for h in 0..<kvHeads {
                    let s0 = ((batch * kvHeads) + h) * dk * dv
                    let kBase = (batch * t + step) * kvHeads * dk + h * dk
                    let vBase = (batch * t + step) * kvHeads * dv + h * dv
                    if let decay {
                        for i in 0..<dk {
                            let g = decayWidth == kvHeads ? decay[(batch * t + step) * kvHeads + h] : decay[(batch * t + step) * kvHeads * dk + h * dk + i]
                            let factor = Foundation.exp(g)
                            for j in 0..<dv { state[s0 + i * dv + j] *= factor }
                        }
                    }
                    var update = (0..<dv).map { vs[vBase + $0] }
                    if let beta {
                        let bt = betaWidth == 1 ? beta[batch * t + step] : beta[(batch * t + step) * kvHeads + h]
                        for j in 0..<dv {
                            var retrieved: Float = 0
                            for i in 0..<dk { retrieved += state[s0 + i * dv + j] * ks[kBase + i] }
                            update[j] = bt * (update[j] - retrieved)
                        }
                    }
                    for i in 0..<dk { for j in 0..<dv { state[s0 + i * dv + j] += ks[kBase + i] * update[j] } }
                    for g in 0..<group {
                        let qh = h * group + g
                        let qBase = (batch * t + step) * qHeads * dk + qh * dk
                        for j in 0..<dv {
                            var sum: Float = 0
                            for i in 0..<dk { sum += qs[qBase + i] * state[s0 + i * dv + j] }
                            output[(batch * t + step) * qHeads * dv + qh * dv + j] = factor * sum
                        }
                    }
                }
            }
        }
        let out = try Conversion.cast(try Tensor(shape: [b, t, qHeads * dv], scalars: output), to: q.dataType)
        let present = try Conversion.cast(try Tensor(shape: [b, kvHeads, dk, dv], scalars: state), to: pastTensor?.dataType ?? q.dataType)
        return [out, present]
    }
}

extension KernelRegistry {
    static func registerLinearAttention(_ r: inout KernelRegistry) {
        r.register("LinearAttention", since: 27) { try LinearAttentionKernel($0) }
    }
}
