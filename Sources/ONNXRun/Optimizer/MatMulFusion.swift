internal import CKernels

/// Fusions around matrix products: Transposes folded into MatMul and Gemm operands, a constant
/// bias Add folded into the product (`FusedMatMul`), and an activation applied in its epilogue.

/// Folds a Transpose that swaps the last two axes of a MatMul operand into the product
/// (`FusedMatMul` with `perm_a` / `perm_b`), and a 2-D Transpose of a Gemm operand into transA / transB.
struct TransposeIntoMatMul: OptimizationPass {
    var name: String { "transpose-into-matmul" }

    func run(on model: inout Model) throws -> Bool {
        let index = PatternIndex(model)
        var rewrites: [Rewrite] = []
        for (i, node) in model.graph.nodes.enumerated() {
            let isMatMul = node.isStandard("MatMul") || (node.domain == FusedActivation.domain && node.opType == "FusedMatMul")
            guard isMatMul || node.isStandard("Gemm"), node.inputs.count >= 2 else { continue }
            var fused = node
            var removed: Set<Int> = [i]
            for (operand, permName, transName) in [(0, "perm_a", "transA"), (1, "perm_b", "transB")] {
                let value = node.inputs[operand]
                guard let (t, transpose) = index.producer(of: value, "Transpose"), let perm = transpose.swapsLastTwoAxes,
                      index.isReadOnly(value, by: i), node.inputs[1 - operand] != value
                else { continue }
                if isMatMul {
                    guard fused.attributes[permName] == nil else { continue }
                    fused.attributes[permName] = .ints(perm)
                } else {
                    guard perm.count == 2 else { continue }
                    let current = node.intAttribute(transName) ?? 0
                    fused.attributes[transName] = .int(current == 0 ? 1 : 0)
                }
                fused.inputs[operand] = transpose.inputs[0]
                removed.insert(t)
            }
            guard removed.count > 1 else { continue }
            if node.isStandard("MatMul") {
                fused.opType = "FusedMatMul"
                fused.domain = FusedActivation.domain
            }
            rewrites.append(Rewrite(removed: removed, replacement: fused))
        }
        return model.apply(rewrites)
    }
}

/// A FusedMatMul without bias or activation yet (one MatMul, maybe with folded Transposes).
private func isPlainFusedMatMul(_ node: Node) -> Bool {
    node.domain == FusedActivation.domain && node.opType == "FusedMatMul" && node.inputs.count == 2 && node.attributes["activation"] == nil
}

/// Folds `Add(MatMul(A, B), bias)` (either operand order) with a constant 1-D float bias into
/// `FusedMatMul(A, B, bias)`.
struct MatMulBiasFusion: OptimizationPass {
    var name: String { "matmul-bias-fusion" }

    func run(on model: inout Model) throws -> Bool {
        let index = PatternIndex(model)
        var rewrites: [Rewrite] = []
        for (i, add) in model.graph.nodes.enumerated() where add.isStandard("Add") && add.inputs.count == 2 {
            for side in [0, 1] {
                let product = add.inputs[side], bias = add.inputs[1 - side]
                guard let p = index.producer[product], index.isVector(bias), index.isReadOnly(product, by: i) else { continue }
                let node = index.graph.nodes[p]
                guard node.isStandard("MatMul") || isPlainFusedMatMul(node), node.inputs.count == 2 else { continue }
                var fused = node
                fused.opType = "FusedMatMul"
                fused.domain = FusedActivation.domain
                fused.inputs.append(bias)
                fused.outputs = add.outputs
                rewrites.append(Rewrite(removed: [p, i], replacement: fused))
                break
            }
        }
        return model.apply(rewrites)
    }
}

/// Applies an activation that reads a MatMul or FusedMatMul output in the product's epilogue.
struct MatMulActivationFusion: OptimizationPass {
    var name: String { "matmul-activation-fusion" }

    func run(on model: inout Model) throws -> Bool {
        let index = PatternIndex(model)
        let opset = model.opsetImports[""] ?? 1
        var rewrites: [Rewrite] = []
        for (i, act) in model.graph.nodes.enumerated() where act.outputs.count == 1 && !act.inputs.isEmpty {
            guard let p = index.producer[act.inputs[0]], index.isReadOnly(act.inputs[0], by: i) else { continue }
            let product = index.graph.nodes[p]
            let isFused = product.domain == FusedActivation.domain && product.opType == "FusedMatMul" && product.attributes["activation"] == nil
            guard isFused || product.isStandard("MatMul"),
                  let activation = try FusedActivation.matching(act, index: index, opset: opset)
            else { continue }
            var fused = product
            fused.opType = "FusedMatMul"
            fused.domain = FusedActivation.domain
            fused.outputs = act.outputs
            fused.setActivation(activation)
            rewrites.append(Rewrite(removed: [p, i], replacement: fused))
        }
        return model.apply(rewrites)
    }
}

extension FusedActivation {
    /// The activation `node` computes on its first input, when it is one a fused kernel can apply:
    /// Relu, LeakyRelu, Clip with constant bounds, Sigmoid, Tanh, HardSigmoid, HardSwish, Gelu
    /// (standard from opset 20, or this project's) and this project's SiLU.
    static func matching(_ node: Node, index: PatternIndex, opset: Int) throws -> FusedActivation? {
        func float(_ name: String, _ fallback: Float) -> Float { node.floatAttribute(name) ?? fallback }
        if node.domain == FusedActivation.domain, node.opType == "SiLU" { return .silu }
        if node.domain == FusedActivation.domain, node.opType == "Gelu" {
            guard case .string(let approximate)? = node.attributes["approximate"] else { return .gelu }
            return approximate == "tanh" ? .geluTanh : approximate == "none" ? .gelu : nil
        }
        guard node.domain.isEmpty || node.domain == "ai.onnx" else { return nil }
        switch node.opType {
        case "Relu": return .relu
        case "Sigmoid": return .sigmoid
        case "Tanh": return .tanh
        case "LeakyRelu": return .leakyRelu(alpha: float("alpha", 0.01))
        case "HardSigmoid": return .hardSigmoid(alpha: float("alpha", 0.2), beta: float("beta", 0.5))
        case "HardSwish" where opset >= 14: return .hardSwish
        case "Gelu" where opset >= 20:
            guard case .string(let approximate)? = node.attributes["approximate"] else { return .gelu }
            return approximate == "tanh" ? .geluTanh : approximate == "none" ? .gelu : nil
        case "Clip":
            if opset < 11 { return .clip(min: float("min", -.infinity), max: float("max", .infinity)) }
            func bound(_ i: Int, _ fallback: Float) throws -> Float? {
                guard i < node.inputs.count, !node.inputs[i].isEmpty else { return fallback }
                let name = node.inputs[i]
                guard index.constants.contains(name), let t = index.graph.initializers[name], t.dataType == .float, t.count == 1 else { return nil }
                return try Conversion.floats(t)[0]
            }
            guard let lo = try bound(1, -.infinity), let hi = try bound(2, .infinity) else { return nil }
            return .clip(min: lo, max: hi)
        default: return nil
        }
    }
}

/// Turns `Gemm` (alpha = beta = 1, A not transposed, a constant bias that is a vector over the
/// output columns, or none) followed by an activation into one `FusedMatMul` with the activation in
/// its epilogue, as Conv + activation becomes FusedConv (the classifier layers of AlexNet/VGG).
struct GemmActivationFusion: OptimizationPass {
    var name: String { "gemm-activation-fusion" }

    func run(on model: inout Model) throws -> Bool {
        let index = PatternIndex(model)
        let opset = model.opsetImports[""] ?? 1
        var rewrites: [Rewrite] = []
        var newInitializers: [String: Tensor] = [:]
        for (i, act) in model.graph.nodes.enumerated() where act.outputs.count == 1 && !act.inputs.isEmpty {
            guard let (g, gemm) = index.producer(of: act.inputs[0], "Gemm"), index.isReadOnly(act.inputs[0], by: i),
                  gemm.inputs.count >= 2, gemm.outputs.count == 1, (gemm.floatAttribute("alpha") ?? 1) == 1,
                  (gemm.floatAttribute("beta") ?? 1) == 1, (gemm.intAttribute("transA") ?? 0) == 0, opset >= 7,
                  let activation = try FusedActivation.matching(act, index: index, opset: opset)
            else { continue }
            var fused = fusedNode("FusedMatMul", name: gemm.name, inputs: Array(gemm.inputs.prefix(2)), outputs: act.outputs)
            let transB = (gemm.intAttribute("transB") ?? 0) != 0
            if transB { fused.attributes["perm_b"] = .ints([1, 0]) }
            if gemm.inputs.count > 2, !gemm.inputs[2].isEmpty {
                // The bias must be a constant float vector over the output columns: [N] or [1, N].
                let c = gemm.inputs[2]
                guard index.constants.contains(c), let bias = index.graph.initializers[c], bias.dataType == .float,
                      bias.rank == 1 || (bias.rank == 2 && bias.shape[0] == 1),
                      let b = index.graph.initializers[gemm.inputs[1]], b.rank == 2,
                      bias.count == (transB ? b.shape[0] : b.shape[1]) else { continue }
                if bias.rank == 1 {
                    fused.inputs.append(c)
                } else {
                    let name = model.graph.freshName("\(c)/vector")
                    newInitializers[name] = try bias.reshaped(to: [bias.count])
                    fused.inputs.append(name)
                }
            }
            fused.setActivation(activation)
            rewrites.append(Rewrite(removed: [g, i], replacement: fused))
        }
        for (name, tensor) in newInitializers { model.graph.initializers[name] = tensor }
        return model.apply(rewrites)
    }
}

/// Stores each MatMul's and FusedMatMul's constant weights B (k × n) in the layout the AVX-512
/// GEMM reads, `FusedGEMM.PackedMatrix`'s panels [⌈n/48⌉, k, 48], marking the node (a MatMul
/// becomes a FusedMatMul) with `packed_columns` n:
/// contiguous panels are faster to stream than 48-column strips of rows (BERT-base 240 → 215 ms
/// at 1 thread), and because the packed tensor replaces the original in the graph the weights
/// are held once. Only when this CPU runs the GEMM (the packed model is for this machine; the
/// portable form and the kernel's fallback unpack B with Transpose, Reshape and Slice), and only
/// for weights nothing else reads. Each weight is packed and its original dropped in turn, so at
/// most one weight is held twice while the pass runs.
struct PackMatMulWeights: OptimizationPass {
    var name: String { "pack-matmul-weights" }

    func run(on model: inout Model) throws -> Bool {
        guard FusedGEMM.isAvailable, (model.opsetImports[""] ?? 1) >= 10 else { return false }
        // Candidates first, so no copy of the graph is alive while its weights are replaced.
        var candidates: [(node: Int, weight: String)] = []
        do {
            let patterns = PatternIndex(model)
            for (index, node) in model.graph.nodes.enumerated() where Self.takesPackedWeights(node) {
                let weight = node.inputs[1]
                guard patterns.constants.contains(weight), patterns.isReadOnly(weight, by: index),
                      let b = model.graph.initializers[weight], b.dataType == .float, b.rank == 2, b.shape[1] >= Int(CK_GEMM_PANEL)
                else { continue }
                candidates.append((index, weight))
            }
        }
        for (index, weight) in candidates {
            guard let b = model.graph.initializers[weight], let packed = FusedGEMM.PackedMatrix.panels(of: b) else { continue }
            let name = "\(weight)/panels"
            model.graph.initializers[weight] = nil
            model.graph.initializers[name] = packed
            if model.graph.nodes[index].isStandard("MatMul") {
                model.graph.nodes[index].opType = "FusedMatMul"
                model.graph.nodes[index].domain = FusedActivation.domain
            }
            model.graph.nodes[index].inputs[1] = name
            model.graph.nodes[index].attributes["packed_columns"] = .int(b.shape[1])
        }
        guard !candidates.isEmpty else { return false }
        if model.opsetImports[FusedActivation.domain] == nil { model.opsetImports[FusedActivation.domain] = 1 }
        return true
    }

    /// A MatMul (which becomes a FusedMatMul without bias or activation), or a FusedMatMul whose
    /// B is neither transposed nor packed yet.
    private static func takesPackedWeights(_ node: Node) -> Bool {
        guard node.inputs.count >= 2, node.outputs.count == 1 else { return false }
        if node.isStandard("MatMul") { return node.inputs.count == 2 }
        return node.opType == "FusedMatMul" && node.domain == FusedActivation.domain
            && node.attributes["perm_b"] == nil && node.attributes["packed_columns"] == nil
    }
}
