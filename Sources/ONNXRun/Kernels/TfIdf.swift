/// TfIdfVectorizer: counts pooled n-grams (with skips) per row and weights them (TF, IDF, TFIDF).
struct TfIdfKernel: TensorKernel {
    let mode: String
    let minLength: Int, maxLength: Int, maxSkip: Int
    let indexes: [Int]
    let weights: [Float]
    /// Every prefix of a pooled n-gram, and the 1-based id of each complete n-gram in range.
    let prefixes: Set<[String]>
    let ids: [[String]: Int]
    let outputSize: Int

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        mode = try context.required("mode", context.string)
        guard ["TF", "IDF", "TFIDF"].contains(mode) else { throw context.error(.invalidAttribute, "mode must be TF, IDF or TFIDF") }
        minLength = try context.required("min_gram_length", context.int)
        maxLength = try context.required("max_gram_length", context.int)
        maxSkip = try context.required("max_skip_count", context.int)
        let counts = try context.required("ngram_counts", context.ints)
        indexes = try context.required("ngram_indexes", context.ints)
        weights = try context.floats("weights") ?? []
        let pool = try context.strings("pool_strings") ?? (context.ints("pool_int64s") ?? []).map(String.init)
        var prefixes = Set<[String]>(), ids: [[String]: Int] = [:]
        var nextID = 1
        for (i, start) in counts.enumerated() {
            let size = i + 1
            let end = i + 1 < counts.count ? counts[i + 1] : pool.count
            let grams = (end - start) / size
            for g in 0..<grams {
                let gram = Array(pool[(start + g * size)..<(start + (g + 1) * size)])
                if size >= minLength && size <= maxLength {
                    for k in 1...size { prefixes.insert(Array(gram[0..<k])) }
                    ids[gram] = nextID
                }
                nextID += 1
            }
        }
        self.prefixes = prefixes
        self.ids = ids
        outputSize = (indexes.max() ?? -1) + 1
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        let items = x.dataType == .string ? x.strings : try Conversion.integers(x).map(String.init)
        let rows = x.rank <= 1 ? 1 : x.shape[0]
        let rowSize = rows == 0 ? 0 : items.count / rows
        var frequencies = [Int](repeating: 0, count: rows * outputSize)
        for row in 0..<rows {
            let data = Array(items[(row * rowSize)..<((row + 1) * rowSize)])
            var startSize = minLength
            for skip in 1...(maxSkip + 1) {
                for start in 0..<data.count {
                    if start + skip * (startSize - 1) >= data.count { break }
                    var gram: [String] = []
                    var position = start
                    while gram.count < maxLength && position < data.count {
                        gram.append(data[position])
                        guard prefixes.contains(gram) else { break }
                        if gram.count >= startSize, let id = ids[gram] {
                            frequencies[row * outputSize + indexes[id - 1]] += 1
                        }
                        position += skip
                    }
                }
                if startSize == 1 {
                    startSize = 2
                    if startSize > maxLength { break }
                }
            }
        }
        let values: [Float] = frequencies.enumerated().map { p, f in
            let i = p % Swift.max(outputSize, 1)
            switch mode {
            case "TF": return Float(f)
            case "IDF": return f > 0 ? (weights.isEmpty ? 1 : weights[i]) : 0
            default: return weights.isEmpty ? Float(f) : weights[i] * Float(f)
            }
        }
        return [try Tensor(shape: x.rank <= 1 ? [outputSize] : [rows, outputSize], scalars: values)]
    }
}

extension KernelRegistry {
    static func registerTfIdf(_ r: inout KernelRegistry) {
        r.register("TfIdfVectorizer", since: 9) { try TfIdfKernel($0) }
    }
}
