import Foundation
import Testing
@testable import ONNXRun

@Suite struct JSONFormatTests {
    let inputs = [
        ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [.symbolic("n"), .known(2)])),
        ValueInfo(name: "ids", type: .tensor(elementType: .int64, shape: nil)),
    ]

    @Test func plainNestedArraysTakeTypeFromModel() throws {
        let parsed = try JSONFormat.parseInputs(Data(#"{"x": [[1, 2.5], [3, 4]], "ids": [7, 8, 9]}"#.utf8), inputs: inputs)
        #expect(parsed["x"]?.shape == [2, 2])
        #expect(try parsed["x"]?.scalars(as: Float.self) == [1, 2.5, 3, 4])
        #expect(try parsed["ids"]?.scalars(as: Int64.self) == [7, 8, 9])
    }

    @Test func typedObjectWithFlatData() throws {
        let parsed = try JSONFormat.parseInputs(Data(#"{"x": {"shape": [1, 2], "datatype": "FP32", "data": [5, "NaN"]}}"#.utf8), inputs: inputs)
        let values = try parsed["x"]!.scalars(as: Float.self)
        #expect(parsed["x"]?.shape == [1, 2])
        #expect(values[0] == 5 && values[1].isNaN)
    }

    @Test func openInferenceProtocolRequest() throws {
        let body = #"{"inputs": [{"name": "ids", "shape": [2], "datatype": "INT64", "data": [1, 2]}]}"#
        let parsed = try JSONFormat.parseInputs(Data(body.utf8), inputs: inputs)
        #expect(try parsed["ids"]?.scalars(as: Int64.self) == [1, 2])
    }

    @Test(arguments: [
        (#"{"x": [[1, 2], [3]]}"#, "ragged"),
        (#"{"x": {"shape": [3], "data": [1, 2]}}"#, "holds 3 elements"),
        (#"{"ids": [1.5]}"#, "not a valid int64"),
        (#"[1, 2]"#, "must be an object"),
        (#"{"x": [1, "#, "not valid JSON"),
    ])
    func badInputsExplainThemselves(document: String, fragment: String) throws {
        let error = #expect(throws: ONNXRunError.self) { try JSONFormat.parseInputs(Data(document.utf8), inputs: inputs) }
        #expect(error?.description.contains(fragment) == true, "\(error?.description ?? "")")
    }

    @Test func outputStyles() throws {
        let t = floatTensor([2, 2], [1, 2, 3, .infinity])
        let typed = try JSONFormat.encodeOutputs([("y", .tensor(t))], style: .typed)
        #expect(typed.contains(#""y": {"datatype": "FP32", "shape": [2, 2], "data": [1.0, 2.0, 3.0, "Infinity"]}"#))
        let nested = try JSONFormat.encodeOutputs([("y", .tensor(t))], style: .nested)
        #expect(nested.contains(#""y": [[1.0, 2.0], [3.0, "Infinity"]]"#))
        let oip = try JSONFormat.encodeOutputs([("y", .tensor(t))], style: .oip)
        #expect(oip.contains(#"{"name": "y", "datatype": "FP32""#))
        // Every style must be valid JSON.
        for text in [typed, nested, oip] { _ = try JSONSerialization.jsonObject(with: Data(text.utf8)) }
    }
}

@Suite struct BinaryFormatTests {
    @Test func npyRoundTrip() throws {
        let t = try Tensor(shape: [2, 3], scalars: [Int32(1), 2, 3, 4, 5, -6])
        let decoded = try NPYFormat.decode(try NPYFormat.encode(t))
        #expect(decoded.shape == [2, 3])
        #expect(try decoded.scalars(as: Int32.self) == [1, 2, 3, 4, 5, -6])
    }

    @Test func npyRejectsGarbage() {
        #expect(throws: ONNXRunError.self) { try NPYFormat.decode(Data([1, 2, 3])) }
    }

    @Test func tensorProtoRoundTrip() throws {
        let t = floatTensor([3], [1.5, -2, 0])
        let bytes = try TestDataProto.encode(.tensor(t), name: "t")
        let (name, value) = try TestDataProto.decode(bytes, as: .tensor)
        #expect(name == "t")
        #expect(try value.tensor?.scalars(as: Float.self) == [1.5, -2, 0])
    }

    @Test func sequenceAndOptionalRoundTrip() throws {
        let seq = Value.sequence([.tensor(floatTensor([1], [1])), .tensor(try Tensor(shape: [2], strings: ["a", "b"]))])
        let decoded = try TestDataProto.decode(try TestDataProto.encode(seq, name: "s"), as: .sequence).value
        #expect(TestCaseRunner.compare(decoded, seq, tolerance: .init()) == nil)
        let none = Value.optional(nil)
        let decodedNone = try TestDataProto.decode(try TestDataProto.encode(none, name: "o"), as: .optional).value
        #expect(TestCaseRunner.compare(decodedNone, none, tolerance: .init()) == nil)
        #expect(TestCaseRunner.compare(decodedNone, .optional(.tensor(floatTensor([1], [0]))), tolerance: .init()) != nil)
    }

    @Test func comparisonFollowsBackendTolerance() {
        let e = floatTensor([2], [1, 100])
        #expect(TestCaseRunner.compare(floatTensor([2], [1.0005, 100.09]), e, tolerance: .init()) == nil)
        #expect(TestCaseRunner.compare(floatTensor([2], [1.002, 100]), e, tolerance: .init()) != nil)
        #expect(TestCaseRunner.compare(floatTensor([1, 2], [1, 100]), e, tolerance: .init())?.contains("shape") == true)
    }
}

@Suite struct DataTypeTests {
    @Test func namesRoundTrip() {
        for type in DataType.allCases {
            #expect(DataType(name: type.description) == type)
            #expect(DataType(name: "tensor(\(type.description))") == type)
        }
        #expect(DataType(name: "FP32") == .float)
        #expect(DataType(name: "INT64") == .int64)
        #expect(DataType(name: "nonsense") == nil)
    }
}
