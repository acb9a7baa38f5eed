import ArgumentParser
import Foundation
import ONNXRun

/// `onnx-run info MODEL`: describes a model and what the optimizer makes of it.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show a model's metadata, inputs and outputs, parameters and operator histogram.",
        discussion: "The histogram is shown as loaded and after optimization at --opt-level (default 2), so folding and fusion are visible.")

    @Argument(help: "The .onnx model file.")
    var model: String

    @Option(name: .customLong("opt-level"), help: "Optimization level for the 'optimized' histogram (0, 1 or 2).")
    var optimizationLevel: Int = 2

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(name: .long, parsing: .unconditionalSingleValue,
            help: "Bind an input's shape for the FLOP estimate, e.g. --shape input_ids=1,128 (repeatable). Symbolic dims default to 1.")
    var shape: [String] = []

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

    func run() throws {
        let loaded = try ModelLoader.load(contentsOf: URL(fileURLWithPath: model))
        let optimized = try Optimizer.optimize(loaded, level: optimizationLevel)
        let graph = loaded.graph
        let flops = FlopEstimate.estimate(loaded, inputShapes: try inputShapes(graph))
        let types = ShapeInference.infer(loaded)
        func typeText(_ info: ValueInfo) -> String { (info.type ?? types.types[info.name])?.description ?? "?" }
        let parameters = graph.initializers.values.reduce(0) { $0 + $1.count }
        let parameterBytes = graph.initializers.values.reduce(0) { $0 + $1.byteCount }
        let before = histogram(loaded.graph), after = histogram(optimized.graph)

        if format == .json {
            func values(_ infos: [ValueInfo]) -> String {
                "[" + infos.map { "{\"name\": \(JSONFormat.quote($0.name)), \"type\": \(JSONFormat.quote(typeText($0)))}" }.joined(separator: ", ") + "]"
            }
            func ops(_ h: [(String, Int)]) -> String { "{" + h.map { "\(JSONFormat.quote($0.0)): \($0.1)" }.joined(separator: ", ") + "}" }
            let opsets = loaded.opsetImports.sorted { $0.key < $1.key }.map { "\(JSONFormat.quote($0.key.isEmpty ? "ai.onnx" : $0.key)): \($0.value)" }
            print("""
                {"producer": \(JSONFormat.quote(loaded.producerName + (loaded.producerVersion.isEmpty ? "" : " " + loaded.producerVersion))), \
                "ir_version": \(loaded.irVersion), "opsets": {\(opsets.joined(separator: ", "))}, \
                "inputs": \(values(graph.feedInputs)), "outputs": \(values(graph.outputs)), \
                "parameters": \(parameters), "parameter_bytes": \(parameterBytes), \
                "nodes": \(graph.nodes.count), "optimized_nodes": \(optimized.graph.nodes.count), \
                "ops": \(ops(before)), "optimized_ops": \(ops(after)), \
                "flops": \(flops.total), "flops_uncounted_nodes": \(flops.uncountedNodes), \
                "flops_by_op": \(ops(flops.byOperator.map { ($0.op, $0.flops) }))}
                """)
            return
        }
        print("model       \(model)")
        print("producer    \(loaded.producerName) \(loaded.producerVersion)".trimmingCharacters(in: .whitespaces))
        print("IR version  \(loaded.irVersion)")
        print("opsets      " + loaded.opsetImports.sorted { $0.key < $1.key }.map { "\($0.key.isEmpty ? "ai.onnx" : $0.key) \($0.value)" }.joined(separator: ", "))
        print("inputs")
        for info in graph.feedInputs { print("  \(info.name): \(typeText(info))") }
        print("outputs")
        for info in graph.outputs { print("  \(info.name): \(typeText(info))") }
        print("parameters  \(parameters) (\(String(format: "%.1f", Double(parameterBytes) / 1_048_576)) MiB) in \(graph.initializers.count) initializers")
        let top = flops.byOperator.prefix(4).map { "\($0.op) \(Self.scaled($0.flops))" }.joined(separator: ", ")
        print("FLOPs       \(Self.scaled(flops.total)) per run" + (top.isEmpty ? "" : " (\(top))")
              + (flops.uncountedNodes > 0 ? "; \(flops.uncountedNodes) nodes of unknown shape not counted" : ""))
        print("operators   \(graph.nodes.count) nodes as loaded, \(optimized.graph.nodes.count) after --opt-level \(optimizationLevel)")
        let names = Set(before.map(\.0)).union(after.map(\.0)).sorted()
        let width = max(8, names.map(\.count).max() ?? 0)
        print("  " + "op".padding(toLength: width, withPad: " ", startingAt: 0) + "  loaded  optimized")
        let b = Dictionary(uniqueKeysWithValues: before), a = Dictionary(uniqueKeysWithValues: after)
        for name in names {
            let left = String(b[name] ?? 0), right = String(a[name] ?? 0)
            print("  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + String(repeating: " ", count: max(0, 6 - left.count)) + left + "  " + String(repeating: " ", count: max(0, 9 - right.count)) + right)
        }
    }

    /// `8.21 G`, `410 M`: operation counts in decimal units.
    static func scaled(_ value: Int) -> String {
        let v = Double(value)
        if v >= 1e9 { return String(format: "%.2f G", v / 1e9) }
        if v >= 1e6 { return String(format: "%.1f M", v / 1e6) }
        if v >= 1e3 { return String(format: "%.1f K", v / 1e3) }
        return "\(value)"
    }

    /// Input shapes for the estimate: --shape values, and declared shapes with symbolic dims set to 1.
    private func inputShapes(_ graph: Graph) throws -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for info in graph.feedInputs {
            if case .tensor(_, let dims?)? = info.type { shapes[info.name] = dims.map { $0.value ?? 1 } }
        }
        for item in shape {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, graph.feedInputs.contains(where: { $0.name == parts[0] }) else {
                throw ValidationError("--shape expects NAME=d0,d1,... with an input of the model, got '\(item)'")
            }
            let dims = parts[1].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard dims.count == parts[1].split(separator: ",").count, dims.allSatisfy({ $0 >= 0 }) else {
                throw ValidationError("--shape \(item): dimensions must be non-negative integers")
            }
            shapes[String(parts[0])] = dims
        }
        return shapes
    }

    private func histogram(_ graph: Graph) -> [(String, Int)] {
        var counts: [String: Int] = [:]
        for node in graph.nodes {
            let key = node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain).\(node.opType)"
            counts[key, default: 0] += 1
        }
        return counts.sorted { $0.key < $1.key }
    }
}
