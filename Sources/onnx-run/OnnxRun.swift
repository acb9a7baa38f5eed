import ArgumentParser
import Foundation
import ONNXRun

/// The `onnx-run` command: runs ONNX models on the CPU.
///
/// Exit codes: 0 success; 1 the model or an input is wrong (or a test failed); 2 usage or I/O error.
@main
struct OnnxRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onnx-run",
        abstract: "Run ONNX models on the CPU.",
        discussion: """
            Exit status: 0 on success, 1 when the model or an input is wrong (or a test case fails), \
            2 on a usage or I/O error.
            """,
        subcommands: [RunCommand.self, ValidateCommand.self, TestCommand.self, InfoCommand.self, OptimizeCommand.self, BenchCommand.self],
        defaultSubcommand: RunCommand.self)

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as ONNXRunError {
            FileHandle.standardError.write(Data("onnx-run: error: \(error)\n".utf8))
            Foundation.exit(error.code == .io ? 2 : 1)
        } catch is InvalidModels {
            Foundation.exit(1)
        } catch let failure as TestFailures {
            FileHandle.standardError.write(Data("onnx-run: \(failure.count) test case(s) failed\n".utf8))
            Foundation.exit(1)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
    }
}

/// Options shared by commands that run models.
struct RuntimeOptions: ParsableArguments {
    @Option(name: .long, help: "Threads for kernels and OpenBLAS (default: all cores).")
    var threads: Int?

    @Option(name: .customLong("opt-level"), help: "Graph optimization level: 0 runs the graph as loaded, 2 applies every pass.")
    var optimizationLevel: Int = 2

    @Option(name: .customLong("memory-limit"), help: "Most tensor memory one run may hold, e.g. 512M or 2G (bytes without a suffix); a run that needs more fails.")
    var memoryLimit: MemorySize?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard (0...2).contains(optimizationLevel) else { throw ValidationError("--opt-level must be 0, 1 or 2") }
    }

    var sessionOptions: InferenceSession.Options {
        var options = InferenceSession.Options(optimizationLevel: optimizationLevel)
        if let threads { options.threads = threads }
        options.memoryLimit = memoryLimit?.bytes
        return options
    }
}

/// Raised by `test` when some cases failed, so the process exits with status 1.
struct TestFailures: Error {
    let count: Int
}

/// Writes a line to standard error (progress and diagnostics never go to stdout).
func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// A byte count written as `1048576`, `512K`, `64M` or `2G` (binary units).
struct MemorySize: ExpressibleByArgument {
    let bytes: Int

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).uppercased().replacingOccurrences(of: "IB", with: "").replacingOccurrences(of: "B", with: "")
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(text), scale = 1
        if let last = text.last, let unit = units[last] { digits = text.dropLast(); scale = unit }
        guard let value = Double(digits), value > 0, value * Double(scale) < Double(Int.max) else { return nil }
        bytes = Int(value * Double(scale))
    }
}
