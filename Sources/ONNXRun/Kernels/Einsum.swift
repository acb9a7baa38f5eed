/// Einsum: explicit ("ij,jk->ik") and implicit ("ij,jk") forms, ellipsis broadcasting, repeated
/// labels within a term (diagonals), and summation over labels absent from the output.
///
/// Each operand first loses its repeated labels (reading the diagonal) and the labels no other term
/// needs (summed). Operands are then combined left to right: labels shared by both and still needed
/// later become batch dimensions, shared labels not needed later are contracted, and the pair is one
/// batched GEMM after both sides are rearranged to [batch, kept, contracted] / [batch, contracted,
/// kept]. Size-1 dimensions broadcast against their label's size. Finally leftover labels are summed
/// and the result is arranged in output order.
///
/// float16/bfloat16 compute in float, integers in Int64 (wrapping), then convert back.
struct EinsumKernel: TensorKernel {
    let equation: String

    init(_ context: KernelContext) throws {
        guard context.inputCount >= 1 else { throw context.error(.invalidModel, "expects at least one input") }
        equation = try context.required("equation", context.string).filter { $0 != " " }
        // Syntax check now; label counts against ranks are checked when shapes are known.
        let sides = equation.components(separatedBy: "->")
        guard sides.count <= 2 else { throw context.error(.invalidAttribute, "equation '\(equation)' has more than one '->'") }
        let terms = sides[0].split(separator: ",", omittingEmptySubsequences: false)
        guard terms.count == context.inputCount else {
            throw context.error(.invalidAttribute, "equation '\(equation)' has \(terms.count) terms for \(context.inputCount) inputs")
        }
        for character in equation where !(character.isASCII && (character.isLetter || character == "." || character == "," || character == "-" || character == ">")) {
            throw context.error(.invalidAttribute, "equation '\(equation)' contains '\(character)'")
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let operands = try inputs.enumerated().map { i, t -> Tensor in
            guard let t else { throw ONNXRunError(.invalidInput, "input \(i) is required") }
            return t
        }
        let type = operands[0].dataType
        for t in operands where t.dataType != type {
            throw ONNXRunError(.invalidInput, "Einsum operands must share one type, got \(type) and \(t.dataType)")
        }
        let parsed = try EinsumEquation(equation, ranks: operands.map(\.rank))
        switch type {
        case .float, .float16, .bfloat16:
            let result = try evaluate(parsed, operands.map { try Conversion.cast($0, to: .float) }, Float.self)
            return [try Conversion.cast(result, to: type)]
        case .double:
            return [try evaluate(parsed, operands, Double.self)]
        case let t where t.isInteger:
            let result = try evaluate(parsed, operands.map { try Conversion.cast($0, to: .int64) }, Int64.self)
            return [try Conversion.cast(result, to: type)]
        default:
            throw ONNXRunError(.unsupportedType, "Einsum of \(type) is not supported")
        }
    }

    /// A tensor during evaluation: row-major values with one label per dimension.
    private struct Term<T> {
        var values: [T]
        var labels: [Int]
        var shape: [Int]
    }

    private func evaluate<T: EinsumElement>(_ equation: EinsumEquation, _ operands: [Tensor], _: T.Type) throws -> Tensor {
        // The size of every label; size-1 dimensions broadcast against larger ones.
        var sizes: [Int: Int] = [:]
        for (labels, t) in zip(equation.inputs, operands) {
            for (label, size) in zip(labels, t.shape) {
                let known = sizes[label]
                if known == nil || known == 1 {
                    sizes[label] = size
                } else if size != 1 && size != known {
                    throw ONNXRunError(.shapeMismatch, "Einsum label '\(EinsumEquation.name(label))' has sizes \(known!) and \(size)")
                }
            }
        }
        for label in equation.output where sizes[label] == nil {
            throw ONNXRunError(.invalidAttribute, "output label '\(EinsumEquation.name(label))' does not appear in any input")
        }
        var terms = operands.enumerated().map { i, t in
            Term(values: t.withUnsafeBufferPointer(as: T.self) { Array($0) }, labels: equation.inputs[i], shape: t.shape)
        }
        /// Labels needed after operand `index` has been merged: the output's and later operands'.
        func needed(after index: Int) -> Set<Int> {
            var set = Set(equation.output)
            for later in equation.inputs.dropFirst(index + 1) { set.formUnion(later) }
            return set
        }
        // Drop diagonals and private labels of every operand up front.
        for i in terms.indices {
            var keep = needed(after: terms.count - 1)
            for (j, labels) in equation.inputs.enumerated() where j != i { keep.formUnion(labels) }
            terms[i] = Self.reduce(terms[i], keeping: keep)
        }
        var result = terms[0]
        for i in 1..<max(terms.count, 1) {
            let later = needed(after: i)
            result = try Self.contract(result, terms[i], keeping: later, sizes: sizes)
        }
        result = Self.reduce(result, keeping: Set(equation.output))
        let outputShape = equation.output.map { sizes[$0]! }
        let arranged = Self.arrange(result, to: equation.output, sizes: outputShape)
        return try Tensor(shape: outputShape, scalars: arranged)
    }

    /// Sums out every label not in `keep`, merging repeated labels into their diagonal.
    private static func reduce<T: EinsumElement>(_ term: Term<T>, keeping keep: Set<Int>) -> Term<T> {
        var kept: [Int] = [], dropped: [Int] = []
        var sizes: [Int: Int] = [:]
        for (label, size) in zip(term.labels, term.shape) {
            if sizes[label] != nil { sizes[label] = min(sizes[label]!, size); continue }
            sizes[label] = size
            if keep.contains(label) { kept.append(label) } else { dropped.append(label) }
        }
        if dropped.isEmpty && kept.count == term.labels.count { return term }
        let keptShape = kept.map { sizes[$0]! }, droppedShape = dropped.map { sizes[$0]! }
        let arranged = arrange(term, to: kept + dropped, sizes: keptShape + droppedShape)
        let block = droppedShape.reduce(1, *), count = keptShape.reduce(1, *)
        var values = [T](repeating: .zero, count: count)
        for i in 0..<count {
            var sum = T.zero
            for j in 0..<block { sum = sum.adding(arranged[i * block + j]) }
            values[i] = sum
        }
        return Term(values: values, labels: kept, shape: keptShape)
    }

    /// Rearranges `term` to dimensions `target` of `sizes`. Every label of `term` must be in `target`
    /// unless its dimension has size 1; repeated labels read the diagonal; size-1 dimensions broadcast.
    private static func arrange<T>(_ term: Term<T>, to target: [Int], sizes: [Int]) -> [T] {
        var sourceStrides = [Int](repeating: 1, count: term.shape.count)
        var step = 1
        for d in term.shape.indices.reversed() {
            sourceStrides[d] = step
            step *= term.shape[d]
        }
        let strides = target.map { label in
            term.labels.indices.reduce(0) { total, d in
                term.labels[d] == label && term.shape[d] != 1 ? total + sourceStrides[d] : total
            }
        }
        if target == term.labels && sizes == term.shape { return term.values }
        let count = sizes.reduce(1, *)
        guard count > 0 else { return [] }
        var result = [T]()
        result.reserveCapacity(count)
        var index = [Int](repeating: 0, count: target.count)
        var offset = 0
        for _ in 0..<count {
            result.append(term.values[offset])
            var axis = target.count - 1
            while axis >= 0 {
                index[axis] += 1
                offset += strides[axis]
                if index[axis] < sizes[axis] { break }
                offset -= strides[axis] * sizes[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }

    /// Combines two terms into one over batch (shared, still needed), A-only and B-only labels,
    /// summing shared labels no longer needed.
    private static func contract<T: EinsumElement>(_ a: Term<T>, _ b: Term<T>, keeping later: Set<Int>, sizes: [Int: Int]) throws -> Term<T> {
        let a = reduce(a, keeping: later.union(b.labels)), b = reduce(b, keeping: later.union(a.labels))
        let shared = a.labels.filter { b.labels.contains($0) }
        let batch = shared.filter { later.contains($0) }, contracted = shared.filter { !later.contains($0) }
        let aOnly = a.labels.filter { !b.labels.contains($0) }, bOnly = b.labels.filter { !a.labels.contains($0) }
        func size(_ term: Term<T>, _ label: Int) -> Int { term.shape[term.labels.firstIndex(of: label)!] }
        let batchSizes = batch.map { sizes[$0]! }, contractedSizes = contracted.map { sizes[$0]! }
        let aSizes = aOnly.map { size(a, $0) }, bSizes = bOnly.map { size(b, $0) }
        let left = arrange(a, to: batch + aOnly + contracted, sizes: batchSizes + aSizes + contractedSizes)
        let right = arrange(b, to: batch + contracted + bOnly, sizes: batchSizes + contractedSizes + bSizes)
        let batches = batchSizes.reduce(1, *), m = aSizes.reduce(1, *), k = contractedSizes.reduce(1, *), n = bSizes.reduce(1, *)
        var values = [T](repeating: .zero, count: batches * m * n)
        left.withUnsafeBufferPointer { l in
            right.withUnsafeBufferPointer { r in
                values.withUnsafeMutableBufferPointer { o in
                    guard let lp = l.baseAddress, let rp = r.baseAddress, let op = o.baseAddress else { return }
                    for i in 0..<batches {
                        T.gemm(m: m, n: n, k: k, a: lp + i * m * k, b: rp + i * k * n, c: op + i * m * n)
                    }
                }
            }
        }
        return Term(values: values, labels: batch + aOnly + bOnly, shape: batchSizes + aSizes + bSizes)
    }
}

/// A parsed equation: each operand's labels (letters by ASCII code, ellipsis dimensions as
/// 256 + position) and the output labels.
struct EinsumEquation {
    var inputs: [[Int]]
    var output: [Int]

    static func name(_ label: Int) -> String {
        label >= 256 ? "...[\(label - 256)]" : String(UnicodeScalar(UInt8(label)))
    }

    /// Splits a term into letter codes, with `nil` marking the ellipsis.
    private static func tokens(_ term: Substring) throws -> [Int?] {
        var result: [Int?] = []
        var rest = term[...]
        while let c = rest.first {
            if rest.hasPrefix("...") {
                guard !result.contains(where: { $0 == nil }) else {
                    throw ONNXRunError(.invalidAttribute, "Einsum term '\(term)' has more than one ellipsis")
                }
                result.append(nil)
                rest = rest.dropFirst(3)
            } else if c.isASCII && c.isLetter {
                result.append(Int(c.asciiValue!))
                rest = rest.dropFirst()
            } else {
                throw ONNXRunError(.invalidAttribute, "Einsum term '\(term)' is malformed")
            }
        }
        return result
    }

    init(_ equation: String, ranks: [Int]) throws {
        let sides = equation.components(separatedBy: "->")
        let terms = try sides[0].split(separator: ",", omittingEmptySubsequences: false).map(Self.tokens)
        guard terms.count == ranks.count else {
            throw ONNXRunError(.invalidAttribute, "equation '\(equation)' has \(terms.count) terms for \(ranks.count) inputs")
        }
        // Ellipsis dimensions per operand, right-aligned to the widest.
        var ellipsisCounts: [Int] = []
        for (term, rank) in zip(terms, ranks) {
            let letters = term.filter { $0 != nil }.count
            let hasEllipsis = term.contains(where: { $0 == nil })
            guard hasEllipsis ? rank >= letters : rank == letters else {
                throw ONNXRunError(.shapeMismatch, "Einsum term with \(letters) labels\(hasEllipsis ? " and an ellipsis" : "") does not fit rank \(rank)")
            }
            ellipsisCounts.append(hasEllipsis ? rank - letters : 0)
        }
        let width = ellipsisCounts.max() ?? 0
        inputs = zip(terms, ellipsisCounts).map { term, count in
            term.flatMap { token -> [Int] in
                token.map { [$0] } ?? (0..<count).map { 256 + width - count + $0 }
            }
        }
        let ellipsis = (0..<width).map { 256 + $0 }
        if sides.count > 1 {
            let tokens = try Self.tokens(sides[1][...])
            output = tokens.flatMap { $0.map { [$0] } ?? ellipsis }
            guard Set(output).count == output.count else {
                throw ONNXRunError(.invalidAttribute, "Einsum output '\(sides[1])' repeats a label")
            }
        } else {
            // Implicit: ellipsis first, then letters used exactly once, in ASCII order.
            var counts: [Int: Int] = [:]
            for labels in inputs { for l in labels where l < 256 { counts[l, default: 0] += 1 } }
            output = ellipsis + counts.filter { $0.value == 1 }.keys.sorted()
        }
    }
}

/// Element types Einsum computes in.
protocol EinsumElement: TensorElement {
    static var zero: Self { get }
    func adding(_ other: Self) -> Self
    /// c[m × n] = a[m × k] · b[k × n], all row-major and contiguous.
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Self>, b: UnsafePointer<Self>, c: UnsafeMutablePointer<Self>)
}

extension Float: EinsumElement {
    func adding(_ other: Float) -> Float { self + other }
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
        BLAS.sgemm(m: m, n: n, k: k, alpha: 1, a: a, lda: Swift.max(k, 1), b: b, ldb: Swift.max(n, 1), beta: 0, c: c, ldc: Swift.max(n, 1))
    }
}

extension Double: EinsumElement {
    func adding(_ other: Double) -> Double { self + other }
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Double>, b: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>) {
        BLAS.dgemm(m: m, n: n, k: k, alpha: 1, a: a, lda: Swift.max(k, 1), b: b, ldb: Swift.max(n, 1), beta: 0, c: c, ldc: Swift.max(n, 1))
    }
}

extension Int64: EinsumElement {
    func adding(_ other: Int64) -> Int64 { self &+ other }
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Int64>, b: UnsafePointer<Int64>, c: UnsafeMutablePointer<Int64>) {
        BLAS.integerGemm(m: m, n: n, k: k, alpha: 1, a: a, lda: Swift.max(k, 1), b: b, ldb: Swift.max(n, 1), beta: 0, c: c, ldc: Swift.max(n, 1))
    }
}

extension KernelRegistry {
    static func registerEinsum(_ r: inout KernelRegistry) {
        r.register("Einsum", since: 12, 28) { try EinsumKernel($0) }
    }
}
