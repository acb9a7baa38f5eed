import ArgumentParser
import Foundation
import ONNXRun

/// `onnx-run validate MODEL...`: the CI gate. Checks structure, schemas, types and shapes,
/// operator support, and optionally test data; exits 0 (valid), 1 (invalid) or 2 (usage/I/O).
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check models for CI: structure, operator schemas, types and shapes, operator support, test data.",
        discussion: """
            Every finding has a severity (error, warning, info), the check that produced it, the node or \
            value it concerns, and a message. Errors make a model invalid; with --strict, warnings do too \
            (for example a shape contradiction found by inference). Exit status: 0 when every model is \
            valid, 1 when one is not, 2 on a usage or I/O error (a missing model file). \
            The json and junit formats are described in docs/validate.md.
            """)

    @Argument(help: "The .onnx model files to check.")
    var models: [String]

    @Option(name: .customLong("test-data"), parsing: .upToNextOption,
            help: "ONNX test-data directories (test_data_set_N with input_K.pb/output_K.pb, or a folder of them) to run and compare.")
    var testData: [String] = []

    @Option(name: .customLong("opset-limit"), help: "Fail models that import an ai.onnx opset above N.")
    var opsetLimit: Int?

    @Option(name: .long, help: "Report format: text, json or junit.")
    var format: Format = .text

    @Flag(name: .long, help: "Treat warnings (shape inference contradictions) as failures.")
    var strict = false

    @Option(help: "Relative tolerance when comparing test-data outputs.")
    var rtol: Double = 1e-3

    @Option(help: "Absolute tolerance when comparing test-data outputs.")
    var atol: Double = 1e-7

    @Flag(name: .shortAndLong, help: "Text format: print only invalid models and their findings.")
    var quiet = false

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, junit }

    func validate() throws {
        if let opsetLimit, opsetLimit < 1 { throw ValidationError("--opset-limit must be at least 1") }
        if !testData.isEmpty && models.count > 1 { throw ValidationError("--test-data needs exactly one model") }
    }

    func run() throws {
        let options = ModelValidator.Options(
            strict: strict, opsetLimit: opsetLimit, testData: testData.map { URL(fileURLWithPath: $0) },
            tolerance: .init(rtol: rtol, atol: atol))
        for path in testData where !FileManager.default.fileExists(atPath: path) {
            throw ONNXRunError(.io, "no such test-data directory", subject: path)
        }
        var reports: [ValidationReport] = []
        for (index, path) in models.enumerated() {
            if models.count > 50 && index % 200 == 0 && index > 0 { note("[\(index)/\(models.count)] validating") }
            reports.append(try ModelValidator.validate(contentsOf: URL(fileURLWithPath: path), options: options))
        }
        switch format {
        case .text: printText(reports)
        case .json: print(ValidationOutput.json(reports))
        case .junit: print(ValidationOutput.junit(reports))
        }
        let invalid = reports.filter { !$0.isValid }.count
        if invalid > 0 { throw InvalidModels(count: invalid) }
    }

    private func printText(_ reports: [ValidationReport]) {
        for report in reports {
            if quiet && report.isValid { continue }
            let errors = report.findings.filter { $0.severity == .error }.count
            let warnings = report.findings.filter { $0.severity == .warning }.count
            let verdict = report.isValid ? "VALID" : "INVALID"
            var counts = "\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")"
            if !report.testResults.isEmpty {
                counts += ", test data \(report.testResults.filter { $0.failure == nil }.count)/\(report.testResults.count) passed"
            }
            print("\(verdict) \(report.model.path) (\(counts))")
            for finding in report.findings { print("  \(finding)") }
        }
        if reports.count > 1 {
            let valid = reports.filter(\.isValid).count
            print("\(valid) valid, \(reports.count - valid) invalid")
        }
    }
}

/// Raised by `validate` when a model is invalid, so the process exits with status 1.
struct InvalidModels: Error {
    let count: Int
}

/// The machine-readable reports of `validate`.
enum ValidationOutput {
    /// A stable JSON document (see docs/validate.md): `{"version": 1, "valid": Bool, "models": [...]}`.
    static func json(_ reports: [ValidationReport]) -> String {
        func finding(_ f: ValidationFinding) -> String {
            "{\"severity\": \"\(f.severity.rawValue)\", \"check\": \(JSONFormat.quote(f.check)), "
                + "\"subject\": \(f.subject.map(JSONFormat.quote) ?? "null"), \"message\": \(JSONFormat.quote(f.message))}"
        }
        let models = reports.map { r -> String in
            let errors = r.findings.filter { $0.severity == .error }.count
            let warnings = r.findings.filter { $0.severity == .warning }.count
            let tests = r.testResults.map { "{\"data_set\": \(JSONFormat.quote($0.name)), \"passed\": \($0.failure == nil), \"failure\": \($0.failure.map(JSONFormat.quote) ?? "null")}" }
            return "{\"model\": \(JSONFormat.quote(r.model.path)), \"valid\": \(r.isValid), \"strict\": \(r.strict), "
                + "\"errors\": \(errors), \"warnings\": \(warnings), "
                + "\"findings\": [\(r.findings.map(finding).joined(separator: ", "))], "
                + "\"test_data\": [\(tests.joined(separator: ", "))]}"
        }
        return "{\"version\": 1, \"valid\": \(reports.allSatisfy(\.isValid)), \"models\": [\(models.joined(separator: ", "))]}"
    }

    /// JUnit XML: one test suite per model, one test case per check, failures carry the findings.
    static func junit(_ reports: [ValidationReport]) -> String {
        let checks = ["load", "model", "graph", "schema", "types", "shapes", "function", "support", "test-data"]
        var suites: [String] = []
        var totalTests = 0, totalFailures = 0
        for r in reports {
            var cases: [String] = []
            var failures = 0
            for check in checks {
                let found = r.findings.filter { $0.check == check }
                let failing = found.filter { $0.severity == .error || (r.strict && $0.severity == .warning) }
                if check == "test-data" && r.testResults.isEmpty && found.isEmpty { continue }
                var body = ""
                if !failing.isEmpty {
                    failures += 1
                    let text = failing.map(\.description).joined(separator: "\n")
                    body = "<failure message=\"\(xml("\(failing.count) finding(s): " + (failing.first?.message ?? "")))\" type=\"\(check)\">\(xml(text))</failure>"
                }
                let notes = found.filter { !failing.contains($0) }
                if !notes.isEmpty { body += "<system-out>\(xml(notes.map(\.description).joined(separator: "\n")))</system-out>" }
                cases.append("    <testcase classname=\"\(xml(r.model.lastPathComponent))\" name=\"\(check)\">\(body)</testcase>")
            }
            totalTests += cases.count
            totalFailures += failures
            suites.append("  <testsuite name=\"\(xml(r.model.path))\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"0\">\n" + cases.joined(separator: "\n") + "\n  </testsuite>")
        }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"onnx-run validate\" tests=\"\(totalTests)\" failures=\"\(totalFailures)\">\n"
            + suites.joined(separator: "\n") + "\n</testsuites>"
    }

    /// Escapes text for XML attributes and content (and drops control characters XML forbids).
    static func xml(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n", "\t", "\r": out.unicodeScalars.append(scalar)
            default: if scalar.value >= 0x20 { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}
