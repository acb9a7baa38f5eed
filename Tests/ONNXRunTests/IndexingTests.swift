import Testing
@testable import ONNXRun

@Suite struct IndexingTests {
    @Test(arguments: [
        ("constant", [Float(0), 1, 2, 3, 0]), ("edge", [1, 1, 2, 3, 3]), ("reflect", [2, 1, 2, 3, 2]), ("wrap", [3, 1, 2, 3, 1]),
    ])
    func padModes(mode: String, expected: [Float]) throws {
        let pads = try Tensor(shape: [2], scalars: [Int64(1), 1])
        let y = try runNode("Pad", opset: 19, inputs: [floatTensor([3], [1, 2, 3]), pads], attributes: ["mode": .string(mode)])[0]
        #expect(try y.scalars(as: Float.self) == expected)
    }

    @Test func gatherElementsAndOutOfRangeIndex() throws {
        let data = floatTensor([2, 2], [1, 2, 3, 4])
        let y = try runNode("GatherElements", inputs: [data, try Tensor(shape: [2, 2], scalars: [Int64(0), 0, 1, -2])], attributes: ["axis": .int(1)])[0]
        #expect(try y.scalars(as: Float.self) == [1, 1, 4, 3])
        let error = #expect(throws: ONNXRunError.self) {
            try runNode("GatherElements", inputs: [data, try Tensor(shape: [2, 2], scalars: [Int64(0), 5, 0, 0])], attributes: ["axis": .int(1)])
        }
        #expect(error?.code == .outOfRange)
        #expect(error?.message.contains("index 5") == true)
    }

    @Test func scatterNDAddsDuplicates() throws {
        let data = floatTensor([4], [0, 0, 0, 0])
        let indices = try Tensor(shape: [3, 1], scalars: [Int64(1), 1, 3])
        let y = try runNode("ScatterND", inputs: [data, indices, floatTensor([3], [1, 2, 5])], attributes: ["reduction": .string("add")])[0]
        #expect(try y.scalars(as: Float.self) == [0, 3, 0, 5])
    }

    @Test func depthToSpaceRoundTrips() throws {
        let x = floatTensor([1, 4, 1, 1], [1, 2, 3, 4])
        let space = try runNode("DepthToSpace", inputs: [x], attributes: ["blocksize": .int(2)])[0]
        #expect(space.shape == [1, 1, 2, 2])
        let back = try runNode("SpaceToDepth", inputs: [space], attributes: ["blocksize": .int(2)])[0]
        #expect(try back.scalars(as: Float.self) == [1, 2, 3, 4])
    }
}
