import Foundation
internal import CKernels

/// Fused operators of this project's domain that the optimizer makes from transformer patterns:
/// `FusedMatMul`, `LayerNormalization`, `Gelu` and `ScaledDotProductAttention` (see
/// `FusedExpansion` for what each computes in standard operators).
///
/// Each kernel has a fast float32 path; any other input (another element type, an unusual rank or
/// broadcast) runs the node's standard expansion, so a fused node accepts exactly what the
/// replaced nodes accepted and computes the same.

/// A fused node's standard expansion compiled as a small plan, run for inputs the fast path skips.
struct ExpansionFallback: Sendable {
    /// Opset the expansion is written in (high enough for standard LayerNormalization and Gelu).
    static let opset = 21

    private let plan: ExecutionPlan
    /// For each plan input, the node input position it reads.
    private let positions: [Int]

    init(_ node: Node) throws {
        let expansion = try FusedExpansion.expand(node, opset: Self.opset)
        var names: [String] = [], positions: [Int] = []
        for (i, name) in node.inputs.enumerated() where !name.isEmpty && !names.contains(name) {
            names.append(name)
            positions.append(i)
        }
        let graph = Graph(
            name: "\(node.name)/expansion", nodes: expansion.nodes, inputs: names.map { ValueInfo(name: $0, type: nil) },
            outputs: [ValueInfo(name: node.outputs[0], type: nil)], initializers: expansion.initializers)
        plan = try ExecutionPlan(graph: graph, opsets: ["": Self.opset], registry: .standard)
        self.positions = positions
    }

    /// Runs the expansion on the fused node's inputs.
    func run(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        var outer = context
        outer.scope = nil
        let values = try plan.run(inputs: positions.map { $0 < inputs.count ? inputs[$0].map(Value.tensor) : nil }, context: outer)
        return try values.map {
            guard let t = $0.tensor else { throw ONNXRunError(.unsupportedType, "expansion produced a non-tensor") }
            return t
        }
    }
}


/// FusedMatMul: Y = activation(op(A) · op(B) + bias), numpy MatMul semantics, where op swaps the
/// last two axes when `perm_a` / `perm_b` is given (a Transpose folded into the product) and bias is
/// a 1-D tensor added along the last axis. With `packed_columns` n (set by `PackMatMulWeights`),
/// B is a constant k × n matrix stored as the GEMM's panels [⌈n/48⌉, k, 48].
struct FusedMatMulKernel: TensorKernel {
    let transA: Bool, transB: Bool
    let activation: FusedActivation?
    let fallback: ExpansionFallback
    /// With `packed_columns`: the panels, read in place (nil without the AVX-512 GEMM, when the
    /// expansion unpacks B instead).
    let packedB: FusedGEMM.PackedMatrix?
    /// True when B is stored packed (`packed_columns`).
    let bIsPacked: Bool

    init(_ context: KernelContext) throws {
        try context.expectInputs(2, 3)
        transA = try context.ints("perm_a") != nil
        transB = try context.ints("perm_b") != nil
        activation = try FusedActivation(context.node)
        fallback = try ExpansionFallback(context.node)
        if let columns = try context.int("packed_columns") {
            guard columns > 0, !transB else { throw context.error(.invalidAttribute, "packed_columns must be positive and B not transposed, got \(columns)") }
            bIsPacked = true
            packedB = (context.constantInputs.count > 1 ? context.constantInputs[1] : nil).flatMap { FusedGEMM.PackedMatrix(packed: $0, columns: columns) }
        } else {
            bIsPacked = false
            packedB = nil
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let a = inputs[0], let b = inputs[1] else { throw ONNXRunError(.invalidInput, "A and B are required") }
        let bias = inputs.count > 2 ? inputs[2] : nil
        if bIsPacked {
            // Panels given at run time, a vector or non-float A, or another bias: the expansion.
            guard let packedB, packedB.packs(b), a.dataType == .float, a.rank >= 2, !transA, a.shape[a.rank - 1] == packedB.k,
                  bias.map({ $0.dataType == .float && $0.rank == 1 && ($0.count == packedB.n || $0.count == 1) }) ?? true
            else { return try fallback.run(inputs, context) }
            return [try multiplyPacked(a, packedB, bias: bias, context)]
        }
        guard a.dataType == .float, b.dataType == .float, a.rank >= 2, b.rank >= 2,
              bias.map({ $0.dataType == .float && $0.rank == 1 }) ?? true
        else { return try fallback.run(inputs, context) }
        let (m, k) = transA ? (a.shape[a.rank - 1], a.shape[a.rank - 2]) : (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (kb, n) = transB ? (b.shape[b.rank - 1], b.shape[b.rank - 2]) : (b.shape[b.rank - 2], b.shape[b.rank - 1])
        guard k == kb, bias.map({ $0.count == n || $0.count == 1 }) ?? true,
              let (batch, offsets) = try? batchOffsets([a.shape, b.shape], matrixSizes: [m * k, k * n])
        else { return try fallback.run(inputs, context) }

        let out = try Tensor(uninitialized: .float, shape: batch + [m, n])
        if out.count == 0 { return [out] }
        let pa = a.pointer(as: Float.self), pb = b.pointer(as: Float.self), po = out.pointer(as: Float.self)
        let batchCount = offsets[0].count
        // A stack of matrices times one shared B, with the bias and activation in the same pass.
        if !transA && !transB && b.rank == 2 && FusedGEMM.isAvailable {
            let biasValues: [Float]? = try bias.map { bias in
                bias.count == n ? try bias.scalars(as: Float.self) : [Float](repeating: try bias.scalars(as: Float.self)[0], count: n)
            }
            FusedGEMM.run(m: m * batchCount, n: n, k: k, a: pa, lda: k, b: pb, ldb: n, bias: biasValues,
                          activation: activation, c: po, ldc: n, threads: context.threads)
            return [out]
        }
        // A stack of matrices times one shared B is a single tall product.
        if !transA && b.rank == 2 {
            BLAS.sgemm(transB: transB, m: m * batchCount, n: n, k: k, alpha: 1, a: pa, lda: k, b: pb, ldb: transB ? k : n, beta: 0, c: po, ldc: n)
        } else {
            for i in 0..<batchCount {
                BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: pa + offsets[0][i], lda: transA ? m : k,
                           b: pb + offsets[1][i], ldb: transB ? k : n, beta: 0, c: po + i * m * n, ldc: n)
            }
        }
        // Epilogue, one row at a time while it is in cache: bias, then activation.
        let rows = out.count / n
        let pbias = bias?.pointer(as: Float.self)
        let broadcastBias = bias?.count == 1
        if pbias == nil && activation == nil { return [out] }
        Parallel.forEach(rows, threads: context.threads, costPerItem: n * 4) { range in
            for r in range {
                let row = po + r * n
                if let pbias {
                    if broadcastBias {
                        let v = pbias[0]
                        for j in 0..<n { row[j] += v }
                    } else {
                        for j in 0..<n { row[j] += pbias[j] }
                    }
                }
                activation?.apply(row, count: n)
            }
        }
        return [out]
    }

    /// A (…, m, k) · packed B + bias, then the activation, from the panels in place.
    private func multiplyPacked(_ a: Tensor, _ packed: FusedGEMM.PackedMatrix, bias: Tensor?, _ context: RunContext) throws -> Tensor {
        let (k, n) = (packed.k, packed.n)
        let out = try Tensor(uninitialized: .float, shape: Array(a.shape.dropLast()) + [n])
        if out.count == 0 { return out }
        let rows = out.count / n
        let biasValues: [Float]? = try bias.map { bias in
            bias.count == n ? try bias.scalars(as: Float.self) : [Float](repeating: try bias.scalars(as: Float.self)[0], count: n)
        }
        (biasValues ?? []).withUnsafeBufferPointer { values in
            packed.multiply(m: rows, a: a.pointer(as: Float.self), lda: k, bias: biasValues == nil ? nil : values.baseAddress,
                            activation: activation, c: out.pointer(as: Float.self), ldc: n, threads: context.threads)
        }
        return out
    }
}

/// LayerNormalization of this project's domain (any model opset) over the last axis. The float32
/// path (`CKernels/layer_norm.c`) computes as the exported decomposition does with this runtime's
/// kernels (means accumulated in Double and rounded to float, then float Sub, square, Add ε, Sqrt,
/// Div, Mul γ, Add β), so fusing does not move results; other inputs use the standard
/// LayerNormalization kernel.
struct FusedLayerNormKernel: TensorKernel {
    let epsilon: Float
    let general: LayerNormalizationKernel

    init(_ context: KernelContext) throws {
        epsilon = try context.float("epsilon", default: 1e-5)
        guard try context.int("axis", default: -1) == -1 else { throw context.error(.invalidAttribute, "axis must be -1") }
        general = try LayerNormalizationKernel(context, rms: false)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0], let scale = inputs[1] else { throw ONNXRunError(.invalidInput, "X and Scale are required") }
        let bias = inputs.count > 2 ? inputs[2] : nil
        let cols = x.shape.last ?? 0
        guard x.dataType == .float, x.rank >= 1, cols > 0, scale.dataType == .float, scale.rank == 1, scale.count == cols,
              bias.map({ $0.dataType == .float && $0.rank == 1 && $0.count == cols }) ?? true
        else { return Array(try general.compute(inputs, context).prefix(1)) }
        let out = try Tensor(uninitialized: .float, shape: x.shape)
        let px = x.pointer(as: Float.self), py = out.pointer(as: Float.self)
        let gamma = scale.pointer(as: Float.self), beta = bias?.pointer(as: Float.self)
        let epsilon = epsilon
        Parallel.forEach(x.count / cols, threads: context.threads, costPerItem: cols * 4) { rows in
            ck_layer_norm_rows_f32(px + rows.lowerBound * cols, py + rows.lowerBound * cols, rows.count, cols, gamma, beta, epsilon)
        }
        return [out]
    }
}

/// Gelu (`approximate` none or tanh) and SiLU of this project's domain, available at any model
/// opset: one activation over the input, float32 fast path, standard-op expansion otherwise.
struct FusedGeluKernel: TensorKernel {
    let activation: FusedActivation
    let fallback: ExpansionFallback

    init(_ context: KernelContext, activation fixed: FusedActivation? = nil) throws {
        try context.expectInputs(1)
        if let fixed {
            activation = fixed
        } else {
            let approximate = try context.string("approximate", default: "none")
            guard approximate == "none" || approximate == "tanh" else { throw context.error(.invalidAttribute, "approximate must be none or tanh") }
            activation = approximate == "tanh" ? .geluTanh : .gelu
        }
        fallback = try ExpansionFallback(context.node)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "X is required") }
        guard x.dataType == .float else { return try fallback.run(inputs, context) }
        let out = try Tensor(uninitialized: .float, shape: x.shape)
        activation.vectorFunction.apply(x.pointer(as: Float.self), into: out.pointer(as: Float.self), count: x.count, threads: context.threads)
        return [out]
    }
}

/// ScaledDotProductAttention: Softmax(mask(scale(Q · Kᵀ))) · V over the last two axes, batched over
/// the leading ones. K is given as [..., D, Sk], or as [..., Sk, D] when `perm_k` (the absorbed
/// Transpose) is set. `scale` divides (`scale_operation` Div) or multiplies the scores; the optional
/// mask input is added (`mask_operation` Add) or selects between scores and `fill` (Where).
struct ScaledDotProductAttentionKernel: TensorKernel {
    let transposeKey: Bool
    let scale: Float?
    let divide: Bool
    let whereMask: Bool
    let fill: Float
    let fallback: ExpansionFallback

    init(_ context: KernelContext) throws {
        try context.expectInputs(3, 4)
        transposeKey = try context.ints("perm_k") != nil
        scale = try context.float("scale")
        divide = try context.string("scale_operation", default: "Div") == "Div"
        whereMask = try context.string("mask_operation", default: "Add") == "Where"
        fill = try context.float("fill", default: 0)
        fallback = try ExpansionFallback(context.node)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let q = inputs[0], let k = inputs[1], let v = inputs[2] else { throw ONNXRunError(.invalidInput, "Q, K and V are required") }
        let mask = inputs.count > 3 ? inputs[3] : nil
        let r = q.rank
        guard q.dataType == .float, k.dataType == .float, v.dataType == .float, r >= 2, k.rank == r, v.rank == r
        else { return try fallback.run(inputs, context) }
        let sq = q.shape[r - 2], d = q.shape[r - 1]
        let (dk, sk) = transposeKey ? (k.shape[r - 1], k.shape[r - 2]) : (k.shape[r - 2], k.shape[r - 1])
        let dv = v.shape[r - 1]
        guard d == dk, v.shape[r - 2] == sk,
              let (batch, offsets) = try? batchOffsets([q.shape, k.shape, v.shape], matrixSizes: [sq * d, sk * d, sk * dv])
        else { return try fallback.run(inputs, context) }
        let scoreShape = batch + [sq, sk]
        var maskStrides: [Int] = []
        if let mask {
            guard mask.dataType == (whereMask ? .bool : .float), mask.rank <= scoreShape.count,
                  (try? Broadcast.shape(mask.shape, scoreShape)) == scoreShape
            else { return try fallback.run(inputs, context) }
            maskStrides = Broadcast.strides(of: mask.shape, in: scoreShape)
        }
        let out = try Tensor(uninitialized: .float, shape: batch + [sq, dv])
        if out.count == 0 { return [out] }
        let batchCount = offsets[0].count
        let pq = q.pointer(as: Float.self), pk = k.pointer(as: Float.self), pv = v.pointer(as: Float.self)
        let po = out.pointer(as: Float.self)
        // Heads (and batch entries) are independent: split across threads, each with its own
        // score matrix; the products inside a worker run single-threaded.
        // Our register-tiled GEMM when the CPU has it: an OpenBLAS call per head product costs a
        // large part of the product itself. K given as [Sk, D] is transposed per head for it.
        let ownGEMM = FusedGEMM.isAvailable
        let scratchFloats = sq * sk + (ownGEMM ? (transposeKey ? d * sk : 0) + FusedGEMM.scratchFloats(k: max(d, sk)) : 0)
        Parallel.forEach(batchCount, threads: context.threads, costPerItem: sq * sk * (d + dv)) { range in
            BufferCache.withScratch(floats: scratchFloats) { scores in
                let keys = scores + sq * sk, packing = keys + (transposeKey ? d * sk : 0)
                for i in range {
                    if ownGEMM {
                        var b = UnsafePointer(pk + offsets[1][i])
                        if transposeKey {
                            ck_transpose_32(b, keys, sk, d)
                            b = UnsafePointer(keys)
                        }
                        FusedGEMM.multiply(m: sq, n: sk, k: d, a: pq + offsets[0][i], lda: d, b: b, ldb: sk, c: scores, ldc: sk,
                                           scratch: packing)
                    } else {
                        BLAS.sgemm(transB: transposeKey, m: sq, n: sk, k: d, alpha: 1, a: pq + offsets[0][i], lda: d,
                                   b: pk + offsets[1][i], ldb: transposeKey ? d : sk, beta: 0, c: scores, ldc: sk)
                    }
                    // The mask's offset for batch entry i (its index over the batch axes).
                    var maskBase = 0, remainder = i
                    for axis in batch.indices.reversed() where !maskStrides.isEmpty {
                        maskBase += remainder % batch[axis] * maskStrides[axis]
                        remainder /= batch[axis]
                    }
                    var prepare = ck_softmax_row(
                        scale_mode: scale == nil ? 0 : divide ? 2 : 1, scale: scale ?? 1, addend: nil, addend_step: 0,
                        keep: nil, keep_step: 0, fill: fill)
                    for row in 0..<sq {
                        if let mask {
                            let start = maskBase + row * maskStrides[r - 2], step = maskStrides[r - 1]
                            if whereMask {
                                prepare.keep = UnsafePointer(mask.pointer(as: Bool.self) + start)
                                prepare.keep_step = step
                            } else {
                                prepare.addend = UnsafePointer(mask.pointer(as: Float.self) + start)
                                prepare.addend_step = step
                            }
                        }
                        ck_softmax_row_f32(scores + row * sk, sk, &prepare)
                    }
                    if ownGEMM {
                        FusedGEMM.multiply(m: sq, n: dv, k: sk, a: scores, lda: sk, b: pv + offsets[2][i], ldb: dv,
                                           c: po + i * sq * dv, ldc: dv, scratch: packing)
                    } else {
                        BLAS.sgemm(m: sq, n: dv, k: sk, alpha: 1, a: scores, lda: sk, b: pv + offsets[2][i], ldb: dv, beta: 0,
                                   c: po + i * sq * dv, ldc: dv)
                    }
                }
            }
        }
        return [out]
    }
}

extension KernelRegistry {
    static func registerFusedTransformer(_ r: inout KernelRegistry) {
        let domain = FusedActivation.domain
        r.register("FusedMatMul", domain: domain, since: 1) { try FusedMatMulKernel($0) }
        r.register("LayerNormalization", domain: domain, since: 1) { try FusedLayerNormKernel($0) }
        r.register("Gelu", domain: domain, since: 1) { try FusedGeluKernel($0) }
        r.register("SiLU", domain: domain, since: 1) { try FusedGeluKernel($0, activation: .silu) }
        r.register("ScaledDotProductAttention", domain: domain, since: 1) { try ScaledDotProductAttentionKernel($0) }
    }
}
