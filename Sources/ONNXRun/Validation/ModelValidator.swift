import Foundation

/// One problem (or note) `validate` found in a model.
public struct ValidationFinding: Sendable, Equatable, CustomStringConvertible {
    /// How bad a finding is. Errors make the model invalid; warnings do so only in strict mode.
    public enum Severity: String, Sendable, Comparable {
        case error, warning, info
        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
        private var rank: Int { self == .error ? 0 : self == .warning ? 1 : 2 }
    }

    /// How bad it is.
    public var severity: Severity
    /// Which check produced it: `load`, `model`, `graph`, `schema`, `types`, `shapes`, `function`,
    /// `support` or `test-data`.
    public var check: String
    /// The node (`Conv node "conv1"`), value or file it concerns; nil for the model as a whole.
    public var subject: String?
    /// What is wrong, naming what was expected.
    public var message: String

    /// Creates a finding.
    public init(_ severity: Severity, _ check: String, _ message: String, subject: String? = nil) {
        self.severity = severity
        self.check = check
        self.message = message
        self.subject = subject
    }

    public var description: String {
        "\(severity) [\(check)] " + (subject.map { "\($0): " } ?? "") + message
    }
}

/// The result of validating one model.
public struct ValidationReport: Sendable {
    /// The model file.
    public var model: URL
    /// Everything found, errors first, then in graph order.
    public var findings: [ValidationFinding]
    /// Data sets run with `testData`, with nil for a match or the first difference.
    public var testResults: [(name: String, failure: String?)]
    /// Whether warnings count as failures.
    public var strict: Bool

    /// True when nothing fails: no errors (and, in strict mode, no warnings).
    public var isValid: Bool {
        !findings.contains { $0.severity == .error || (strict && $0.severity == .warning) }
    }
}

/// Checks an ONNX model the way a CI gate needs: structure (like `onnx.checker`'s full check),
/// operator schemas, type and shape inference, operator support by this runtime, and optionally
/// the model's test data.
public enum ModelValidator {
    /// What to check and how strictly.
    public struct Options: Sendable {
        /// Treat warnings (shape inference contradictions, deprecated ops, unknown domains) as failures.
        public var strict = false
        /// Fail when the model imports a default-domain opset above this.
        public var opsetLimit: Int?
        /// ONNX test-data directories to run: a `test_data_set_N` directory, or one containing them.
        public var testData: [URL] = []
        /// Output comparison tolerances for test data.
        public var tolerance = TestCaseRunner.Tolerance()
        /// Threads for running test data.
        public var threads = 1

        /// Creates options.
        public init(strict: Bool = false, opsetLimit: Int? = nil, testData: [URL] = [], tolerance: TestCaseRunner.Tolerance = .init(), threads: Int = 1) {
            self.strict = strict
            self.opsetLimit = opsetLimit
            self.testData = testData
            self.tolerance = tolerance
            self.threads = threads
        }
    }

    /// Validates the model in `url`. Throws only when the file itself cannot be read; everything
    /// wrong with its content is a finding.
    public static func validate(contentsOf url: URL, options: Options = Options()) throws -> ValidationReport {
        guard FileManager.default.isReadableFile(atPath: url.path) else {
            throw ONNXRunError(.io, "cannot read model file (missing or not readable)", subject: url.path)
        }
        var report = ValidationReport(model: url, findings: [], testResults: [], strict: options.strict)
        let model: Model
        do {
            model = try ModelLoader.load(contentsOf: url)
        } catch let error as ONNXRunError {
            if error.code == .io && error.subject == url.path { throw error }
            report.findings.append(ValidationFinding(.error, "load", error.message, subject: error.subject))
            return report
        }
        report.findings = findings(for: model, options: options)
        if !report.findings.contains(where: { $0.severity == .error }) && !options.testData.isEmpty {
            runTestData(model, options: options, into: &report)
        }
        report.findings.sort { $0.severity < $1.severity }
        return report
    }

    /// Every finding for an already loaded model (without test data).
    public static func findings(for model: Model, options: Options = Options()) -> [ValidationFinding] {
        let inference = ShapeInference.infer(model)
        var checker = StructureChecker(model: model)
        checker.checkModel(opsetLimit: options.opsetLimit, types: inference)
        var findings = checker.findings
        guard !findings.contains(where: { $0.severity == .error && ($0.check == "model" || $0.check == "graph") }) else {
            return findings
        }
        for issue in inference.issues {
            findings.append(ValidationFinding(options.strict ? .error : .warning, "shapes", issue.message, subject: issue.subject))
        }
        // Nodes the schema check already rejected are not listed again as unsupported, and the
        // plan (which would repeat schema errors in its own words) is built only for clean models.
        let rejected = Set(findings.filter { $0.severity == .error }.compactMap(\.subject))
        let clean = !findings.contains { $0.severity == .error }
        findings += supportFindings(model, skipping: rejected, buildPlan: clean)
        return findings
    }

    /// Unsupported operators (each with its nodes) and kernel set-up errors (bad attribute values).
    static func supportFindings(_ model: Model, skipping rejected: Set<String> = [], buildPlan: Bool = true) -> [ValidationFinding] {
        var findings: [ValidationFinding] = []
        let registry = KernelRegistry.standard
        var unsupported: [String: [String]] = [:]
        var order: [String] = []
        func visit(_ graph: Graph, opsets: [String: Int]) {
            for node in graph.nodes {
                let domain = node.domain == "ai.onnx" ? "" : node.domain
                let isFunction = model.functions.contains { $0.name == node.opType && $0.domain == domain }
                if !isFunction, !rejected.contains(node.label), let opset = opsets[domain], registry.factory(for: node.opType, domain: domain, opset: opset) == nil {
                    let key = "\(node.opType) (domain '\(domain.isEmpty ? "ai.onnx" : domain)', opset \(opset))"
                    if unsupported[key] == nil { order.append(key) }
                    unsupported[key, default: []].append(node.name.isEmpty ? "(unnamed)" : node.name)
                }
                for attribute in node.attributes.values {
                    if case .graph(let g) = attribute { visit(g, opsets: opsets) }
                    if case .graphs(let gs) = attribute { gs.forEach { visit($0, opsets: opsets) } }
                }
            }
        }
        visit(model.graph, opsets: model.opsetImports)
        for key in order {
            let nodes = unsupported[key] ?? []
            let names = nodes.prefix(8).map { "\"\($0)\"" }.joined(separator: ", ") + (nodes.count > 8 ? " and \(nodes.count - 8) more" : "")
            findings.append(ValidationFinding(.error, "support", "operator \(key) is not supported by onnx-run; used by \(names)", subject: nil))
        }
        guard findings.isEmpty, buildPlan else { return findings }
        // Plan as loaded: kernels parse their attributes here and reject bad values.
        do {
            _ = try InferenceSession(model: model, options: .init(threads: 1, optimizationLevel: 0))
        } catch let error as ONNXRunError {
            findings.append(ValidationFinding(.error, "support", error.message, subject: error.subject))
        } catch {
            findings.append(ValidationFinding(.error, "support", "\(error)"))
        }
        return findings
    }

    static func runTestData(_ model: Model, options: Options, into report: inout ValidationReport) {
        let session: InferenceSession
        do {
            session = try InferenceSession(model: model, options: .init(threads: options.threads))
        } catch {
            report.findings.append(ValidationFinding(.error, "test-data", "cannot plan the model: \(error)"))
            return
        }
        for directory in options.testData {
            var sets: [URL] = [directory]
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            let nested = names.filter { $0.hasPrefix("test_data_set_") }.sorted()
            if !nested.isEmpty { sets = nested.map { directory.appendingPathComponent($0) } }
            for set in sets {
                let name = set.path
                guard FileManager.default.fileExists(atPath: set.appendingPathComponent("input_0.pb").path)
                        || FileManager.default.fileExists(atPath: set.appendingPathComponent("output_0.pb").path) else {
                    report.testResults.append((name, "no input_*.pb / output_*.pb files (not an ONNX test-data directory)"))
                    report.findings.append(ValidationFinding(.error, "test-data", "no input_*.pb / output_*.pb files (not an ONNX test-data directory)", subject: name))
                    continue
                }
                do {
                    let failure = try TestCaseRunner.check(dataSet: set, session: session, tolerance: options.tolerance)
                    report.testResults.append((name, failure))
                    if let failure { report.findings.append(ValidationFinding(.error, "test-data", failure, subject: name)) }
                } catch {
                    report.testResults.append((name, "\(error)"))
                    report.findings.append(ValidationFinding(.error, "test-data", "\(error)", subject: name))
                }
            }
        }
    }
}
