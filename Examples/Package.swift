// swift-tools-version: 6.2
// Examples that use onnx-run as a package dependency (by path), as any Swift program would.
import PackageDescription

let package = Package(
    name: "onnx-run-examples",
    dependencies: [.package(name: "onnx-run", path: "..")],
    targets: [
        // Classifies a handwritten digit with the embedded default model.
        .executableTarget(name: "ClassifyDigit", dependencies: [.product(name: "ONNXRun", package: "onnx-run")]),
        // The library snippet from the README, verbatim (a test checks they stay identical).
        .executableTarget(name: "ReadmeSnippet", dependencies: [.product(name: "ONNXRun", package: "onnx-run")]),
    ]
)
