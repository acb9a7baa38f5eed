import ArgumentParser
import Foundation
import ONNXRun

/// `onnx-run optimize MODEL -o OUT`: writes the optimized graph as an ONNX model.
struct OptimizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimize",
        abstract: "Write the optimized graph of a model as a new .onnx file.",
        discussion: """
            Fused operators use this project's domain com.onnx-run; --portable rewrites them into \
            standard ONNX operators so other runtimes can load the result. The operator histogram \
            before and after goes to standard error.
            """)

    @Argument(help: "The .onnx model file.")
    var model: String

    @Option(name: [.customShort("o"), .long], help: "Where to write the optimized model.")
    var output: String

    @Option(name: .customLong("opt-level"), help: "Optimization level (0, 1 or 2).")
    var optimizationLevel: Int = 2

    @Flag(help: "Emit only standard ONNX operators.")
    var portable = false

    func validate() throws {
        guard (0...2).contains(optimizationLevel) else { throw ValidationError("--opt-level must be 0, 1 or 2") }
    }

    func run() throws {
        let loaded = try ModelLoader.load(contentsOf: URL(fileURLWithPath: model))
        var optimized = try Optimizer.optimize(loaded, level: optimizationLevel)
        if portable { optimized = try Optimizer.makePortable(optimized) }
        try ModelWriter.write(Optimizer.normalizedForWriting(optimized), to: URL(fileURLWithPath: output))
        note("\(model): \(loaded.graph.nodes.count) nodes -> \(output): \(optimized.graph.nodes.count) nodes")
    }
}
