import ArgumentParser
import Foundation
import ONNXRun

/// `onnx-run test DIR...`: runs ONNX backend test-case directories.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run ONNX test-case directories (model.onnx + test_data_set_N) and compare outputs.",
        discussion: """
            Each DIR is a test case, or a folder of test cases. Prints 'PASS name' or 'FAIL name: reason' \
            per case and a closing 'N passed, M failed'. Exits 1 when a case fails outside \
            --expected-failures.
            """)

    @Argument(help: "Test-case directories, or directories containing them.")
    var directories: [String]

    @Option(help: "Relative tolerance for floating-point outputs.")
    var rtol: Double = 1e-3

    @Option(help: "Absolute tolerance for floating-point outputs.")
    var atol: Double = 1e-7

    @Option(name: .customLong("expected-failures"), help: "A file listing cases expected to fail, one 'name: reason' per line; they do not fail the run.")
    var expectedFailures: String?

    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        var cases: [URL] = []
        let fm = FileManager.default
        for path in directories {
            let url = URL(fileURLWithPath: path)
            if fm.fileExists(atPath: url.appendingPathComponent("model.onnx").path) {
                cases.append(url)
            } else if let children = try? fm.contentsOfDirectory(atPath: path) {
                for child in children.sorted() where fm.fileExists(atPath: url.appendingPathComponent(child).appendingPathComponent("model.onnx").path) {
                    cases.append(url.appendingPathComponent(child))
                }
            } else {
                throw ONNXRunError(.io, "no such directory", subject: path)
            }
        }
        var expected: [String: String] = [:]
        if let expectedFailures {
            guard let text = try? String(contentsOfFile: expectedFailures, encoding: .utf8) else {
                throw ONNXRunError(.io, "cannot read the expected-failure list", subject: expectedFailures)
            }
            for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.trimmingCharacters(in: .whitespaces).isEmpty {
                let parts = line.split(separator: ":", maxSplits: 1)
                expected[parts[0].trimmingCharacters(in: .whitespaces)] = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            }
        }
        let options = runtime.sessionOptions
        let tolerance = TestCaseRunner.Tolerance(rtol: rtol, atol: atol)
        var passed = 0, failed = 0, unexpected = 0
        var nowPassing: [String] = []
        for (index, url) in cases.enumerated() {
            if cases.count > 20 && index % 100 == 0 { note("[\(index)/\(cases.count)] running \(url.lastPathComponent)") }
            let outcome = TestCaseRunner.run(caseDirectory: url, tolerance: tolerance, threads: options.threads, optimizationLevel: options.optimizationLevel)
            if let failure = outcome.failure {
                failed += 1
                let isExpected = expected[outcome.name] != nil
                if !isExpected { unexpected += 1 }
                print("FAIL \(outcome.name): \(failure.replacingOccurrences(of: "\n", with: " "))\(isExpected ? " (expected)" : "")")
            } else {
                passed += 1
                if expected[outcome.name] != nil { nowPassing.append(outcome.name) }
                print("PASS \(outcome.name)" + (outcome.note.map { " (\($0))" } ?? ""))
            }
        }
        for name in nowPassing { note("note: \(name) is on the expected-failure list but passes; remove it from the list") }
        print("\(passed) passed, \(failed) failed")
        if unexpected > 0 { throw TestFailures(count: unexpected) }
    }
}
