import Foundation
import Testing
@testable import ONNXRun

/// One entry of Fixtures/broken/manifest.json (written by Tools/make_broken_models.py).
struct BrokenModel: Decodable, CustomTestStringConvertible, Sendable {
    let file: String
    let defect: String
    let check: String
    let message: String
    let strict: Bool
    var testDescription: String { file }

    static let all: [BrokenModel] = {
        let url = packageRoot.appendingPathComponent("Fixtures/broken/manifest.json")
        guard let data = try? Data(contentsOf: url), let list = try? JSONDecoder().decode([BrokenModel].self, from: data) else { return [] }
        return list
    }()
}

@Suite struct ValidateTests {
    @Test func theBrokenModelSetCoversAtLeast25DistinctDefects() {
        #expect(BrokenModel.all.count >= 25)
        #expect(Set(BrokenModel.all.map(\.defect)).count == BrokenModel.all.count)
        #expect(Set(BrokenModel.all.map(\.check)).count >= 7, "defects span the checks")
    }

    @Test(arguments: BrokenModel.all)
    func flagsEachBrokenModelWithTheRightMessage(_ broken: BrokenModel) throws {
        let url = packageRoot.appendingPathComponent("Fixtures/broken").appendingPathComponent(broken.file)
        let report = try ModelValidator.validate(contentsOf: url, options: .init(strict: broken.strict))
        #expect(!report.isValid, "\(broken.defect) was not flagged")
        let matching = report.findings.filter { $0.check == broken.check && $0.message.contains(broken.message) }
        #expect(!matching.isEmpty, "expected a [\(broken.check)] finding containing '\(broken.message)', got \(report.findings)")
        if broken.strict {
            // Without --strict a shape contradiction is a warning: reported, but the model passes.
            let lenient = try ModelValidator.validate(contentsOf: url)
            #expect(lenient.isValid)
            #expect(lenient.findings.contains { $0.severity == .warning && $0.check == broken.check })
        }
    }

    @Test func theDefaultModelIsValidWithoutFindings() throws {
        let report = try ModelValidator.validate(contentsOf: packageRoot.appendingPathComponent("Fixtures/digits.onnx"), options: .init(strict: true))
        #expect(report.isValid)
        #expect(report.findings.isEmpty, "\(report.findings)")
    }

    @Test func aMissingModelFileIsAnIOErrorNotAFinding() {
        #expect(throws: ONNXRunError.self) {
            _ = try ModelValidator.validate(contentsOf: packageRoot.appendingPathComponent("Fixtures/none.onnx"))
        }
    }

    @Test func opsetLimitRejectsNewerModels() throws {
        let url = packageRoot.appendingPathComponent("Fixtures/digits.onnx")
        let opset = try ModelLoader.load(contentsOf: url).opsetImports[""] ?? 0
        let report = try ModelValidator.validate(contentsOf: url, options: .init(opsetLimit: opset - 1))
        #expect(!report.isValid)
        #expect(report.findings.contains { $0.message.contains("above the limit \(opset - 1)") })
        #expect(try ModelValidator.validate(contentsOf: url, options: .init(opsetLimit: opset)).isValid)
    }

    @Test func testDataThatMatchesPassesAndDataThatDoesNotFails() throws {
        // A data set with the default model's sample input and an all-zero expected output must fail.
        let model = packageRoot.appendingPathComponent("Fixtures/digits.onnx")
        let session = try InferenceSession(contentsOf: model)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("validate-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let inputs = try JSONFormat.parseInputs(Data(contentsOf: packageRoot.appendingPathComponent("Fixtures/digit-input.json")), inputs: session.inputs)
        let name = session.inputs[0].name
        try TestDataProto.write(.tensor(inputs[name]!), name: name, to: directory.appendingPathComponent("input_0.pb"))
        // A wrong expected output: all zeros in the first output's type and shape.
        let outputs = try session.run(inputs)
        let first = session.outputs[0].name
        let real = outputs[first]!
        let zeros = try Conversion.cast(Tensor(zeros: .float, shape: real.shape), to: real.dataType)
        try TestDataProto.write(.tensor(zeros), name: first, to: directory.appendingPathComponent("output_0.pb"))
        let failing = try ModelValidator.validate(contentsOf: model, options: .init(testData: [directory]))
        #expect(!failing.isValid)
        #expect(failing.testResults.count == 1 && failing.testResults[0].failure != nil)
    }
}

@Suite struct ValidateCommandTests {
    @Test func exitCodesAreZeroForValidOneForInvalidTwoForIOErrors() throws {
        #expect(try CommandLineTests.run(["validate", "Fixtures/digits.onnx"]).status == 0)
        let invalid = try CommandLineTests.run(["validate", "Fixtures/broken/01-dangling_input.onnx"])
        #expect(invalid.status == 1)
        #expect(invalid.stdout.contains("dangling edge"))
        #expect(try CommandLineTests.run(["validate", "Fixtures/no-such.onnx"]).status == 2)
        #expect(try CommandLineTests.run(["validate", "--format", "yaml", "Fixtures/digits.onnx"]).status == 2)
    }

    @Test func jsonReportIsStableAndParses() throws {
        let result = try CommandLineTests.run(["validate", "--format", "json", "Fixtures/digits.onnx", "Fixtures/broken/04-missing_required_attribute.onnx"])
        #expect(result.status == 1)
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(json?["version"] as? Int == 1)
        #expect(json?["valid"] as? Bool == false)
        let models = json?["models"] as? [[String: Any]] ?? []
        #expect(models.count == 2)
        #expect(models.first?["valid"] as? Bool == true)
        let finding = (models.last?["findings"] as? [[String: Any]])?.first
        #expect(finding?["severity"] as? String == "error")
        #expect(finding?["check"] as? String == "schema")
        #expect(finding?["subject"] as? String == "Cast node \"cast\"")
        #expect((finding?["message"] as? String)?.contains("'to'") == true)
    }

    @Test func junitReportHasOneFailureForTheBrokenCheck() throws {
        let result = try CommandLineTests.run(["validate", "--format", "junit", "Fixtures/broken/02-wrong_attribute_type.onnx"])
        #expect(result.status == 1)
        #expect(result.stdout.hasPrefix("<?xml"))
        #expect(result.stdout.contains("<testcase classname=\"02-wrong_attribute_type.onnx\" name=\"schema\"><failure"))
        #expect(result.stdout.components(separatedBy: "<failure").count - 1 == 1)
        #expect(result.stdout.contains("failures=\"1\""))
    }

    @Test func strictTurnsShapeWarningsIntoFailures() throws {
        let file = "Fixtures/broken/" + (BrokenModel.all.first { $0.strict }?.file ?? "")
        #expect(try CommandLineTests.run(["validate", file]).status == 0)
        #expect(try CommandLineTests.run(["validate", "--strict", file]).status == 1)
    }
}
