// Classifies the sample digit in Fixtures/ with the embedded default model.
//
//     swift run --package-path Examples ClassifyDigit [path/to/onnx-run]
import Foundation
import ONNXRun

let root = URL(fileURLWithPath: CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "..")
let fixtures = root.appendingPathComponent("Fixtures")

do {
    let session = try InferenceSession(contentsOf: fixtures.appendingPathComponent("digits.onnx"))
    for input in session.inputs { print("input  \(input.name): \(input.type?.description ?? "?")") }
    for output in session.outputs { print("output \(output.name): \(output.type?.description ?? "?")") }

    // The sample input is JSON: {"image": [[[8 rows of 8 pixels, 0...16]]]}.
    let json = try Data(contentsOf: fixtures.appendingPathComponent("digit-input.json"))
    let inputs = try JSONFormat.parseInputs(json, inputs: session.inputs)
    let outputs = try session.run(inputs)
    let probabilities = try outputs["probabilities"]!.scalars(as: Float.self)
    let digit = try outputs["digit"]!.scalars(as: Int64.self)[0]
    print("digit \(digit) with probability \(probabilities[Int(digit)])")
} catch let error as ONNXRunError {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
