import Foundation
import ONNXRun

let session = try InferenceSession(contentsOf: URL(fileURLWithPath: "Fixtures/digits.onnx"))
let pixels = [Float](repeating: 0, count: 64)
let image = try Tensor(shape: [1, 8, 8], scalars: pixels)
let outputs = try session.run(["image": image])
let digit = try outputs["digit"]!.scalars(as: Int64.self)[0]
print("digit:", digit)
