/// TreeEnsemble (ai.onnx.ml opset 5): evaluates decision trees (<=, <, >=, >, ==, !=, set
/// membership; missing values may track the true branch) and aggregates leaf weights per target.
struct TreeEnsembleKernel: TensorKernel {
    /// A tree node after building: a comparison with two children, or a leaf.
    indirect enum Tree: Sendable {
        case leaf(weight: Double, target: Int)
        case split(mode: Int, value: Double, members: Set<Double>, feature: Int, missingTrue: Bool, whenTrue: Tree, whenFalse: Tree)
    }
    let trees: [Tree]
    let targets: Int
    let aggregate: Int

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        func tensorValues(_ name: String) throws -> [Double] {
            guard let t = try context.tensor(name) else { return [] }
            return try Elements(t).doubles
        }
        let splits = try tensorValues("nodes_splits"), modes = try tensorValues("nodes_modes").map { Int($0) }
        let features = try context.ints("nodes_featureids") ?? [], trueIDs = try context.ints("nodes_truenodeids") ?? []
        let falseIDs = try context.ints("nodes_falsenodeids") ?? [], trueLeafs = try context.ints("nodes_trueleafs") ?? []
        let falseLeafs = try context.ints("nodes_falseleafs") ?? [], leafTargets = try context.ints("leaf_targetids") ?? []
        let leafWeights = try tensorValues("leaf_weights"), roots = try context.ints("tree_roots") ?? []
        let missing = try context.ints("nodes_missing_value_tracks_true")
        let membership = try tensorValues("membership_values")
        targets = try context.required("n_targets", context.int)
        aggregate = try context.int("aggregate_function", default: 1)
        guard try context.int("post_transform", default: 0) == 0 else { throw context.error(.invalidAttribute, "only post_transform NONE is supported") }
        let count = modes.count
        guard [splits.count, features.count, trueIDs.count, falseIDs.count, trueLeafs.count, falseLeafs.count].allSatisfy({ $0 == count }),
              leafTargets.count == leafWeights.count else {
            throw context.error(.invalidAttribute, "node and leaf attribute lists differ in length")
        }
        var memberCursor = 0
        func build(_ index: Int, leaf: Bool, depth: Int) throws -> Tree {
            guard depth < 10_000 else { throw context.error(.invalidAttribute, "tree is deeper than 10,000 levels or cyclic") }
            if leaf {
                guard index >= 0 && index < leafWeights.count else { throw context.error(.invalidAttribute, "leaf index \(index) out of range") }
                return .leaf(weight: leafWeights[index], target: leafTargets[index])
            }
            guard index >= 0 && index < count else { throw context.error(.invalidAttribute, "node index \(index) out of range") }
            var members = Set<Double>()
            if modes[index] == 6 {
                // Membership sets are listed in build order, each ended by NaN.
                while memberCursor < membership.count, !membership[memberCursor].isNaN {
                    members.insert(membership[memberCursor])
                    memberCursor += 1
                }
                memberCursor += 1
            }
            let whenTrue = try build(trueIDs[index], leaf: trueLeafs[index] != 0, depth: depth + 1)
            let whenFalse = try build(falseIDs[index], leaf: falseLeafs[index] != 0, depth: depth + 1)
            return .split(mode: modes[index], value: splits[index], members: members, feature: features[index],
                          missingTrue: (missing?[index] ?? 0) != 0, whenTrue: whenTrue, whenFalse: whenFalse)
        }
        trees = try roots.map { root in
            guard root >= 0 && root < count else { throw context.error(.invalidAttribute, "tree root \(root) out of range") }
            let isLeaf = trueLeafs[root] != 0 && falseLeafs[root] != 0 && trueIDs[root] == falseIDs[root]
            return try build(root, leaf: isLeaf, depth: 0)
        }
    }

    private func evaluate(_ tree: Tree, _ row: ArraySlice<Double>) -> (Double, Int) {
        var node = tree
        while true {
            switch node {
            case .leaf(let weight, let target): return (weight, target)
            case .split(let mode, let value, let members, let feature, let missingTrue, let whenTrue, let whenFalse):
                let x = row[row.startIndex + feature]
                let taken: Bool
                switch mode {
                case 0: taken = x <= value
                case 1: taken = x < value
                case 2: taken = x >= value
                case 3: taken = x > value
                case 4: taken = x == value
                case 5: taken = x != value
                default: taken = members.contains(x)
                }
                node = taken || (missingTrue && x.isNaN) ? whenTrue : whenFalse
            }
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0], x.rank == 2 else { throw ONNXRunError(.invalidInput, "X must be [N, features]") }
        let values = try Elements(x).doubles
        let (rows, width) = (x.shape[0], x.shape[1])
        let initial: Double = aggregate == 2 ? .greatestFiniteMagnitude : (aggregate == 3 ? -.greatestFiniteMagnitude : 0)
        var out = [Double](repeating: initial, count: rows * targets)
        for r in 0..<rows {
            let row = values[(r * width)..<((r + 1) * width)]
            for tree in trees {
                let (weight, target) = evaluate(tree, row)
                guard target >= 0 && target < targets else { throw ONNXRunError(.outOfRange, "leaf target \(target) is outside n_targets \(targets)") }
                let p = r * targets + target
                switch aggregate {
                case 0: out[p] += weight / Double(trees.count)
                case 2: out[p] = Swift.min(out[p], weight)
                case 3: out[p] = Swift.max(out[p], weight)
                default: out[p] += weight
                }
            }
        }
        return [try Conversion.cast(try Tensor(shape: [rows, targets], scalars: out), to: x.dataType)]
    }
}

extension KernelRegistry {
    static func registerTreeEnsemble(_ r: inout KernelRegistry) {
        r.register("TreeEnsemble", domain: "ai.onnx.ml", since: 5) { try TreeEnsembleKernel($0) }
    }
}
