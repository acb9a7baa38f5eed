import Foundation
import Testing
@testable import ONNXRun

/// The bad inputs a runtime meets in the field. Each must give a clear `ONNXRunError` naming the
/// input or node (or, for NaN/Inf, compute through); none may trap or hang.
@Suite struct BadInputTests {
    /// y = a + b with both inputs declared `[batch, 3]` float.
    func addSession(memoryLimit: Int? = nil) throws -> InferenceSession {
        let declared = ValueType.tensor(elementType: .float, shape: [.symbolic("batch"), .known(3)])
        let graph = Graph(
            name: "g", nodes: [Node(name: "add", opType: "Add", inputs: ["a", "b"], outputs: ["y"])],
            inputs: [ValueInfo(name: "a", type: declared), ValueInfo(name: "b", type: declared)],
            outputs: [ValueInfo(name: "y", type: nil)])
        return try InferenceSession(model: Model(opsetImports: ["": 17], graph: graph), options: .init(threads: 1, memoryLimit: memoryLimit))
    }

    func floats(_ shape: [Int], _ value: Float = 1) -> Tensor {
        try! Tensor(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    @Test func wrongDtypeNamesTheInputAndBothTypes() throws {
        let error = #expect(throws: ONNXRunError.self) {
            try addSession().run(["a": floats([2, 3]), "b": Tensor(shape: [2, 3], scalars: [Int64](repeating: 1, count: 6))])
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.subject == "input 'b'")
        #expect(error?.message.contains("expected element type float, got int64") == true)
    }

    @Test func wrongRankNamesTheInputAndBothShapes() throws {
        let error = #expect(throws: ONNXRunError.self) { try addSession().run(["a": floats([2, 3]), "b": floats([6])]) }
        #expect(error?.subject == "input 'b'")
        #expect(error?.message.contains("expected rank 2") == true)
    }

    @Test func aSymbolicDimBoundInconsistentlyIsReported() throws {
        let error = #expect(throws: ONNXRunError.self) { try addSession().run(["a": floats([2, 3]), "b": floats([4, 3])]) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains("batch") == true, "\(String(describing: error))")
    }

    @Test func outOfRangeGatherAndScatterIndicesAreErrorsNamingTheNode() throws {
        let data = floats([3, 2])
        let gather = #expect(throws: ONNXRunError.self) {
            try runNode("Gather", inputs: [data, Tensor(shape: [1], scalars: [Int64(7)])])
        }
        #expect(gather?.subject == "Gather node \"node\"")
        #expect(gather?.message.contains("7") == true)
        let scatter = #expect(throws: ONNXRunError.self) {
            try runNode("ScatterElements", inputs: [data, Tensor(shape: [1, 1], scalars: [Int64(-9)]), floats([1, 1])])
        }
        #expect(scatter?.subject == "ScatterElements node \"node\"")
    }

    @Test func nanAndInfinityAreComputedThroughNotRejected() throws {
        let a = try Tensor(shape: [1, 3], scalars: [Float.nan, .infinity, -.infinity])
        let y = try addSession().run(["a": a, "b": floats([1, 3])])["y"]!
        let values = try y.scalars(as: Float.self)
        #expect(values[0].isNaN && values[1] == .infinity && values[2] == -.infinity)
    }

    @Test func aTensorWhoseSizeOverflowsIntIsAnError() {
        #expect(throws: ONNXRunError.self) { try Tensor(zeros: .float, shape: [Int.max / 2, 4]) }
        // A model asking for such a tensor at run time fails the same way.
        let error = #expect(throws: ONNXRunError.self) {
            try runNode("ConstantOfShape", inputs: [Tensor(shape: [3], scalars: [Int64.max / 4, 8, 8])])
        }
        #expect(error?.subject == "ConstantOfShape node \"node\"")
    }

    @Test func exceedingTheMemoryLimitIsAResourceError() throws {
        let big = floats([1024, 3])
        // 12 KiB per tensor: the output does not fit in 8 KiB, and fits in 1 MiB.
        let error = #expect(throws: ONNXRunError.self) { try addSession(memoryLimit: 8 << 10).run(["a": big, "b": big]) }
        #expect(error?.code == .resourceLimit)
        #expect(error?.message.contains("memory limit") == true)
        #expect(try addSession(memoryLimit: 1 << 20).run(["a": big, "b": big])["y"]?.shape == [1024, 3])
    }

    @Test func aMissingExternalDataFileIsNamed() {
        let url = packageRoot.appendingPathComponent("Fixtures/broken/22-external_data_missing.onnx")
        let error = #expect(throws: ONNXRunError.self) { try InferenceSession(contentsOf: url) }
        #expect(error?.message.contains("weights-not-there.bin") == true)
        #expect(error?.message.contains("does not exist") == true)
    }

    @Test func subgraphsNested1000LevelsDeepFailCleanly() {
        var graph: [UInt8] = []
        for _ in 0..<1000 {
            let attribute = Wire.string(1, "body") + Wire.int(20, 5) + Wire.message(6, graph)
            graph = Wire.message(1, Wire.string(4, "If") + Wire.message(5, attribute))
        }
        let error = #expect(throws: ONNXRunError.self) { try InferenceSession(bytes: Wire.int(1, 8) + Wire.message(7, graph)) }
        #expect(error?.code == .invalidModel)
    }
}

@Suite struct ZeroCopyTensorTests {
    @Test func wrappedMemoryIsReadInPlaceAndReleasedOnce() throws {
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 6)
        for i in 0..<6 { buffer[i] = Float(i) - 2 }
        final class Counter: @unchecked Sendable { var releases = 0 }
        let counter = Counter()
        do {
            let x = try Tensor(dataType: .float, shape: [2, 3], wrapping: UnsafeMutableRawPointer(buffer)) { pointer in
                counter.releases += 1
                pointer.deallocate()
            }
            x.withUnsafeBufferPointer(as: Float.self) { #expect($0.baseAddress == UnsafePointer(buffer)) }
            let y = try runNode("Relu", inputs: [x])[0]
            #expect(try y.scalars(as: Float.self) == [0, 0, 0, 1, 2, 3])
            #expect(counter.releases == 0)
        }
        #expect(counter.releases == 1)
    }
}
