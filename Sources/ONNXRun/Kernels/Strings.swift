import Foundation

/// String operators: StringNormalizer, StringConcat, StringSplit, RegexFullMatch.

/// StringNormalizer: drops stop words and changes case, on [C] or [1, C] tensors.
struct StringNormalizerKernel: TensorKernel {
    enum CaseChange: String { case none = "NONE", lower = "LOWER", upper = "UPPER" }
    let caseChange: CaseChange
    let caseSensitive: Bool
    let stopwords: Set<String>

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        let action = try context.string("case_change_action", default: "NONE")
        guard let change = CaseChange(rawValue: action) else {
            throw context.error(.invalidAttribute, "case_change_action must be NONE, LOWER or UPPER, got '\(action)'")
        }
        caseChange = change
        caseSensitive = try context.int("is_case_sensitive", default: 0) != 0
        let words = try context.strings("stopwords") ?? []
        stopwords = Set(caseSensitive ? words : words.map { $0.lowercased() })
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try [Value?](inputs.map { $0.map(Value.tensor) }).tensor(0)
        guard x.dataType == .string else { throw ONNXRunError(.unsupportedType, "expects a string tensor, got \(x.dataType)") }
        guard x.rank == 1 || (x.rank == 2 && x.shape[0] == 1) else {
            throw ONNXRunError(.invalidInput, "expects shape [C] or [1, C], got \(x.shape)")
        }
        var kept = x.strings.filter { !stopwords.contains(caseSensitive ? $0 : $0.lowercased()) }
        switch caseChange {
        case .none: break
        case .lower: kept = kept.map { $0.lowercased() }
        case .upper: kept = kept.map { $0.uppercased() }
        }
        if kept.isEmpty { return [try Tensor(shape: x.rank == 1 ? [1] : [1, 1], strings: [""])] }
        return [try Tensor(shape: x.rank == 1 ? [kept.count] : [1, kept.count], strings: kept)]
    }
}

/// StringSplit: splits each string on a delimiter (or runs of whitespace), padding to a common count.
struct StringSplitKernel: TensorKernel {
    let delimiter: String
    let maxSplit: Int?

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        delimiter = try context.string("delimiter", default: "")
        maxSplit = try context.int("maxsplit")
    }

    func split(_ s: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(s)
        if delimiter.isEmpty {
            rest = rest.drop(while: { $0.isWhitespace })
            while !rest.isEmpty {
                if let limit = maxSplit, parts.count == limit {
                    parts.append(String(rest))
                    return parts
                }
                let word = rest.prefix(while: { !$0.isWhitespace })
                parts.append(String(word))
                rest = rest.dropFirst(word.count).drop(while: { $0.isWhitespace })
            }
            return parts
        }
        while let range = rest.range(of: delimiter) {
            if let limit = maxSplit, parts.count == limit { break }
            parts.append(String(rest[rest.startIndex..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try [Value?](inputs.map { $0.map(Value.tensor) }).tensor(0)
        guard x.dataType == .string else { throw ONNXRunError(.unsupportedType, "expects a string tensor, got \(x.dataType)") }
        let pieces = x.strings.map(split)
        let width = pieces.map(\.count).max() ?? 0
        var flat: [String] = []
        flat.reserveCapacity(pieces.count * width)
        for p in pieces { flat.append(contentsOf: p + Array(repeating: "", count: width - p.count)) }
        let counts = try Tensor(shape: x.shape, scalars: pieces.map { Int64($0.count) })
        return [try Tensor(shape: x.shape + [width], strings: flat), counts]
    }
}

/// RegexFullMatch: true where the whole string matches the pattern.
struct RegexFullMatchKernel: TensorKernel {
    let pattern: String

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        pattern = try context.required("pattern", context.string)
        do {
            _ = try NSRegularExpression(pattern: pattern)
        } catch {
            throw context.error(.invalidAttribute, "pattern '\(pattern)' is not a valid regular expression")
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let x = try [Value?](inputs.map { $0.map(Value.tensor) }).tensor(0)
        guard x.dataType == .string else { throw ONNXRunError(.unsupportedType, "expects a string tensor, got \(x.dataType)") }
        // NSRegularExpression is not Sendable; one per call keeps the kernel shareable across threads.
        let regex = try NSRegularExpression(pattern: pattern)
        let matches = x.strings.map { s -> Bool in
            let range = NSRange(s.startIndex..., in: s)
            guard let m = regex.firstMatch(in: s, options: [.anchored], range: range) else { return false }
            return m.range == range
        }
        return [try Tensor(shape: x.shape, scalars: matches)]
    }
}

/// StringConcat: elementwise concatenation with broadcasting.
struct StringConcatKernel: TensorKernel {
    init(_ context: KernelContext) throws { try context.expectInputs(2) }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        let values = inputs.map { $0.map(Value.tensor) }
        let a = try values.tensor(0), b = try values.tensor(1)
        guard a.dataType == .string, b.dataType == .string else { throw ONNXRunError(.unsupportedType, "expects string tensors") }
        let shape = try Broadcast.shape(a.shape, b.shape)
        let sa = Broadcast.strides(of: a.shape, in: shape), sb = Broadcast.strides(of: b.shape, in: shape)
        var out = [String](repeating: "", count: try Tensor.elementCount(shape))
        let left = a.strings, right = b.strings
        Broadcast.forEachRow(outShape: shape, aStrides: sa, bStrides: sb) { o, ia, ib, n, stepA, stepB in
            for j in 0..<n { out[o + j] = left[ia + j * stepA] + right[ib + j * stepB] }
        }
        return [try Tensor(shape: shape, strings: out)]
    }
}

extension KernelRegistry {
    static func registerStrings(_ r: inout KernelRegistry) {
        r.register("StringNormalizer", since: 10) { try StringNormalizerKernel($0) }
        r.register("StringSplit", since: 20) { try StringSplitKernel($0) }
        r.register("RegexFullMatch", since: 20) { try RegexFullMatchKernel($0) }
        r.register("StringConcat", since: 20) { try StringConcatKernel($0) }
    }
}
