import Foundation
import Testing
@testable import ONNXRun

/// Protobuf wire-format building blocks, to hand-craft (malformed) model bytes.
enum Wire {
    static func varint(_ value: UInt64) -> [UInt8] {
        var v = value
        var out: [UInt8] = []
        repeat {
            var byte = UInt8(v & 0x7F)
            v >>= 7
            if v != 0 { byte |= 0x80 }
            out.append(byte)
        } while v != 0
        return out
    }
    static func message(_ field: UInt64, _ body: [UInt8]) -> [UInt8] { varint(field << 3 | 2) + varint(UInt64(body.count)) + body }
    static func string(_ field: UInt64, _ s: String) -> [UInt8] { message(field, Array(s.utf8)) }
    static func int(_ field: UInt64, _ v: UInt64) -> [UInt8] { varint(field << 3) + varint(v) }
}

@Suite struct LoaderTests {
    func roundTrip(_ model: Model) throws -> Model {
        try ModelLoader.load(bytes: try ModelWriter.encode(model))
    }

    func identityModel(value: Tensor) -> Model {
        let graph = Graph(
            name: "g", nodes: [Node(name: "n", opType: "Identity", inputs: ["value"], outputs: ["out"])],
            inputs: [], outputs: [ValueInfo(name: "out", type: .tensor(elementType: value.dataType, shape: nil))],
            initializers: ["value": value])
        return Model(opsetImports: ["": 17], graph: graph)
    }

    @Test(arguments: [DataType.float, .double, .float16, .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64, .bool])
    func initializerOfEveryNumericType(type: DataType) throws {
        let source = try Conversion.cast(try Tensor(shape: [2, 3], scalars: [Int64(0), 1, 0, 3, 1, 5]), to: type)
        let loaded = try roundTrip(identityModel(value: source)).graph.initializers["value"]
        #expect(loaded?.dataType == type)
        #expect(loaded?.shape == [2, 3])
        #expect(loaded.map { TestCaseRunner.compare($0, source, tolerance: .init()) } == .some(nil))
    }

    @Test func stringInitializer() throws {
        let source = try Tensor(shape: [2], strings: ["héllo", ""])
        let loaded = try roundTrip(identityModel(value: source)).graph.initializers["value"]
        #expect(loaded?.strings == ["héllo", ""])
    }

    @Test func metadataOpsetsSymbolicDimsAndSubgraphs() throws {
        let thenBranch = Graph(
            name: "then", nodes: [Node(name: "t", opType: "Add", inputs: ["x", "w"], outputs: ["r"])],
            inputs: [], outputs: [ValueInfo(name: "r", type: nil)])
        let elseBranch = Graph(name: "else", nodes: [], inputs: [], outputs: [ValueInfo(name: "x", type: nil)])
        let node = Node(
            name: "if", opType: "If", inputs: ["cond"], outputs: ["y"],
            attributes: ["then_branch": .graph(thenBranch), "else_branch": .graph(elseBranch), "alpha": .floats([0.5, 2])])
        let graph = Graph(
            name: "main", nodes: [node],
            inputs: [
                ValueInfo(name: "cond", type: .tensor(elementType: .bool, shape: [])),
                ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [.symbolic("batch"), .known(4), .unknown])),
            ],
            outputs: [ValueInfo(name: "y", type: .sequence(.tensor(elementType: .float, shape: nil)))],
            initializers: ["w": floatTensor([4], [1, 2, 3, 4])])
        let model = Model(
            irVersion: 9, opsetImports: ["": 18, "com.example": 2], producerName: "tests", metadata: ["k": "v"], graph: graph,
            functions: [Function(name: "F", domain: "com.example", inputs: ["a"], outputs: ["b"], attributeNames: ["p"],
                                 nodes: [Node(name: "f", opType: "Relu", inputs: ["a"], outputs: ["b"], attributes: ["q": .reference("p")])],
                                 opsetImports: ["": 18])])
        let loaded = try roundTrip(model)
        #expect(loaded.irVersion == 9)
        #expect(loaded.opsetImports == ["": 18, "com.example": 2])
        #expect(loaded.producerName == "tests" && loaded.metadata == ["k": "v"])
        #expect(loaded.graph.inputs[1].type == .tensor(elementType: .float, shape: [.symbolic("batch"), .known(4), .unknown]))
        #expect(loaded.graph.outputs[0].type == .sequence(.tensor(elementType: .float, shape: nil)))
        guard case .graph(let then)? = loaded.graph.nodes[0].attributes["then_branch"] else {
            Issue.record("then_branch lost")
            return
        }
        #expect(then.nodes.map(\.opType) == ["Add"])
        #expect(ExecutionPlan.freeNames(of: then) == ["x", "w"])
        guard case .floats(let alpha)? = loaded.graph.nodes[0].attributes["alpha"] else {
            Issue.record("alpha lost")
            return
        }
        #expect(alpha == [0.5, 2])
        #expect(loaded.functions.first?.name == "F")
        guard case .reference("p")? = loaded.functions.first?.nodes.first?.attributes["q"] else {
            Issue.record("attribute reference lost")
            return
        }
    }

    @Test func garbageIsRejected() {
        let error = #expect(throws: ONNXRunError.self) { try ModelLoader.load(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01]) }
        #expect(error?.code == .invalidModel)
        #expect(error?.message.contains("protobuf") == true)
        #expect(throws: ONNXRunError.self) { try ModelLoader.load(bytes: []) }
    }

    @Test func truncatedModelIsRejected() throws {
        let bytes = try ModelWriter.encode(identityModel(value: floatTensor([64], Array(repeating: 1, count: 64))))
        for cut in [bytes.count / 2, bytes.count - 1, 3] {
            #expect(throws: ONNXRunError.self) { try ModelLoader.load(bytes: Array(bytes.prefix(cut))) }
        }
    }

    @Test func missingGraphIsRejected() {
        let bytes = Wire.int(1, 8)  // ir_version only
        let error = #expect(throws: ONNXRunError.self) { try ModelLoader.load(bytes: bytes) }
        #expect(error?.message.contains("no graph") == true)
    }

    /// Large payloads are cut out before protobuf-c parses the model and copied by the decoder
    /// (from the file mapping when loading a file); the tensors must be the same either way.
    @Test func largeInitializersLoadFromDetachedPayloads() throws {
        let big = sampleTensor([64, 33], seed: 5)  // 8,448 bytes: detached
        let small = sampleTensor([10], seed: 6)  // stays in the parsed bytes
        let flags = try Tensor(shape: [5000], scalars: (0..<5000).map { $0 % 3 == 0 })
        let graph = Graph(
            name: "g", nodes: [Node(name: "n", opType: "Add", inputs: ["big", "big"], outputs: ["out"])],
            inputs: [], outputs: [ValueInfo(name: "out", type: .tensor(elementType: .float, shape: nil))],
            initializers: ["big": big, "small": small, "flags": flags])
        let bytes = try ModelWriter.encode(Model(opsetImports: ["": 17], graph: graph))
        let detached = try #require(bytes.withUnsafeBytes { WireFormat.detachInitializerPayloads($0) })
        #expect(detached.payloads.count == 2)
        #expect(detached.skeleton.count < bytes.count - 8_448 - 5_000 + 64)

        let url = FileManager.default.temporaryDirectory.appendingPathComponent("detached-\(UUID().uuidString).onnx")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        for model in [try ModelLoader.load(bytes: bytes), try ModelLoader.load(contentsOf: url)] {
            #expect(try model.graph.initializers["big"]?.scalars(as: Float.self) == big.scalars(as: Float.self))
            #expect(try model.graph.initializers["small"]?.scalars(as: Float.self) == small.scalars(as: Float.self))
            #expect(try model.graph.initializers["flags"]?.scalars(as: Bool.self) == flags.scalars(as: Bool.self))
        }
        // A wrong-length detached payload gets the same error as any raw_data.
        let tensor = Wire.int(1, 4) + Wire.int(2, 1) + Wire.string(8, "w") + Wire.message(9, [UInt8](repeating: 1, count: 5000))
        let error = #expect(throws: ONNXRunError.self) { try ModelLoader.load(bytes: Wire.int(1, 8) + Wire.message(7, Wire.message(5, tensor))) }
        #expect(error?.message.contains("raw_data has 5000 bytes") == true)
    }

    /// External data is memory-mapped: an aligned payload is used in place, an unaligned one is
    /// copied; both must read the same values.
    @Test func externalDataAlignedAndUnaligned() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("external-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let values = sampleValues(300, seed: 9)
        let payload = values.withUnsafeBytes { Array($0) }
        var file = [UInt8](repeating: 0, count: 4096 + 100 + payload.count)
        file.replaceSubrange(4096..<(4096 + payload.count), with: payload)
        file.replaceSubrange(100..<(100 + payload.count), with: payload)
        try Data(file).write(to: directory.appendingPathComponent("weights.bin"))
        func entry(_ key: String, _ value: String) -> [UInt8] { Wire.message(13, Wire.string(1, key) + Wire.string(2, value)) }
        func tensor(_ name: String, offset: Int) -> [UInt8] {
            Wire.int(1, 300) + Wire.int(2, 1) + Wire.string(8, name) + entry("location", "weights.bin")
                + entry("offset", String(offset)) + entry("length", String(payload.count)) + Wire.int(14, 1)
        }
        let graph = Wire.message(5, tensor("aligned", offset: 4096)) + Wire.message(5, tensor("unaligned", offset: 100))
        let url = directory.appendingPathComponent("model.onnx")
        try Data(Wire.int(1, 8) + Wire.message(7, graph)).write(to: url)
        let model = try ModelLoader.load(contentsOf: url)
        #expect(try model.graph.initializers["aligned"]?.scalars(as: Float.self) == values)
        #expect(try model.graph.initializers["unaligned"]?.scalars(as: Float.self) == values)
    }

    @Test func modelFileErrorsNameTheReason() throws {
        let missing = #expect(throws: ONNXRunError.self) { try ModelLoader.load(contentsOf: URL(fileURLWithPath: "/no/such/model.onnx")) }
        #expect(missing?.message.contains("no such file") == true)
        let directory = #expect(throws: ONNXRunError.self) { try ModelLoader.load(contentsOf: FileManager.default.temporaryDirectory) }
        #expect(directory?.message.contains("is a directory") == true)
    }

    @Test func rawDataOfWrongLengthIsRejected() {
        // TensorProto: dims [4], data_type float, raw_data of 3 bytes.
        let tensor = Wire.int(1, 4) + Wire.int(2, 1) + Wire.string(8, "w") + Wire.message(9, [1, 2, 3])
        let graph = Wire.message(5, tensor)
        let bytes = Wire.int(1, 8) + Wire.message(7, graph)
        let error = #expect(throws: ONNXRunError.self) { try ModelLoader.load(bytes: bytes) }
        #expect(error?.description.contains("initializer 'w'") == true)
        #expect(error?.message.contains("raw_data") == true)
    }

    @Test func unknownDataTypeIsRejected() {
        let tensor = Wire.int(1, 1) + Wire.int(2, 99) + Wire.string(8, "w")
        let bytes = Wire.int(1, 8) + Wire.message(7, Wire.message(5, tensor))
        let error = #expect(throws: ONNXRunError.self) { try ModelLoader.load(bytes: bytes) }
        #expect(error?.message.contains("data_type code 99") == true)
    }

    @Test func deeplyNestedSubgraphsFailCleanly() {
        // 1,000 levels of Graph { Node { Attribute { g: Graph { ... } } } }.
        var graph: [UInt8] = []
        for _ in 0..<1000 {
            let attribute = Wire.string(1, "body") + Wire.int(20, 5) + Wire.message(6, graph)
            let node = Wire.string(4, "If") + Wire.message(5, attribute)
            graph = Wire.message(1, node)
        }
        let bytes = Wire.int(1, 8) + Wire.message(7, graph)
        let error = #expect(throws: ONNXRunError.self) { try ModelLoader.load(bytes: bytes) }
        #expect(error?.message.contains("nest") == true)
    }

    @Test func danglingInputIsNamed() throws {
        let graph = Graph(
            nodes: [Node(name: "r", opType: "Relu", inputs: ["missing_tensor"], outputs: ["y"])],
            inputs: [], outputs: [ValueInfo(name: "y", type: nil)])
        let error = #expect(throws: ONNXRunError.self) {
            try InferenceSession(model: try roundTrip(Model(opsetImports: ["": 17], graph: graph)), options: .init(optimizationLevel: 0))
        }
        #expect(error?.message.contains("'missing_tensor'") == true)
        #expect(error?.message.contains("dangling") == true)
    }

    @Test func cycleIsReported() throws {
        let graph = Graph(
            nodes: [
                Node(name: "a", opType: "Relu", inputs: ["q"], outputs: ["p"]),
                Node(name: "b", opType: "Relu", inputs: ["p"], outputs: ["q"]),
                Node(name: "c", opType: "Relu", inputs: ["p"], outputs: ["y"]),
            ],
            inputs: [], outputs: [ValueInfo(name: "y", type: nil)])
        let error = #expect(throws: ONNXRunError.self) {
            try InferenceSession(model: Model(opsetImports: ["": 17], graph: graph), options: .init(optimizationLevel: 0))
        }
        #expect(error?.message.contains("cycle") == true)
    }

    @Test func unsupportedOperatorsAreListedTogether() throws {
        let graph = Graph(
            nodes: [
                Node(name: "a", opType: "FancyOp", inputs: ["x"], outputs: ["p"]),
                Node(name: "b", opType: "FancyOp", inputs: ["p"], outputs: ["q"]),
                Node(name: "c", opType: "Other", domain: "com.x", inputs: ["q"], outputs: ["y"]),
            ],
            inputs: [ValueInfo(name: "x", type: nil)], outputs: [ValueInfo(name: "y", type: nil)])
        let error = #expect(throws: ONNXRunError.self) {
            try InferenceSession(model: Model(opsetImports: ["": 17, "com.x": 1], graph: graph))
        }
        #expect(error?.code == .unsupportedOperator)
        #expect(error?.message.contains("FancyOp (domain 'ai.onnx', opset 17) used by \"a\", \"b\"") == true)
        #expect(error?.message.contains("Other (domain 'com.x', opset 1) used by \"c\"") == true)
    }

    @Test func externalDataOutsideTheModelDirectoryIsRejected() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-run-ext-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data(repeating: 0, count: 16).write(to: directory.appendingPathComponent("weights.bin"))
        #expect(try ExternalData.resolve(location: "weights.bin", in: directory).lastPathComponent == "weights.bin")
        for bad in ["../weights.bin", "/etc/passwd", "sub/../../x.bin"] {
            let error = #expect(throws: ONNXRunError.self) { try ExternalData.resolve(location: bad, in: directory) }
            #expect(error?.code == .invalidModel)
        }
        let missing = #expect(throws: ONNXRunError.self) { try ExternalData.resolve(location: "nope.bin", in: directory) }
        #expect(missing?.message.contains("does not exist") == true)
        let t = try ExternalData.read(file: directory.appendingPathComponent("weights.bin"), offset: 8, length: 8, dataType: .float, shape: [2])
        #expect(try t.scalars(as: Float.self) == [0, 0])
        #expect(throws: ONNXRunError.self) {
            try ExternalData.read(file: directory.appendingPathComponent("weights.bin"), offset: 12, length: 8, dataType: .float, shape: [2])
        }
    }
}

@Suite struct HostileInputTests {
    @Test func hugeShapeWithoutDataIsAnErrorNotACrash() {
        // TensorProto with dims [1e12] and no data: must not try to allocate it.
        let tensor = Wire.int(1, 1_000_000_000_000) + Wire.int(2, 1)
        #expect(throws: ONNXRunError.self) { try TestDataProto.decode(tensor, as: .tensor) }
    }

    @Test func sequenceFileReadAsTensorFailsCleanly() throws {
        let sequence = try TestDataProto.encode(.sequence([.tensor(floatTensor([2], [1, 2]))]), name: "s")
        // Whatever a SequenceProto looks like as a TensorProto, reading it must throw or succeed, never trap.
        _ = try? TestDataProto.decode(sequence, as: .tensor)
        #expect(try TestDataProto.decode(sequence, as: .sequence).name == "s")
    }

    @Test func allocationFailureThrows() {
        #expect(throws: ONNXRunError.self) { try Tensor(zeros: .float, shape: [1 << 40, 1 << 10]) }
    }
}
