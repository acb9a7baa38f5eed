import Foundation
import Testing
@testable import ONNXRun

/// Builds a one-node model around `opType` and runs it through a real session.
///
/// Inputs are bound by position to the node's inputs `x0`, `x1`, ... (nil = omitted optional input).
/// `constants` become initializers instead of fed inputs (for kernels that pre-pack weights).
func runNode(
    _ opType: String, domain: String = "", opset: Int = 21,
    inputs: [Tensor?], constants: [Int: Tensor] = [:],
    attributes: [String: Attribute] = [:], outputCount: Int = 1, threads: Int = 1
) throws -> [Tensor] {
    var nodeInputs: [String] = []
    var graphInputs: [ValueInfo] = []
    var initializers: [String: Tensor] = [:]
    var feeds: [String: Tensor] = [:]
    for (i, input) in inputs.enumerated() {
        guard let input else {
            nodeInputs.append("")
            continue
        }
        let name = "x\(i)"
        nodeInputs.append(name)
        if let constant = constants[i] {
            initializers[name] = constant
        } else {
            graphInputs.append(ValueInfo(name: name, type: .tensor(elementType: input.dataType, shape: nil)))
            feeds[name] = input
        }
    }
    for (i, constant) in constants where i >= inputs.count || inputs[i] == nil {
        Issue.record("constant \(i) needs a placeholder input")
        _ = constant
    }
    let outputs = (0..<outputCount).map { "y\($0)" }
    let node = Node(name: "node", opType: opType, domain: domain, inputs: nodeInputs, outputs: outputs, attributes: attributes)
    let graph = Graph(
        name: "test", nodes: [node], inputs: graphInputs,
        outputs: outputs.map { ValueInfo(name: $0, type: nil) }, initializers: initializers)
    var opsets = ["": opset]
    opsets[domain] = opset
    let model = Model(opsetImports: opsets, graph: graph)
    let session = try InferenceSession(model: model, options: .init(threads: threads))
    let result = try session.run(feeds)
    return outputs.map { result[$0]! }
}

/// A float tensor from a shape and values.
func floatTensor(_ shape: [Int], _ values: [Float]) -> Tensor {
    try! Tensor(shape: shape, scalars: values)
}

/// Expects `actual` to equal `expected` in shape and, elementwise, within `rtol`/`atol`.
func expectClose(
    _ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-4, atol: Float = 1e-5,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.shape == expected.shape, "shape", sourceLocation: sourceLocation)
    #expect(actual.dataType == expected.dataType, "dtype", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape, let a = try? Conversion.floats(actual), let e = try? Conversion.floats(expected) else { return }
    var mismatches = 0
    for i in 0..<a.count where !(abs(a[i] - e[i]) <= atol + rtol * abs(e[i]) || (a[i].isNaN && e[i].isNaN) || a[i] == e[i]) {
        if mismatches < 5 { Issue.record("element \(i): got \(a[i]), expected \(e[i])", sourceLocation: sourceLocation) }
        mismatches += 1
    }
    #expect(mismatches == 0, "\(mismatches) of \(a.count) elements differ", sourceLocation: sourceLocation)
}
