import ArgumentParser
import ONNXRun

@main
struct OnnxRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "onnx-run", abstract: "Run ONNX models on the CPU.")
    func run() throws {}
}
