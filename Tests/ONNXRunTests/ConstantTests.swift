import Testing
@testable import ONNXRun

@Suite struct ConstantTests {
    @Test func valueTensor() throws {
        let v = int64Tensor([2, 2], [1, 2, 3, 4])
        let y = try runNode("Constant", opset: 1, inputs: [], attributes: ["value": .tensor(v)])[0]
        #expect(y.shape == [2, 2])
        #expect(int64Values(y) == [1, 2, 3, 4])
    }

    @Test func scalarAndListAttributes() throws {
        let f = try runNode("Constant", opset: 12, inputs: [], attributes: ["value_float": .float(2.5)])[0]
        #expect(f.shape == [] && f.dataType == .float)
        #expect(try f.scalars(as: Float.self) == [2.5])
        let fs = try runNode("Constant", opset: 13, inputs: [], attributes: ["value_floats": .floats([1, 2])])[0]
        #expect(fs.shape == [2])
        #expect(try fs.scalars(as: Float.self) == [1, 2])
        let i = try runNode("Constant", inputs: [], attributes: ["value_int": .int(-7)])[0]
        #expect(i.shape == [])
        #expect(int64Values(i) == [-7])
        let iz = try runNode("Constant", inputs: [], attributes: ["value_ints": .ints([3, 4, 5])])[0]
        #expect(iz.shape == [3])
        #expect(int64Values(iz) == [3, 4, 5])
        let s = try runNode("Constant", inputs: [], attributes: ["value_string": .string("hi")])[0]
        #expect(s.shape == [] && s.strings == ["hi"])
        let ss = try runNode("Constant", inputs: [], attributes: ["value_strings": .strings(["a", "b"])])[0]
        #expect(ss.shape == [2] && ss.strings == ["a", "b"])
        // The loader densifies sparse_value into a tensor.
        let sparse = try runNode("Constant", opset: 11, inputs: [], attributes: ["sparse_value": .tensor(floatTensor([3], [0, 5, 0]))])[0]
        #expect(try sparse.scalars(as: Float.self) == [0, 5, 0])
    }

    @Test func attributeErrors() throws {
        expectError(.invalidAttribute, containing: "none") { _ = try runNode("Constant", inputs: []) }
        expectError(.invalidAttribute) {
            _ = try runNode("Constant", inputs: [], attributes: ["value_int": .int(1), "value_float": .float(1)])
        }
        // value_* appeared in opset 12.
        expectError(.invalidAttribute, containing: "opset 12") {
            _ = try runNode("Constant", opset: 11, inputs: [], attributes: ["value_int": .int(1)])
        }
    }

    @Test func constantOfShapeDefaultsToFloatZero() throws {
        let y = try runNode("ConstantOfShape", opset: 9, inputs: [int64Vector([2, 3])])[0]
        #expect(y.dataType == .float && y.shape == [2, 3])
        #expect(try y.scalars(as: Float.self) == Array(repeating: 0, count: 6))
    }

    @Test(arguments: [DataType.int64, .int32, .float16, .double, .uint8, .bool])
    func constantOfShapeFillsValue(type: DataType) throws {
        let value = try Conversion.cast(floatTensor([1], [1]), to: type)
        let y = try runNode("ConstantOfShape", inputs: [int64Vector([3, 5])], attributes: ["value": .tensor(value)])[0]
        #expect(y.dataType == type && y.shape == [3, 5])
        #expect(try Conversion.floats(y) == Array(repeating: 1, count: 15))
    }

    @Test func constantOfShapeScalarEmptyAndErrors() throws {
        let v = int64Tensor([1], [9])
        let scalar = try runNode("ConstantOfShape", inputs: [int64Vector([])], attributes: ["value": .tensor(v)])[0]
        #expect(scalar.shape == [] && int64Values(scalar) == [9])
        let empty = try runNode("ConstantOfShape", inputs: [int64Vector([2, 0])], attributes: ["value": .tensor(v)])[0]
        #expect(empty.shape == [2, 0] && empty.count == 0)
        let s = try runNode("ConstantOfShape", inputs: [int64Vector([2])], attributes: ["value": .tensor(stringTensor([1], ["z"]))])[0]
        #expect(s.strings == ["z", "z"])
        expectError(.invalidInput) { _ = try runNode("ConstantOfShape", inputs: [int64Vector([2, -1])]) }
        expectError(.invalidAttribute) {
            _ = try runNode("ConstantOfShape", inputs: [int64Vector([2])], attributes: ["value": .tensor(int64Vector([1, 2]))])
        }
    }
}
