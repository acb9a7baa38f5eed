import Foundation

/// Attention (opsets 23–25) and RotaryEmbedding (opset 23).

/// Rounds float intermediates to a narrow input type (float16, bfloat16), so a float computation
/// reproduces one carried out step by step in that type; `.none` leaves values alone.
enum NarrowRounding: Sendable {
    case none, float16, bfloat16

    init(_ type: DataType) {
        switch type {
        case .float16: self = .float16
        case .bfloat16: self = .bfloat16
        default: self = .none
        }
    }

    @inline(__always)
    func callAsFunction(_ x: Float) -> Float {
        switch self {
        case .none: return x
        case .float16: return Float(Float16(x))
        case .bfloat16: return Conversion.float(bfloat16: Conversion.bfloat16Bits(x))
        }
    }
}

/// Scaled dot-product attention: Y = softmax(scale · Q·Kᵀ (softcapped) + bias) · V, per batch and head.
///
/// Q, K, V are 4-D [batch, heads, sequence, head_size] or 3-D [batch, sequence, heads · head_size]
/// (then `q_num_heads` and `kv_num_heads` say how to split the last axis). With fewer KV heads than
/// query heads (GQA/MQA) query head h reads KV head h / (q_heads / kv_heads). `past_key`/`past_value`
/// ([batch, kv_heads, past, size]) are prepended to K and V, which are returned as the present outputs.
///
/// The additive bias combines: `attn_mask` (bool: false → −∞; float: added as is), broadcast to
/// [batch, q_heads, q_seq, mask_kv] and padded with −∞ where mask_kv is shorter than the keys;
/// `is_causal` (key j visible to query i iff j ≤ i + offset); the opset-25 sliding window; and the
/// opset-24 `nonpad_kv_seqlen` padding (keys j ≥ nonpad[b] are hidden). The offset is the past length,
/// or nonpad[b] − q_seq for an external cache, else 0. A query row whose bias is −∞ everywhere gives a
/// zero output row (and a zero row in mode-3 `qk_matmul_output`).
///
/// Everything is computed in float (float16, bfloat16 and double inputs are converted), with one
/// sgemm for Q·Kᵀ and one for P·V per (batch, head). For float16 and bfloat16 inputs, intermediate
/// results are rounded to the input type where a computation in that type would round them (scaled
/// Q and K, the logits, softcap, bias, softmax steps), so results agree with such implementations to
/// the last bit more often than not; products are accumulated in float.
struct AttentionKernel: TensorKernel {
    let qHeads: Int?
    let kvHeads: Int?
    let scale: Float?
    let causal: Bool
    let softcap: Float
    let qkMode: Int
    let leftWindow: Int
    let rightWindow: Int
    let wantsScores: Bool
    /// The `softmax_precision` element type, if given.
    let softmaxType: DataType?

    init(_ context: KernelContext) throws {
        try context.expectInputs(3, context.opsetVersion >= 24 ? 7 : 6)
        qHeads = try context.int("q_num_heads")
        kvHeads = try context.int("kv_num_heads")
        scale = try context.float("scale")
        causal = try context.int("is_causal", default: 0) != 0
        softcap = try context.float("softcap", default: 0)
        qkMode = try context.int("qk_matmul_output_mode", default: 0)
        guard (0...3).contains(qkMode) else {
            throw context.error(.invalidAttribute, "qk_matmul_output_mode must be 0 to 3, got \(qkMode)")
        }
        switch try context.int("softmax_precision") {
        case nil: softmaxType = nil
        case 1?: softmaxType = .float
        case 10?: softmaxType = .float16
        case 11?: softmaxType = .double
        case 16?: softmaxType = .bfloat16
        case let other?: throw context.error(.invalidAttribute, "softmax_precision must be 1, 10, 11 or 16, got \(other)")
        }
        if context.opsetVersion >= 25 {
            leftWindow = try context.int("left_window_size", default: -1)
            rightWindow = try context.int("right_window_size", default: -1)
            guard leftWindow >= -1, rightWindow >= -1 else {
                throw context.error(.invalidAttribute, "window sizes must be -1 or nonnegative, got \(leftWindow) and \(rightWindow)")
            }
        } else {
            leftWindow = -1
            rightWindow = -1
        }
        if let qHeads, qHeads <= 0 { throw context.error(.invalidAttribute, "q_num_heads must be positive, got \(qHeads)") }
        if let kvHeads, kvHeads <= 0 { throw context.error(.invalidAttribute, "kv_num_heads must be positive, got \(kvHeads)") }
        let outputs = context.node.outputs
        wantsScores = outputs.count > 3 && !outputs[3].isEmpty
    }

    /// Sizes of one attention call.
    private struct Geometry {
        var batch = 0, qHeads = 0, kvHeads = 0
        var qLength = 0, kvLength = 0, past = 0
        var headSize = 0, valueSize = 0
        var threeD = false
        var total: Int { past + kvLength }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let q = inputs[0], let k = inputs[1], let v = inputs[2] else {
            throw ONNXRunError(.invalidInput, "Q, K and V are required")
        }
        func input(_ i: Int) -> Tensor? { i < inputs.count ? inputs[i] : nil }
        let mask = input(3), pastKey = input(4), pastValue = input(5), nonpad = input(6)
        for t in [q, k, v] {
            switch t.dataType {
            case .float, .float16, .bfloat16, .double: break
            default: throw ONNXRunError(.unsupportedType, "Attention of \(t.dataType) is not supported")
            }
        }
        guard (pastKey == nil) == (pastValue == nil) else {
            throw ONNXRunError(.invalidInput, "past_key and past_value must be given together")
        }
        guard nonpad == nil || pastKey == nil else {
            throw ONNXRunError(.invalidInput, "nonpad_kv_seqlen cannot be combined with past_key/past_value")
        }
        let g = try geometry(q, k, v, pastKey, pastValue)

        // Present K and V: [batch, kv_heads, past + kv, size] in float; Q in float.
        let presentKey = try Self.cache(past: pastKey, new: k, geometry: g, size: g.headSize)
        let presentValue = try Self.cache(past: pastValue, new: v, geometry: g, size: g.valueSize)
        let round = NarrowRounding(q.dataType)
        let softmaxRound = NarrowRounding(softmaxType ?? q.dataType)
        var alpha = scale ?? 1 / Float(g.headSize).squareRoot()
        var qf = try Conversion.cast(q, to: .float)
        var keys = presentKey
        if round != .none {
            // Scale Q and K by sqrt(scale) each, rounding as the narrow type would.
            let root = round(alpha.squareRoot())
            qf = try Self.scaled(qf, by: root, round)
            keys = try Self.scaled(presentKey, by: root, round)
            alpha = 1
        }

        let offsets = try self.offsets(g, nonpad: nonpad)
        let nonpadLengths = try nonpad.map { try Conversion.integers($0) }
        let maskInfo = try mask.map { try MaskView($0, geometry: g) }

        let yShape = g.threeD ? [g.batch, g.qLength, g.qHeads * g.valueSize] : [g.batch, g.qHeads, g.qLength, g.valueSize]
        let y = try Tensor(uninitialized: .float, shape: yShape)
        let scores = wantsScores ? try Tensor(uninitialized: .float, shape: [g.batch, g.qHeads, g.qLength, g.total]) : nil
        let group = g.qHeads / g.kvHeads
        let total = g.total

        let pq = qf.pointer(as: Float.self), pk = keys.pointer(as: Float.self), pv = presentValue.pointer(as: Float.self)
        let py = y.pointer(as: Float.self)
        let ps = scores?.pointer(as: Float.self)
        var logits = [Float](repeating: 0, count: g.qLength * total)
        var bias = [Float](repeating: 0, count: total)
        let negativeInfinity = -Float.infinity
        for b in 0..<g.batch {
            for h in 0..<g.qHeads {
                let kvHead = h / group
                let qBase = g.threeD ? pq + b * g.qLength * g.qHeads * g.headSize + h * g.headSize : pq + (b * g.qHeads + h) * g.qLength * g.headSize
                let qStride = g.threeD ? g.qHeads * g.headSize : g.headSize
                let kBase = pk + (b * g.kvHeads + kvHead) * total * g.headSize
                let vBase = pv + (b * g.kvHeads + kvHead) * total * g.valueSize
                let yBase = g.threeD ? py + b * g.qLength * g.qHeads * g.valueSize + h * g.valueSize : py + (b * g.qHeads + h) * g.qLength * g.valueSize
                let yStride = g.threeD ? g.qHeads * g.valueSize : g.valueSize
                logits.withUnsafeMutableBufferPointer { buffer in
                    let s = buffer.baseAddress!
                    BLAS.sgemm(transB: true, m: g.qLength, n: total, k: g.headSize, alpha: alpha,
                               a: qBase, lda: qStride, b: kBase, ldb: g.headSize, beta: 0, c: s, ldc: max(total, 1))
                    for i in 0..<g.qLength {
                        let row = s + i * total
                        let debug = ps.map { $0 + ((b * g.qHeads + h) * g.qLength + i) * total }
                        if round != .none {
                            for j in 0..<total { row[j] = round(row[j]) }
                        }
                        if let debug, qkMode == 0 { debug.update(from: row, count: total) }
                        if softcap > 0 {
                            for j in 0..<total { row[j] = round(softcap * round(Foundation.tanh(round(row[j] / softcap)))) }
                        }
                        if let debug, qkMode == 1 { debug.update(from: row, count: total) }
                        // Additive bias of this query row.
                        var visible = false
                        let position = i + offsets[b]
                        for j in 0..<total {
                            var value: Float = maskInfo?.value(b, h, i, j) ?? 0
                            if causal && j > position { value = negativeInfinity }
                            if leftWindow >= 0 && position - j > leftWindow { value = negativeInfinity }
                            if rightWindow >= 0 && j - position > rightWindow { value = negativeInfinity }
                            if let nonpadLengths, j >= nonpadLengths[b] { value = negativeInfinity }
                            if value != negativeInfinity { visible = true }
                            bias[j] = value
                        }
                        for j in 0..<total { row[j] = round(row[j] + bias[j]) }
                        if let debug, qkMode == 2 { debug.update(from: row, count: total) }
                        if visible {
                            Self.softmax(row, count: total, softmaxRound)
                            if round != .none {
                                for j in 0..<total { row[j] = round(row[j]) }
                            }
                        } else {
                            row.update(repeating: 0, count: total)
                        }
                        if let debug, qkMode == 3 { debug.update(from: row, count: total) }
                    }
                    BLAS.sgemm(m: g.qLength, n: g.valueSize, k: total, alpha: 1, a: s, lda: max(total, 1),
                               b: vBase, ldb: g.valueSize, beta: 0, c: yBase, ldc: yStride)
                }
            }
        }
        let outputY = try Conversion.cast(y, to: q.dataType)
        return [
            outputY,
            try Conversion.cast(presentKey, to: k.dataType),
            try Conversion.cast(presentValue, to: v.dataType),
            try scores.map { try Conversion.cast($0, to: q.dataType) } ?? outputY,
        ]
    }

    /// Softmax of a row in place; an all −∞ row becomes zeros rather than NaN.
    private static func softmax(_ row: UnsafeMutablePointer<Float>, count: Int, _ round: NarrowRounding) {
        var maximum = -Float.infinity
        for j in 0..<count where row[j] > maximum { maximum = row[j] }
        if maximum == -.infinity { maximum = 0 }
        var sum: Float = 0
        if round == .none {
            for j in 0..<count {
                let e = Foundation.exp(row[j] - maximum)
                row[j] = e
                sum += e
            }
            if sum == 0 { sum = 1 }
            let inverse = 1 / sum
            for j in 0..<count { row[j] *= inverse }
        } else {
            // float16 sums accumulate in float and round once (numpy); bfloat16 sums round each step.
            for j in 0..<count {
                let e = round(Foundation.exp(round(row[j] - maximum)))
                row[j] = e
                sum = round == .float16 ? sum + e : round(sum + e)
            }
            sum = round(sum)
            if sum == 0 { sum = 1 }
            for j in 0..<count { row[j] = round(row[j] / sum) }
        }
    }

    /// A copy of float tensor `t` with every element multiplied by `factor` and rounded.
    private static func scaled(_ t: Tensor, by factor: Float, _ round: NarrowRounding) throws -> Tensor {
        let out = try Tensor(uninitialized: .float, shape: t.shape)
        let source = t.pointer(as: Float.self), target = out.pointer(as: Float.self)
        for i in 0..<t.count { target[i] = round(source[i] * factor) }
        return out
    }

    private func geometry(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ pastKey: Tensor?, _ pastValue: Tensor?) throws -> Geometry {
        guard q.rank == k.rank, k.rank == v.rank, q.rank == 3 || q.rank == 4 else {
            throw ONNXRunError(.shapeMismatch, "Q, K and V must all be 3-D or all 4-D, got \(q.shape), \(k.shape) and \(v.shape)")
        }
        var g = Geometry()
        g.batch = q.shape[0]
        if q.rank == 3 {
            guard let qHeads, let kvHeads else {
                throw ONNXRunError(.invalidAttribute, "q_num_heads and kv_num_heads are required for 3-D inputs")
            }
            guard q.shape[2] % qHeads == 0, k.shape[2] % kvHeads == 0, v.shape[2] % kvHeads == 0 else {
                throw ONNXRunError(.shapeMismatch, "hidden sizes \(q.shape[2]), \(k.shape[2]), \(v.shape[2]) are not divisible by \(qHeads) and \(kvHeads) heads")
            }
            g.threeD = true
            g.qHeads = qHeads
            g.kvHeads = kvHeads
            g.qLength = q.shape[1]
            g.kvLength = k.shape[1]
            g.headSize = q.shape[2] / qHeads
            g.valueSize = v.shape[2] / kvHeads
            guard k.shape[2] / kvHeads == g.headSize, v.shape[1] == g.kvLength else {
                throw ONNXRunError(.shapeMismatch, "K \(k.shape) and V \(v.shape) do not fit Q \(q.shape) with \(qHeads)/\(kvHeads) heads")
            }
        } else {
            g.qHeads = q.shape[1]
            g.qLength = q.shape[2]
            g.headSize = q.shape[3]
            g.kvHeads = k.shape[1]
            g.kvLength = k.shape[2]
            g.valueSize = v.shape[3]
            guard k.shape[3] == g.headSize, v.shape[1] == g.kvHeads, v.shape[2] == g.kvLength else {
                throw ONNXRunError(.shapeMismatch, "K \(k.shape) and V \(v.shape) do not fit Q \(q.shape)")
            }
        }
        guard k.shape[0] == g.batch, v.shape[0] == g.batch else {
            throw ONNXRunError(.shapeMismatch, "Q, K and V batch sizes differ: \(q.shape), \(k.shape), \(v.shape)")
        }
        guard g.kvHeads > 0, g.qHeads % g.kvHeads == 0 else {
            throw ONNXRunError(.shapeMismatch, "\(g.qHeads) query heads are not a multiple of \(g.kvHeads) key/value heads")
        }
        if let pastKey, let pastValue {
            g.past = pastKey.rank == 4 ? pastKey.shape[2] : -1
            guard pastKey.shape == [g.batch, g.kvHeads, g.past, g.headSize], pastValue.shape == [g.batch, g.kvHeads, g.past, g.valueSize] else {
                throw ONNXRunError(.shapeMismatch, "past_key \(pastKey.shape) and past_value \(pastValue.shape) do not fit K \(k.shape) and V \(v.shape)")
            }
        }
        return g
    }

    /// The causal/window offset of each batch entry.
    private func offsets(_ g: Geometry, nonpad: Tensor?) throws -> [Int] {
        guard let nonpad else { return [Int](repeating: g.past, count: g.batch) }
        let lengths = try Conversion.integers(nonpad)
        guard lengths.count == g.batch else {
            throw ONNXRunError(.shapeMismatch, "nonpad_kv_seqlen has \(lengths.count) values for batch \(g.batch)")
        }
        return lengths.map { $0 - g.qLength }
    }

    /// K or V with the past prepended, as float [batch, kv_heads, past + kv, size].
    private static func cache(past: Tensor?, new: Tensor, geometry g: Geometry, size: Int) throws -> Tensor {
        let newF = try Conversion.cast(new, to: .float)
        let pastF = try past.map { try Conversion.cast($0, to: .float) }
        let total = g.total
        let out = try Tensor(uninitialized: .float, shape: [g.batch, g.kvHeads, total, size])
        let po = out.pointer(as: Float.self), pn = newF.pointer(as: Float.self)
        for b in 0..<g.batch {
            for h in 0..<g.kvHeads {
                let target = po + (b * g.kvHeads + h) * total * size
                if let pastF {
                    target.update(from: pastF.pointer(as: Float.self) + (b * g.kvHeads + h) * g.past * size, count: g.past * size)
                }
                for s in 0..<g.kvLength {
                    let source = g.threeD ? pn + (b * g.kvLength + s) * g.kvHeads * size + h * size : pn + ((b * g.kvHeads + h) * g.kvLength + s) * size
                    (target + (g.past + s) * size).update(from: source, count: size)
                }
            }
        }
        return out
    }

    /// An attention mask as an additive float bias, broadcast to [batch, q_heads, q_seq, mask_kv].
    private struct MaskView {
        let values: [Float]
        let strides: [Int]
        let length: Int

        init(_ mask: Tensor, geometry g: Geometry) throws {
            guard mask.rank >= 1, mask.rank <= 4 else {
                throw ONNXRunError(.shapeMismatch, "attn_mask must have rank 1 to 4, got \(mask.shape)")
            }
            let shape = Array(repeating: 1, count: 4 - mask.rank) + mask.shape
            let target = [g.batch, g.qHeads, g.qLength, shape[3]]
            for d in 0..<3 where shape[d] != 1 && shape[d] != target[d] {
                throw ONNXRunError(.shapeMismatch, "attn_mask \(mask.shape) cannot be broadcast to \(target)")
            }
            guard shape[3] <= g.total else {
                throw ONNXRunError(.shapeMismatch, "attn_mask \(mask.shape) covers more keys than the \(g.total) present")
            }
            if mask.dataType == .bool {
                let p = mask.pointer(as: UInt8.self)
                values = (0..<mask.count).map { p[$0] != 0 ? 0 : -Float.infinity }
            } else {
                values = try Conversion.floats(mask)
            }
            strides = Broadcast.strides(of: shape, in: target)
            length = shape[3]
        }

        @inline(__always)
        func value(_ b: Int, _ h: Int, _ i: Int, _ j: Int) -> Float {
            j < length ? values[b * strides[0] + h * strides[1] + i * strides[2] + j * strides[3]] : -.infinity
        }
    }
}

/// RotaryEmbedding (opset 23): rotates pairs of each head's first `rotary_embedding_dim` features by
/// the cached angles of the token's position. Pairs are (i, i + dim/2), or (2i, 2i + 1) when
/// `interleaved`. Input is [batch, heads, seq, head_size] or [batch, seq, heads · head_size] with
/// `num_heads`; caches are [max_position, dim/2] indexed by `position_ids` [batch, seq], or
/// [batch, seq, dim/2] without them.
struct RotaryEmbeddingKernel: TensorKernel {
    let interleaved: Bool
    let rotaryDim: Int
    let numHeads: Int

    init(_ context: KernelContext) throws {
        try context.expectInputs(3, 4)
        interleaved = try context.int("interleaved", default: 0) != 0
        rotaryDim = try context.int("rotary_embedding_dim", default: 0)
        numHeads = try context.int("num_heads", default: 0)
        guard rotaryDim >= 0, numHeads >= 0 else {
            throw context.error(.invalidAttribute, "rotary_embedding_dim and num_heads must be nonnegative")
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0], let cosT = inputs[1], let sinT = inputs[2] else {
            throw ONNXRunError(.invalidInput, "input, cos_cache and sin_cache are required")
        }
        let positionIds = inputs.count > 3 ? inputs[3] : nil
        switch x.dataType {
        case .float, .float16, .bfloat16, .double: break
        default: throw ONNXRunError(.unsupportedType, "RotaryEmbedding of \(x.dataType) is not supported")
        }
        let batch: Int, heads: Int, length: Int, headSize: Int
        if x.rank == 4 {
            (batch, heads, length, headSize) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        } else if x.rank == 3 {
            guard numHeads > 0, x.shape[2] % numHeads == 0 else {
                throw ONNXRunError(.invalidAttribute, "a 3-D input needs num_heads dividing its hidden size \(x.shape[2])")
            }
            (batch, heads, length, headSize) = (x.shape[0], numHeads, x.shape[1], x.shape[2] / numHeads)
        } else {
            throw ONNXRunError(.shapeMismatch, "input must be 3-D or 4-D, got \(x.shape)")
        }
        let dim = rotaryDim == 0 ? headSize : rotaryDim
        guard dim % 2 == 0, dim <= headSize else {
            throw ONNXRunError(.invalidAttribute, "rotary dimension \(dim) must be even and at most the head size \(headSize)")
        }
        let half = dim / 2
        guard cosT.shape.last == half, sinT.shape.last == half else {
            throw ONNXRunError(.shapeMismatch, "cos_cache \(cosT.shape) and sin_cache \(sinT.shape) must end in \(half)")
        }
        let cosines = try Conversion.floats(cosT), sines = try Conversion.floats(sinT)
        guard cosines.count == sines.count else {
            throw ONNXRunError(.shapeMismatch, "cos_cache \(cosT.shape) and sin_cache \(sinT.shape) differ")
        }
        // Row of the caches for each (batch, position).
        var rows = [Int](repeating: 0, count: batch * length)
        if let positionIds {
            guard positionIds.shape == [batch, length] else {
                throw ONNXRunError(.shapeMismatch, "position_ids \(positionIds.shape) must be [\(batch), \(length)]")
            }
            let available = cosines.count / max(half, 1)
            rows = try Conversion.integers(positionIds)
            for r in rows where r < 0 || r >= available {
                throw ONNXRunError(.outOfRange, "position id \(r) is outside the \(available) cached positions")
            }
        } else {
            guard cosines.count == batch * length * half else {
                throw ONNXRunError(.shapeMismatch, "without position_ids the caches must be [\(batch), \(length), \(half)], got \(cosT.shape)")
            }
            rows = Array(0..<(batch * length))
        }
        let xf = try Conversion.cast(x, to: .float)
        let out = try Tensor(uninitialized: .float, shape: x.shape)
        let px = xf.pointer(as: Float.self), py = out.pointer(as: Float.self)
        for b in 0..<batch {
            for h in 0..<heads {
                for s in 0..<length {
                    let offset = x.rank == 4 ? ((b * heads + h) * length + s) * headSize : ((b * length + s) * heads + h) * headSize
                    let source = px + offset, target = py + offset
                    let cacheRow = rows[b * length + s] * half
                    for i in 0..<half {
                        let c = cosines[cacheRow + i], sn = sines[cacheRow + i]
                        let first = interleaved ? 2 * i : i
                        let second = interleaved ? 2 * i + 1 : i + half
                        let x1 = source[first], x2 = source[second]
                        target[first] = c * x1 - sn * x2
                        target[second] = sn * x1 + c * x2
                    }
                    for i in dim..<headSize { target[i] = source[i] }
                }
            }
        }
        return [try Conversion.cast(out, to: x.dataType)]
    }
}

extension KernelRegistry {
    static func registerAttention(_ r: inout KernelRegistry) {
        r.register("Attention", since: 23, 24, 25) { try AttentionKernel($0) }
        r.register("RotaryEmbedding", since: 23) { try RotaryEmbeddingKernel($0) }
    }
}
