import Foundation
import Testing
@testable import ONNXRun

@Suite struct AttentionTests {
    /// Naive attention on 4-D [B, H, S, D] arrays: softmax(scale · Q·Kᵀ + bias(b, h, i, j)) · V,
    /// KV head h / (Hq / Hkv); a row with no visible key is zero.
    private func reference(
        q: [Float], k: [Float], v: [Float], batch: Int, qHeads: Int, kvHeads: Int, qLength: Int, kvLength: Int,
        headSize: Int, valueSize: Int, scale: Float, bias: (Int, Int, Int, Int) -> Float
    ) -> [Float] {
        var y = [Float](repeating: 0, count: batch * qHeads * qLength * valueSize)
        for b in 0..<batch {
            for h in 0..<qHeads {
                let g = h / (qHeads / kvHeads)
                for i in 0..<qLength {
                    var logits = (0..<kvLength).map { j -> Float in
                        var dot: Float = 0
                        for d in 0..<headSize {
                            dot += q[((b * qHeads + h) * qLength + i) * headSize + d] * k[((b * kvHeads + g) * kvLength + j) * headSize + d]
                        }
                        return dot * scale + bias(b, h, i, j)
                    }
                    guard let maximum = logits.max(), maximum > -.infinity else { continue }
                    logits = logits.map { exp($0 - maximum) }
                    let sum = logits.reduce(0, +)
                    for e in 0..<valueSize {
                        var total: Float = 0
                        for j in 0..<kvLength { total += logits[j] / sum * v[((b * kvHeads + g) * kvLength + j) * valueSize + e] }
                        y[((b * qHeads + h) * qLength + i) * valueSize + e] = total
                    }
                }
            }
        }
        return y
    }

    @Test func singleKeyReturnsItsValue() throws {
        // One key: softmax is 1 whatever the logits, so Y is V.
        let y = try runNode("Attention", opset: 23, inputs: [floatTensor([1, 1, 2, 2], [1, 2, 3, 4]), floatTensor([1, 1, 1, 2], [5, 6]), floatTensor([1, 1, 1, 3], [7, 8, 9])])[0]
        expectClose(y, floatTensor([1, 1, 2, 3], [7, 8, 9, 7, 8, 9]))
    }

    @Test func gqaWithMaskAndCausal() throws {
        let (b, hq, hkv, sq, skv, d, dv) = (2, 4, 2, 3, 5, 4, 3)
        let q = sampleTensor([b, hq, sq, d], seed: 11), k = sampleTensor([b, hkv, skv, d], seed: 12), v = sampleTensor([b, hkv, skv, dv], seed: 13)
        let maskValues = sampleValues(sq * skv, seed: 14)
        let expected = reference(
            q: try q.scalars(as: Float.self), k: try k.scalars(as: Float.self), v: try v.scalars(as: Float.self),
            batch: b, qHeads: hq, kvHeads: hkv, qLength: sq, kvLength: skv, headSize: d, valueSize: dv, scale: 0.5
        ) { _, _, i, j in j > i ? -.infinity : maskValues[i * skv + j] }
        let y = try runNode("Attention", opset: 23, inputs: [q, k, v, floatTensor([sq, skv], maskValues)],
                            attributes: ["is_causal": .int(1), "scale": .float(0.5)])[0]
        expectClose(y, floatTensor([b, hq, sq, dv], expected))
    }

    @Test func threeDimensionalMatchesFourDimensional() throws {
        // [B, S, H·D] inputs are split into heads; the output is merged back.
        let (b, h, s, d) = (1, 2, 3, 2)
        let q3 = sampleTensor([b, s, h * d], seed: 21), k3 = sampleTensor([b, s, h * d], seed: 22), v3 = sampleTensor([b, s, h * d], seed: 23)
        func split(_ t: Tensor) throws -> [Float] {
            let x = try t.scalars(as: Float.self)
            return allIndices([b, h, s, d]).map { i in x[(i[0] * s + i[2]) * h * d + i[1] * d + i[3]] }
        }
        let y4 = reference(q: try split(q3), k: try split(k3), v: try split(v3), batch: b, qHeads: h, kvHeads: h, qLength: s, kvLength: s,
                           headSize: d, valueSize: d, scale: 1 / Float(d).squareRoot()) { _, _, _, _ in 0 }
        let merged = allIndices([b, s, h, d]).map { i in y4[((i[0] * h + i[2]) * s + i[1]) * d + i[3]] }
        let y = try runNode("Attention", opset: 23, inputs: [q3, k3, v3], attributes: ["q_num_heads": .int(h), "kv_num_heads": .int(h)])[0]
        expectClose(y, floatTensor([b, s, h * d], merged))
    }

    @Test func pastAndPresentWithBoolMaskAndScores() throws {
        let (sq, past, skv, d) = (2, 2, 1, 2)
        let q = sampleTensor([1, 1, sq, d], seed: 31), k = sampleTensor([1, 1, skv, d], seed: 32), v = sampleTensor([1, 1, skv, d], seed: 33)
        let pk = sampleTensor([1, 1, past, d], seed: 34), pv = sampleTensor([1, 1, past, d], seed: 35)
        let mask = try Tensor(shape: [3], scalars: [true, false, true])
        let outputs = try runNode("Attention", opset: 23, inputs: [q, k, v, mask, pk, pv], attributes: ["qk_matmul_output_mode": .int(3)], outputCount: 4)
        let keys = try pk.scalars(as: Float.self) + k.scalars(as: Float.self), values = try pv.scalars(as: Float.self) + v.scalars(as: Float.self)
        expectClose(outputs[1], floatTensor([1, 1, 3, d], keys))
        expectClose(outputs[2], floatTensor([1, 1, 3, d], values))
        let expected = reference(q: try q.scalars(as: Float.self), k: keys, v: values, batch: 1, qHeads: 1, kvHeads: 1, qLength: sq, kvLength: 3,
                                 headSize: d, valueSize: d, scale: 1 / Float(d).squareRoot()) { _, _, _, j in j == 1 ? -.infinity : 0 }
        expectClose(outputs[0], floatTensor([1, 1, sq, d], expected))
        // Mode 3: the probabilities; the masked key gets 0 and each row sums to 1.
        let p = try outputs[3].scalars(as: Float.self)
        #expect(outputs[3].shape == [1, 1, sq, 3])
        #expect(p[1] == 0 && p[4] == 0)
        #expect(abs(p[0] + p[2] - 1) < 1e-5)
    }

    @Test func fullyMaskedRowIsZero() throws {
        let mask = try Tensor(shape: [2, 2], scalars: [false, false, true, true])
        let y = try runNode("Attention", opset: 23, inputs: [sampleTensor([1, 1, 2, 2], seed: 41), sampleTensor([1, 1, 2, 2], seed: 42), floatTensor([1, 1, 2, 1], [3, 5]), mask])[0]
        let values = try y.scalars(as: Float.self)
        #expect(values[0] == 0)
        #expect(values[1] > 3 && values[1] < 5)
    }

    @Test func rotaryEmbedding() throws {
        // One head of size 4, rotary dim 2 (half 1): pair (x0, x1) rotated by the cached angle; x2, x3 copied.
        let angle: Float = 0.3
        let x = floatTensor([1, 1, 1, 4], [1, 2, 3, 4])
        let cosT = floatTensor([2, 1], [1, cos(angle)]), sinT = floatTensor([2, 1], [0, sin(angle)])
        let positions = try Tensor(shape: [1, 1], scalars: [Int64(1)])
        let y = try runNode("RotaryEmbedding", opset: 23, inputs: [x, cosT, sinT, positions], attributes: ["rotary_embedding_dim": .int(2)])[0]
        expectClose(y, floatTensor([1, 1, 1, 4], [cos(angle) - 2 * sin(angle), sin(angle) + 2 * cos(angle), 3, 4]))
        // Full rotation, halves (x0, x2) and (x1, x3); interleaved pairs (x0, x1) and (x2, x3).
        let c = floatTensor([1, 1, 2], [0, 1]), s = floatTensor([1, 1, 2], [1, 0])
        let halves = try runNode("RotaryEmbedding", opset: 23, inputs: [x, c, s])[0]
        expectClose(halves, floatTensor([1, 1, 1, 4], [-3, 2, 1, 4]))
        let interleaved = try runNode("RotaryEmbedding", opset: 23, inputs: [floatTensor([1, 1, 4], [1, 2, 3, 4]), c, s],
                                      attributes: ["interleaved": .int(1), "num_heads": .int(1)])[0]
        expectClose(interleaved, floatTensor([1, 1, 4], [-2, 1, 3, 4]))
    }
}
