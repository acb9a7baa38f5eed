import Synchronization
/// The ONNX operator schemas (inputs, outputs, attributes, type constraints) that `validate`
/// checks nodes against. The data comes from the onnx package through `Tools/generate_schemas.py`.
public struct OperatorSchema: Sendable {
    /// One formal input or output.
    public struct Parameter: Sendable {
        /// The parameter's name in the spec (`X`, `W`, ...).
        public let name: String
        /// A type parameter (`T`) or a concrete type (`tensor(int64)`).
        public let typeString: String
        /// Whether the parameter may be left out or repeated.
        public let option: Option
    }

    /// How often a formal parameter appears.
    public enum Option: Sendable {
        /// Exactly one value.
        case single
        /// One value or an empty name.
        case optional
        /// One or more values of one type.
        case variadic
        /// One or more values, each with its own type (Scan, Loop).
        case heterogeneous
    }

    /// One attribute the operator accepts.
    public struct AttributeSpec: Sendable {
        /// The attribute's name.
        public let name: String
        /// The ONNX attribute kind: `INT`, `FLOATS`, `GRAPH`, ...
        public let kind: String
        /// True when a node must set it.
        public let required: Bool
    }

    /// The operator domain (empty for the default `ai.onnx`).
    public let domain: String
    /// The operator type.
    public let name: String
    /// The opset version this definition starts at.
    public let sinceVersion: Int
    /// True when the operator is deprecated from this version on.
    public let deprecated: Bool
    /// Allowed number of node inputs.
    public let inputCount: ClosedRange<Int>
    /// Allowed number of node outputs.
    public let outputCount: ClosedRange<Int>
    /// Formal inputs in order.
    public let inputs: [Parameter]
    /// Formal outputs in order.
    public let outputs: [Parameter]
    /// Accepted attributes by name.
    public let attributes: [String: AttributeSpec]
    /// Allowed types per type parameter, as ONNX type strings (`tensor(float)`).
    public let typeConstraints: [String: Set<String>]
}

/// Lookup of operator schemas by domain, name and opset.
public enum OperatorSchemas {
    /// The table's lines by operator and the newest version in each domain, found by reading
    /// only each line's first three fields. A session plans with a few dozen operators, so lines
    /// are parsed when first asked for (parsing all 659 took a third of a small model's load time).
    /// The scan works on UTF-8 bytes: splitting the 200 KB table as Characters took about 7 ms,
    /// a quarter of a small model's load time.
    private static let index: (lines: [String: [Substring]], newest: [String: Int]) = {
        var lines: [String: [Substring]] = [:], newest: [String: Int] = [:]
        let bar = UInt8(ascii: "|")
        for line in table.utf8.split(separator: UInt8(ascii: "\n")) {
            guard let domainEnd = line.firstIndex(of: bar) else { continue }
            let nameStart = line.index(after: domainEnd)
            guard let nameEnd = line[nameStart...].firstIndex(of: bar) else { continue }
            let sinceStart = line.index(after: nameEnd)
            guard let sinceEnd = line[sinceStart...].firstIndex(of: bar),
                  let since = Int(String(decoding: line[sinceStart..<sinceEnd], as: UTF8.self))
            else { continue }
            let domain = String(decoding: line[..<domainEnd], as: UTF8.self)
            let name = String(decoding: line[nameStart..<nameEnd], as: UTF8.self)
            lines[key(domain, name), default: []].append(Substring(line))
            newest[domain] = max(newest[domain] ?? 0, since)
        }
        return (lines, newest)
    }()

    /// Parsed schemas by operator, filled on first use of each.
    private static let parsed = Mutex<[String: [OperatorSchema]]>([:])

    /// The versions of one operator, oldest first (nil when the table does not have it).
    private static func byOperator(_ key: String) -> [OperatorSchema]? {
        if let known = parsed.withLock({ $0[key] }) { return known }
        guard let lines = index.lines[key] else { return nil }
        let schemas = lines.compactMap(parse).sorted { $0.sinceVersion < $1.sinceVersion }
        parsed.withLock { $0[key] = schemas }
        return schemas
    }

    private static func key(_ domain: String, _ name: String) -> String { "\(domain)|\(name)" }

    /// The definition of `name` in `domain` in effect at `opset`, or nil when the operator does not
    /// exist there (unknown, or introduced in a later opset).
    public static func schema(_ name: String, domain: String, opset: Int) -> OperatorSchema? {
        let domain = domain == "ai.onnx" ? "" : domain
        return byOperator(key(domain, name))?.last { $0.sinceVersion <= opset }
    }

    /// The opset versions at which `name` in `domain` is defined, oldest first (empty if unknown).
    public static func versions(of name: String, domain: String) -> [Int] {
        byOperator(key(domain == "ai.onnx" ? "" : domain, name))?.map(\.sinceVersion) ?? []
    }

    /// Domains the table knows, with the newest opset version defined in each.
    public static let knownDomains: [String: Int] = {
        var newest = index.newest
        newest[""] = max(newest[""] ?? 0, newestDefaultOpset)
        return newest
    }()

    private static func parse(_ line: Substring) -> OperatorSchema? {
        let f = line.utf8.split(separator: UInt8(ascii: "|"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard f.count == 12, let since = Int(f[2]), let minIn = Int(f[4]), let maxIn = Int(f[5]),
              let minOut = Int(f[6]), let maxOut = Int(f[7]) else { return nil }
        func parameters(_ text: String) -> [OperatorSchema.Parameter] {
            text.split(separator: ",").compactMap { item in
                let p = item.split(separator: ":").map(String.init)
                guard p.count == 3 else { return nil }
                let option: OperatorSchema.Option = switch p[2] {
                case "o": .optional
                case "v": .variadic
                case "h": .heterogeneous
                default: .single
                }
                return .init(name: p[0], typeString: p[1], option: option)
            }
        }
        var attributes: [String: OperatorSchema.AttributeSpec] = [:]
        for item in f[10].split(separator: ",") {
            let p = item.split(separator: ":").map(String.init)
            guard p.count == 3 else { continue }
            attributes[p[0]] = .init(name: p[0], kind: p[1], required: p[2] == "1")
        }
        var constraints: [String: Set<String>] = [:]
        for item in f[11].split(separator: " ") {
            let p = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard p.count == 2 else { continue }
            constraints[p[0]] = Set(p[1].split(separator: ";").map(String.init))
        }
        return OperatorSchema(
            domain: f[0], name: f[1], sinceVersion: since, deprecated: f[3] == "1",
            inputCount: minIn...max(minIn, maxIn), outputCount: minOut...max(minOut, maxOut),
            inputs: parameters(f[8]), outputs: parameters(f[9]), attributes: attributes, typeConstraints: constraints)
    }
}
