import Foundation
internal import ONNXProto
internal import CProtobufC

/// Reads `.onnx` files into the ``Model`` IR.
///
/// The protobuf wire format is parsed by protobuf-c (C code generated from `Schema/onnx.proto`);
/// this file converts the C messages into Swift values once and frees them. Every malformed input
/// becomes an ``ONNXRunError`` with code `.invalidModel` naming the problem.
public enum ModelLoader {
    /// Loads the model at `url`; external data is resolved relative to the file's directory.
    public static func load(contentsOf url: URL) throws -> Model {
        let file = try MappedFile(url)
        do {
            return try load(bytes: file.bytes, directory: url.deletingLastPathComponent(), mapping: file)
        } catch let error as ONNXRunError {
            throw error.about(url.path)
        }
    }

    /// Loads a model from serialized bytes; external data is resolved relative to `directory`.
    public static func load(bytes: [UInt8], directory: URL? = nil) throws -> Model {
        try bytes.withUnsafeBytes { try load(bytes: $0, directory: directory) }
    }

    /// Loads a model from serialized bytes; external data is resolved relative to `directory`.
    public static func load(bytes: UnsafeRawBufferPointer, directory: URL?) throws -> Model {
        try load(bytes: bytes, directory: directory, mapping: nil)
    }

    /// Parses `bytes`. Large initializer payloads are detached first, so protobuf-c parses only
    /// the rest and each payload is copied once, by the decoder; when `bytes` is `mapping`, the
    /// pages of each payload are dropped once copied.
    static func load(bytes: UnsafeRawBufferPointer, directory: URL?, mapping: MappedFile?) throws -> Model {
        guard bytes.count > 0, bytes.baseAddress != nil else {
            throw ONNXRunError(.invalidModel, "the file is empty, not an ONNX model")
        }
        try WireFormat.checkNesting(bytes, limit: WireFormat.maximumNesting)
        let detached = WireFormat.detachInitializerPayloads(bytes)
        let parsed: UnsafeMutablePointer<Onnx__ModelProto>? = if let detached {
            detached.skeleton.withUnsafeBufferPointer { onnx__model_proto__unpack(alignedAllocator, $0.count, $0.baseAddress) }
        } else {
            onnx__model_proto__unpack(alignedAllocator, bytes.count, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard let proto = parsed else {
            throw ONNXRunError(.invalidModel, "not a valid ONNX protobuf (the bytes do not parse as a ModelProto; truncated or not an ONNX file?)")
        }
        defer { onnx__model_proto__free_unpacked(proto, alignedAllocator) }
        var decoder = ProtoDecoder(directory: directory, ownsBuffers: true)
        if let detached {
            decoder.detachedPayloads = detached.payloads.mapValues { UnsafeRawBufferPointer(rebasing: bytes[$0]) }
            decoder.payloadCopied = { index in
                if let range = detached.payloads[index] { mapping?.releasePages(range) }
            }
        }
        return try decoder.model(proto.pointee)
    }

    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain {
            switch ns.code {
            case NSFileReadNoSuchFileError: return "no such file"
            case NSFileReadNoPermissionError: return "permission denied"
            default: break
            }
        }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError,
           let posix = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(posix.rawValue))
        }
        return ns.localizedDescription
    }
}

/// Converts protobuf-c messages into IR values.
struct ProtoDecoder {
    /// Directory for external data; nil forbids external data.
    let directory: URL?
    /// True when the message was unpacked with `alignedAllocator`, so initializers may take over
    /// their `raw_data` buffers instead of copying them.
    let ownsBuffers: Bool
    /// `raw_data` of main-graph initializers that was cut out of the parsed bytes, by the
    /// initializer's position (see `WireFormat.detachInitializerPayloads`).
    var detachedPayloads: [Int: UnsafeRawBufferPointer] = [:]
    /// Called with an initializer's position once its detached payload has been copied.
    var payloadCopied: (Int) -> Void = { _ in }
    private var unnamedNodes = 0

    init(directory: URL?, ownsBuffers: Bool = false) {
        self.directory = directory
        self.ownsBuffers = ownsBuffers
    }

    mutating func model(_ m: Onnx__ModelProto) throws -> Model {
        guard (m.has_ir_version != 0) else { throw ONNXRunError(.invalidModel, "the model has no ir_version (is this an ONNX file?)") }
        guard let g = m.graph else { throw ONNXRunError(.invalidModel, "the model has no graph") }
        var opsets: [String: Int] = [:]
        for entry in buffer(m.opset_import, m.n_opset_import) {
            let domain = str(entry.pointee.domain)
            opsets[domain == "ai.onnx" ? "" : domain] = Int(entry.pointee.version)
        }
        if opsets.isEmpty && m.ir_version < 3 {
            // IR version 1/2 files predate opset_import; they mean opset 1 of the default domain.
            // From IR 3 on an empty list is a defect that validate reports and planning rejects.
            opsets[""] = 1
        }
        var metadata: [String: String] = [:]
        for entry in buffer(m.metadata_props, m.n_metadata_props) {
            metadata[str(entry.pointee.key)] = str(entry.pointee.value)
        }
        let graph = try self.graph(g.pointee, isMain: true)
        var functions: [Function] = []
        for f in buffer(m.functions, m.n_functions) { functions.append(try function(f.pointee)) }
        return Model(
            irVersion: Int(m.ir_version), opsetImports: opsets, producerName: str(m.producer_name),
            producerVersion: str(m.producer_version), domain: str(m.domain), modelVersion: Int(m.model_version),
            docString: str(m.doc_string), metadata: metadata, graph: graph, functions: functions)
    }

    mutating func graph(_ g: Onnx__GraphProto, isMain: Bool = false) throws -> Graph {
        let name = str(g.name)
        var initializers: [String: Tensor] = [:]
        for (index, t) in buffer(g.initializer, g.n_initializer).enumerated() {
            let tensorName = str(t.pointee.name)
            guard !tensorName.isEmpty else { throw ONNXRunError(.invalidModel, "graph '\(name)' has an initializer without a name") }
            do {
                if isMain, let payload = detachedPayloads[index] {
                    // The regular decoding, reading raw_data from where it lies in the file.
                    var proto = t.pointee
                    proto.raw_data = ProtobufCBinaryData(len: payload.count, data: UnsafeMutablePointer(mutating: payload.baseAddress?.assumingMemoryBound(to: UInt8.self)))
                    proto.has_raw_data = 1
                    initializers[tensorName] = try tensor(proto)
                    payloadCopied(index)
                } else {
                    initializers[tensorName] = try ownsBuffers ? tensor(takingBuffer: t) : tensor(t.pointee)
                }
            } catch let error as ONNXRunError {
                throw error.about("initializer '\(tensorName)'")
            }
        }
        for s in buffer(g.sparse_initializer, g.n_sparse_initializer) {
            let tensorName = s.pointee.values.map { str($0.pointee.name) } ?? ""
            do {
                initializers[tensorName] = try sparseTensor(s.pointee)
            } catch let error as ONNXRunError {
                throw error.about("sparse initializer '\(tensorName)'")
            }
        }
        var nodes: [Node] = []
        nodes.reserveCapacity(g.n_node)
        for n in buffer(g.node, g.n_node) { nodes.append(try node(n.pointee)) }
        return Graph(
            name: name, nodes: nodes,
            inputs: try buffer(g.input, g.n_input).map { try valueInfo($0.pointee) },
            outputs: try buffer(g.output, g.n_output).map { try valueInfo($0.pointee) },
            initializers: initializers,
            valueInfo: try buffer(g.value_info, g.n_value_info).map { try valueInfo($0.pointee) },
            docString: str(g.doc_string))
    }

    mutating func node(_ n: Onnx__NodeProto) throws -> Node {
        let opType = str(n.op_type)
        var name = str(n.name)
        if name.isEmpty {
            unnamedNodes += 1
            name = "\(opType)_\(unnamedNodes)"
        }
        guard !opType.isEmpty else { throw ONNXRunError(.invalidModel, "node \"\(name)\" has no op_type") }
        var attributes: [String: Attribute] = [:]
        for a in buffer(n.attribute, n.n_attribute) {
            let attributeName = str(a.pointee.name)
            do {
                attributes[attributeName] = try attribute(a.pointee)
            } catch let error as ONNXRunError {
                throw error.about("attribute '\(attributeName)' of \(opType) node \"\(name)\"")
            }
        }
        return Node(
            name: name, opType: opType, domain: str(n.domain),
            inputs: strings(n.input, n.n_input), outputs: strings(n.output, n.n_output),
            attributes: attributes, docString: str(n.doc_string))
    }

    mutating func attribute(_ a: Onnx__AttributeProto) throws -> Attribute {
        let refName = str(a.ref_attr_name)
        if !refName.isEmpty { return .reference(refName) }
        var kind = (a.has_type != 0) ? a.type : 0
        if kind == 0 {
            // Old files omit the type; infer it from the field that is set.
            if (a.has_f != 0) { kind = 1 } else if (a.has_i != 0) { kind = 2 } else if (a.has_s != 0) { kind = 3 }
            else if a.t != nil { kind = 4 } else if a.g != nil { kind = 5 }
            else if a.n_floats > 0 { kind = 6 } else if a.n_ints > 0 { kind = 7 } else if a.n_strings > 0 { kind = 8 }
            else if a.n_tensors > 0 { kind = 9 } else if a.n_graphs > 0 { kind = 10 }
            else if a.sparse_tensor != nil { kind = 11 } else if a.tp != nil { kind = 13 }
            else { throw ONNXRunError(.invalidModel, "has no type and no value") }
        }
        switch kind {
        case 1: return .float(a.f)
        case 2: return .int(Int(a.i))
        case 3: return .string(bytesToString(a.s))
        case 4:
            guard let t = a.t else { throw ONNXRunError(.invalidModel, "is of type TENSOR but holds no tensor") }
            return .tensor(try tensor(t.pointee))
        case 5:
            guard let g = a.g else { throw ONNXRunError(.invalidModel, "is of type GRAPH but holds no graph") }
            return .graph(try graph(g.pointee))
        case 6: return .floats(Array(UnsafeBufferPointer(start: a.floats, count: a.n_floats)))
        case 7: return .ints(UnsafeBufferPointer(start: a.ints, count: a.n_ints).map { Int($0) })
        case 8: return .strings(UnsafeBufferPointer(start: a.strings, count: a.n_strings).map(bytesToString))
        case 9: return .tensors(try buffer(a.tensors, a.n_tensors).map { try tensor($0.pointee) })
        case 10: return .graphs(try buffer(a.graphs, a.n_graphs).map { try graph($0.pointee) })
        case 11:
            guard let s = a.sparse_tensor else { throw ONNXRunError(.invalidModel, "is of type SPARSE_TENSOR but holds none") }
            return .tensor(try sparseTensor(s.pointee))
        case 12: return .tensors(try buffer(a.sparse_tensors, a.n_sparse_tensors).map { try sparseTensor($0.pointee) })
        case 13:
            guard let tp = a.tp else { throw ONNXRunError(.invalidModel, "is of type TYPE_PROTO but holds none") }
            return .type(try type(tp.pointee))
        case 14: return .types(try buffer(a.type_protos, a.n_type_protos).map { try type($0.pointee) })
        default: throw ONNXRunError(.invalidModel, "has unknown attribute type code \(kind)")
        }
    }

    func valueInfo(_ v: Onnx__ValueInfoProto) throws -> ValueInfo {
        let name = str(v.name)
        do {
            return ValueInfo(name: name, type: try v.type.map { try type($0.pointee) }, docString: str(v.doc_string))
        } catch let error as ONNXRunError {
            throw error.about("value '\(name)'")
        }
    }

    func type(_ t: Onnx__TypeProto) throws -> ValueType {
        switch t.value_case.rawValue {
        case 1:
            let tensorType = t.tensor_type.pointee
            return .tensor(elementType: try elementType(tensorType.elem_type), shape: tensorType.shape.map { shape($0.pointee) })
        case 8:
            let sparse = t.sparse_tensor_type.pointee
            return .sparseTensor(elementType: try elementType(sparse.elem_type), shape: sparse.shape.map { shape($0.pointee) })
        case 4: return .sequence(try t.sequence_type.pointee.elem_type.map { try type($0.pointee) })
        case 9: return .optional(try t.optional_type.pointee.elem_type.map { try type($0.pointee) })
        case 5:
            let map = t.map_type.pointee
            return .map(key: try elementType(map.key_type), value: try map.value_type.map { try type($0.pointee) })
        case 7: return .opaque(domain: str(t.opaque_type.pointee.domain), name: str(t.opaque_type.pointee.name))
        default: throw ONNXRunError(.invalidModel, "has a type with no kind (tensor, sequence, map, optional)")
        }
    }

    private func elementType(_ code: Int32) throws -> DataType? {
        if code == 0 { return nil }
        guard let type = DataType(rawValue: code) else { throw ONNXRunError(.invalidModel, "unknown element type code \(code)") }
        return type
    }

    func shape(_ s: Onnx__TensorShapeProto) -> [Dimension] {
        buffer(s.dim, s.n_dim).map { d -> Dimension in
            switch d.pointee.value_case.rawValue {
            case 1:
                return d.pointee.dim_value >= 0 ? .known(Int(d.pointee.dim_value)) : .unknown
            case 2:
                let name = str(d.pointee.dim_param)
                return name.isEmpty ? .unknown : .symbolic(name)
            default:
                return .unknown
            }
        }
    }

    mutating func function(_ f: Onnx__FunctionProto) throws -> Function {
        var opsets: [String: Int] = [:]
        for entry in buffer(f.opset_import, f.n_opset_import) {
            let domain = str(entry.pointee.domain)
            opsets[domain == "ai.onnx" ? "" : domain] = Int(entry.pointee.version)
        }
        var defaults: [String: Attribute] = [:]
        var names = strings(f.attribute, f.n_attribute)
        for a in buffer(f.attribute_proto, f.n_attribute_proto) {
            let name = str(a.pointee.name)
            names.append(name)
            defaults[name] = try attribute(a.pointee)
        }
        let name = str(f.name)
        var nodes: [Node] = []
        for n in buffer(f.node, f.n_node) { nodes.append(try node(n.pointee)) }
        return Function(
            name: name, domain: str(f.domain), overload: str(f.overload),
            inputs: strings(f.input, f.n_input), outputs: strings(f.output, f.n_output),
            attributeNames: names, attributeDefaults: defaults, nodes: nodes, opsetImports: opsets)
    }

    // MARK: Tensors

    func sparseTensor(_ s: Onnx__SparseTensorProto) throws -> Tensor {
        guard let valuesProto = s.values, let indicesProto = s.indices else {
            throw ONNXRunError(.invalidModel, "sparse tensor needs both values and indices")
        }
        let values = try tensor(valuesProto.pointee)
        let indices = try tensor(indicesProto.pointee)
        let shape = UnsafeBufferPointer(start: s.dims, count: s.n_dims).map { Int($0) }
        guard indices.dataType == .int64 else { throw ONNXRunError(.invalidModel, "sparse tensor indices must be int64") }
        let dense = try Tensor(zeros: values.dataType, shape: shape)
        let nnz = values.count
        let index = indices.pointer(as: Int64.self)
        let strides = dense.strides
        var linear = [Int](repeating: 0, count: nnz)
        if indices.rank == 1 && indices.count == nnz {
            for i in 0..<nnz { linear[i] = Int(index[i]) }
        } else if indices.rank == 2 && indices.shape == [nnz, shape.count] {
            for i in 0..<nnz {
                var offset = 0
                for axis in 0..<shape.count {
                    let v = Int(index[i * shape.count + axis])
                    guard v >= 0 && v < shape[axis] else { throw ONNXRunError(.invalidModel, "sparse index \(v) out of range for dimension \(axis) of size \(shape[axis])") }
                    offset += v * strides[axis]
                }
                linear[i] = offset
            }
        } else {
            throw ONNXRunError(.invalidModel, "sparse indices of shape \(indices.shape) do not fit \(nnz) values of rank \(shape.count)")
        }
        guard values.dataType != .string, values.dataType.bitWidth >= 8 else {
            throw ONNXRunError(.unsupportedType, "sparse tensors of \(values.dataType) are not supported")
        }
        let width = values.dataType.bitWidth / 8
        for (i, offset) in linear.enumerated() {
            guard offset >= 0 && offset < dense.count else { throw ONNXRunError(.invalidModel, "sparse index \(offset) outside a tensor of \(dense.count) elements") }
            (dense.storage.bytes + offset * width).copyMemory(from: values.storage.bytes + i * width, byteCount: width)
        }
        return dense
    }

    /// Decodes an initializer; a large `raw_data` buffer becomes the tensor's storage without a
    /// copy (the message no longer owns it, so freeing the message leaves it alone).
    func tensor(takingBuffer p: UnsafeMutablePointer<Onnx__TensorProto>) throws -> Tensor {
        let t = p.pointee
        guard t.has_raw_data != 0, t.raw_data.len >= 4096, let data = t.raw_data.data, t.has_data_type != 0,
              !(t.has_data_location != 0 && t.data_location == 1),
              let dataType = DataType(rawValue: t.data_type), dataType != .string, dataType != .bool
        else { return try tensor(t) }
        let shape = UnsafeBufferPointer(start: t.dims, count: t.n_dims).map { Int($0) }
        let expected = dataType.byteCount(forElements: try Tensor.elementCount(shape))
        guard expected == t.raw_data.len else { return try tensor(t) }  // reports the mismatch
        p.pointee.raw_data = ProtobufCBinaryData(len: 0, data: nil)
        p.pointee.has_raw_data = 0
        return try Tensor(dataType: dataType, shape: shape, wrapping: UnsafeMutableRawPointer(data)) { free($0) }
    }

    func tensor(_ t: Onnx__TensorProto) throws -> Tensor {
        guard (t.has_data_type != 0), t.data_type != 0 else { throw ONNXRunError(.invalidModel, "tensor has no data_type") }
        guard let dataType = DataType(rawValue: t.data_type) else {
            throw ONNXRunError(.invalidModel, "tensor has unknown data_type code \(t.data_type)")
        }
        let shape = UnsafeBufferPointer(start: t.dims, count: t.n_dims).map { Int($0) }
        let count = try Tensor.elementCount(shape)

        if (t.has_data_location != 0) && t.data_location == 1 {
            return try externalTensor(t, dataType: dataType, shape: shape)
        }
        if (t.has_raw_data != 0) {
            guard dataType != .string else { throw ONNXRunError(.invalidModel, "string tensor stored in raw_data") }
            let raw = UnsafeRawBufferPointer(start: t.raw_data.data, count: t.raw_data.len)
            let expected = dataType.byteCount(forElements: count)
            guard raw.count == expected else {
                throw ONNXRunError(.invalidModel, "raw_data has \(raw.count) bytes, but a \(dataType) tensor of shape \(shape) needs \(expected)")
            }
            return try Tensor(dataType: dataType, shape: shape, bytes: raw)
        }

        func expectCount(_ actual: Int, _ field: String, _ expected: Int) throws {
            guard actual == expected else {
                throw ONNXRunError(.invalidModel, "\(field) has \(actual) values, but a \(dataType) tensor of shape \(shape) needs \(expected)")
            }
        }
        // Check the data present before allocating, so a bogus shape cannot request huge memory.
        let present = [t.n_float_data, t.n_int32_data, t.n_int64_data, t.n_double_data, t.n_uint64_data, t.n_string_data].max() ?? 0
        // A lower bound (packed 4-bit types store two values per entry); the exact counts are checked below.
        guard present >= min(count, dataType.byteCount(forElements: count)) else {
            throw ONNXRunError(.invalidModel, "a \(dataType) tensor of shape \(shape) has \(present) values stored")
        }
        let result = try Tensor(uninitialized: dataType, shape: shape)
        switch dataType {
        case .float:
            try expectCount(t.n_float_data, "float_data", count)
            if count > 0 { result.storage.bytes.copyMemory(from: t.float_data, byteCount: count * 4) }
        case .complex64:
            try expectCount(t.n_float_data, "float_data", count * 2)
            if count > 0 { result.storage.bytes.copyMemory(from: t.float_data, byteCount: count * 8) }
        case .double:
            try expectCount(t.n_double_data, "double_data", count)
            if count > 0 { result.storage.bytes.copyMemory(from: t.double_data, byteCount: count * 8) }
        case .complex128:
            try expectCount(t.n_double_data, "double_data", count * 2)
            if count > 0 { result.storage.bytes.copyMemory(from: t.double_data, byteCount: count * 16) }
        case .int64:
            try expectCount(t.n_int64_data, "int64_data", count)
            if count > 0 { result.storage.bytes.copyMemory(from: t.int64_data, byteCount: count * 8) }
        case .uint64:
            try expectCount(t.n_uint64_data, "uint64_data", count)
            if count > 0 { result.storage.bytes.copyMemory(from: t.uint64_data, byteCount: count * 8) }
        case .uint32:
            try expectCount(t.n_uint64_data, "uint64_data", count)
            let p = result.pointer(as: UInt32.self)
            for i in 0..<count { p[i] = UInt32(truncatingIfNeeded: t.uint64_data[i]) }
        case .int32:
            try expectCount(t.n_int32_data, "int32_data", count)
            if count > 0 { result.storage.bytes.copyMemory(from: t.int32_data, byteCount: count * 4) }
        case .int16, .uint16, .float16, .bfloat16:
            try expectCount(t.n_int32_data, "int32_data", count)
            let p = result.pointer(as: UInt16.self)
            for i in 0..<count { p[i] = UInt16(truncatingIfNeeded: t.int32_data[i]) }
        case .int8, .uint8, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0:
            try expectCount(t.n_int32_data, "int32_data", count)
            let p = result.pointer(as: UInt8.self)
            for i in 0..<count { p[i] = UInt8(truncatingIfNeeded: t.int32_data[i]) }
        case .bool:
            try expectCount(t.n_int32_data, "int32_data", count)
            let p = result.pointer(as: UInt8.self)
            for i in 0..<count { p[i] = t.int32_data[i] != 0 ? 1 : 0 }
        case .int4, .uint4, .float4e2m1, .int2, .uint2:
            // Packed: each int32 holds one byte of packed elements.
            let bytes = dataType.byteCount(forElements: count)
            try expectCount(t.n_int32_data, "int32_data", bytes)
            let p = result.pointer(as: UInt8.self)
            for i in 0..<bytes { p[i] = UInt8(truncatingIfNeeded: t.int32_data[i]) }
        case .string:
            try expectCount(t.n_string_data, "string_data", count)
            result.storage.strings = UnsafeBufferPointer(start: t.string_data, count: count).map(bytesToString)
        }
        return result
    }

    private func externalTensor(_ t: Onnx__TensorProto, dataType: DataType, shape: [Int]) throws -> Tensor {
        var fields: [String: String] = [:]
        for entry in buffer(t.external_data, t.n_external_data) { fields[str(entry.pointee.key)] = str(entry.pointee.value) }
        guard let location = fields["location"], !location.isEmpty else {
            throw ONNXRunError(.invalidModel, "external data without a 'location'")
        }
        guard let directory else {
            throw ONNXRunError(.invalidModel, "uses external data file '\(location)', but the model was loaded from memory without a directory")
        }
        let file = try ExternalData.resolve(location: location, in: directory)
        let offset = try fields["offset"].map { try parseInteger($0, "offset") } ?? 0
        let expected = dataType.byteCount(forElements: try Tensor.elementCount(shape))
        let length = try fields["length"].map { try parseInteger($0, "length") } ?? expected
        guard length == expected else {
            throw ONNXRunError(.invalidModel, "external data length \(length) does not match the \(expected) bytes a \(dataType) tensor of shape \(shape) needs")
        }
        guard dataType != .string else { throw ONNXRunError(.invalidModel, "string tensors cannot use external data") }
        return try ExternalData.read(file: file, offset: offset, length: length, dataType: dataType, shape: shape)
    }

    private func parseInteger(_ text: String, _ field: String) throws -> Int {
        guard let v = Int(text), v >= 0 else { throw ONNXRunError(.invalidModel, "external data '\(field)' is not a non-negative integer: '\(text)'") }
        return v
    }
}

// MARK: C helpers

/// protobuf-c allocator returning 64-byte aligned blocks (released with `free`), so buffers it
/// allocates can serve directly as tensor storage.
/// Allocated once and never written again, so any thread may pass it to protobuf-c.
nonisolated(unsafe) let alignedAllocator: UnsafeMutablePointer<ProtobufCAllocator> = {
    let p = UnsafeMutablePointer<ProtobufCAllocator>.allocate(capacity: 1)
    p.initialize(to: ProtobufCAllocator(
        alloc: { _, size in
            var pointer: UnsafeMutableRawPointer?
            return posix_memalign(&pointer, 64, max(size, 1)) == 0 ? pointer : nil
        },
        free: { _, pointer in free(pointer) },
        allocator_data: nil))
    return p
}()

/// A C string field as a Swift string ("" for NULL).
@inline(__always)
func str(_ p: UnsafeMutablePointer<CChar>?) -> String {
    guard let p else { return "" }
    return String(cString: p)
}

/// A repeated message field as a buffer of non-null pointers (protobuf-c never stores NULL elements).
@inline(__always)
func buffer<T>(_ base: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ count: Int) -> [UnsafeMutablePointer<T>] {
    guard let base, count > 0 else { return [] }
    return UnsafeBufferPointer(start: base, count: count).compactMap { $0 }
}

/// A repeated string field.
func strings(_ base: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ count: Int) -> [String] {
    guard let base, count > 0 else { return [] }
    return UnsafeBufferPointer(start: base, count: count).map { str($0) }
}

/// A protobuf `bytes` value decoded as UTF-8 (invalid sequences replaced).
func bytesToString(_ b: ProtobufCBinaryData) -> String {
    guard b.len > 0, let data = b.data else { return "" }
    return String(decoding: UnsafeBufferPointer(start: data, count: b.len), as: UTF8.self)
}
