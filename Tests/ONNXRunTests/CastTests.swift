import Testing
@testable import ONNXRun

@Suite struct CastTests {
    @Test func toInt64TruncatesTowardZero() throws {
        let y = try runNode("Cast", inputs: [floatTensor([4], [1.7, -1.7, 0, 300])], attributes: ["to": .int(Int(DataType.int64.rawValue))])[0]
        #expect(int64Values(y) == [1, -1, 0, 300])
    }

    @Test func opset1TakesATypeName() throws {
        let y = try runNode("Cast", opset: 1, inputs: [int64Tensor([3], [0, 2, -5])], attributes: ["to": .string("FLOAT")])[0]
        expectClose(y, floatTensor([3], [0, 2, -5]))
        let b = try runNode("Cast", opset: 1, inputs: [int64Tensor([3], [0, 2, -5])], attributes: ["to": .string("BOOL")])[0]
        #expect(try b.scalars(as: Bool.self) == [false, true, true])
        expectError(.invalidAttribute) { _ = try runNode("Cast", opset: 1, inputs: [floatIota([1])], attributes: ["to": .string("QUATERNION")]) }
    }

    @Test(arguments: [DataType.float16, .double, .int32, .uint8, .int8, .bfloat16])
    func roundTripsSmallIntegers(type: DataType) throws {
        let x = floatTensor([2, 2], [0, 1, 2, 100])
        let y = try runNode("Cast", opset: 19, inputs: [x], attributes: ["to": .int(Int(type.rawValue))])[0]
        #expect(y.dataType == type && y.shape == [2, 2])
        let back = try runNode("Cast", inputs: [y], attributes: ["to": .int(1)])[0]
        expectClose(back, x)
    }

    @Test func errors() throws {
        expectError(.invalidAttribute) { _ = try runNode("Cast", inputs: [floatIota([1])], attributes: ["to": .int(99)]) }
        expectError(.invalidAttribute) { _ = try runNode("Cast", inputs: [floatIota([1])]) }
        expectError(.unsupportedType) { _ = try runNode("Cast", inputs: [stringTensor([1], ["1"])], attributes: ["to": .int(1)]) }
    }
}
