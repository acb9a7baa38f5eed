import Foundation
internal import ONNXProto
internal import CProtobufC

/// The ONNX test-data protobuf forms (`input_0.pb`, `output_0.pb`): TensorProto, SequenceProto,
/// OptionalProto and MapProto, read into and written from runtime ``Value``s.
public enum TestDataProto {
    /// The protobuf message a `.pb` file holds.
    public enum Kind: Sendable {
        case tensor, sequence, optional, map

        /// The kind that stores values of `type` (tensor when unknown).
        public init(for type: ValueType?) {
            switch type {
            case .sequence?: self = .sequence
            case .optional?: self = .optional
            case .map?: self = .map
            default: self = .tensor
            }
        }
    }

    /// Reads a `.pb` file holding a message of `kind`; returns its `name` field and value.
    public static func read(contentsOf url: URL, as kind: Kind) throws -> (name: String, value: Value) {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ONNXRunError(.io, "cannot read file: \(ModelLoader.reason(error))", subject: url.path)
        }
        do {
            return try decode(Array(data), as: kind)
        } catch let error as ONNXRunError {
            throw error.about(url.path)
        }
    }

    /// Decodes serialized bytes holding a message of `kind`.
    public static func decode(_ bytes: [UInt8], as kind: Kind) throws -> (name: String, value: Value) {
        try bytes.withUnsafeBytes { raw in
            let nestingKind: WireFormat.Kind = switch kind {
            case .tensor: .valueInfo  // tensors do not nest; any kind without nesting fields works
            case .sequence: .sequence
            case .optional: .optional
            case .map: .map
            }
            try WireFormat.checkNesting(raw, as: nestingKind, limit: WireFormat.maximumNesting)
            let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self)
            let decoder = ProtoDecoder(directory: nil)
            let what = "\(kind)".capitalized + "Proto"
            switch kind {
            case .tensor:
                guard let p = onnx__tensor_proto__unpack(nil, raw.count, base) else { throw notParsed(what) }
                defer { onnx__tensor_proto__free_unpacked(p, nil) }
                return (str(p.pointee.name), .tensor(try decoder.tensor(p.pointee)))
            case .sequence:
                guard let p = onnx__sequence_proto__unpack(nil, raw.count, base) else { throw notParsed(what) }
                defer { onnx__sequence_proto__free_unpacked(p, nil) }
                return (str(p.pointee.name), try sequence(p.pointee, decoder))
            case .optional:
                guard let p = onnx__optional_proto__unpack(nil, raw.count, base) else { throw notParsed(what) }
                defer { onnx__optional_proto__free_unpacked(p, nil) }
                return (str(p.pointee.name), try optional(p.pointee, decoder))
            case .map:
                guard let p = onnx__map_proto__unpack(nil, raw.count, base) else { throw notParsed(what) }
                defer { onnx__map_proto__free_unpacked(p, nil) }
                return (str(p.pointee.name), try map(p.pointee, decoder))
            }
        }
    }

    private static func notParsed(_ what: String) -> ONNXRunError {
        ONNXRunError(.invalidData, "not a valid \(what) (the bytes do not parse)")
    }

    private static func sequence(_ s: Onnx__SequenceProto, _ d: ProtoDecoder) throws -> Value {
        var items: [Value] = []
        for t in buffer(s.tensor_values, s.n_tensor_values) { items.append(.tensor(try d.tensor(t.pointee))) }
        for t in buffer(s.sparse_tensor_values, s.n_sparse_tensor_values) { items.append(.tensor(try d.sparseTensor(t.pointee))) }
        for q in buffer(s.sequence_values, s.n_sequence_values) { items.append(try sequence(q.pointee, d)) }
        for m in buffer(s.map_values, s.n_map_values) { items.append(try map(m.pointee, d)) }
        for o in buffer(s.optional_values, s.n_optional_values) { items.append(try optional(o.pointee, d)) }
        return .sequence(items)
    }

    private static func optional(_ o: Onnx__OptionalProto, _ d: ProtoDecoder) throws -> Value {
        if let t = o.tensor_value { return .optional(.tensor(try d.tensor(t.pointee))) }
        if let t = o.sparse_tensor_value { return .optional(.tensor(try d.sparseTensor(t.pointee))) }
        if let q = o.sequence_value { return .optional(try sequence(q.pointee, d)) }
        if let m = o.map_value { return .optional(try map(m.pointee, d)) }
        if let inner = o.optional_value { return .optional(try optional(inner.pointee, d)) }
        return .optional(nil)
    }

    private static func map(_ m: Onnx__MapProto, _ d: ProtoDecoder) throws -> Value {
        let keys: Tensor
        if m.n_string_keys > 0 {
            keys = try Tensor(shape: [m.n_string_keys], strings: UnsafeBufferPointer(start: m.string_keys, count: m.n_string_keys).map(bytesToString))
        } else {
            keys = try Tensor(shape: [m.n_keys], scalars: Array(UnsafeBufferPointer(start: m.keys, count: m.n_keys)))
        }
        var values: [Value] = []
        if let v = m.values, case .sequence(let items) = try sequence(v.pointee, d) { values = items }
        guard values.count == keys.count else {
            throw ONNXRunError(.invalidData, "map has \(keys.count) keys but \(values.count) values")
        }
        return .map(keys: keys, values: values)
    }

    // MARK: Writing

    /// Serializes `value` as the message its kind calls for (TensorProto for a tensor, ...).
    public static func encode(_ value: Value, name: String) throws -> [UInt8] {
        let arena = CArena()
        switch value {
        case .tensor(let t):
            let p = try arena.tensor(t, name: name)
            return pack(p, onnx__tensor_proto__get_packed_size, onnx__tensor_proto__pack)
        case .sequence:
            let p = try arena.sequence(value, name: name)
            return pack(p, onnx__sequence_proto__get_packed_size, onnx__sequence_proto__pack)
        case .optional:
            let p = try arena.optional(value, name: name)
            return pack(p, onnx__optional_proto__get_packed_size, onnx__optional_proto__pack)
        case .map:
            let p = try arena.map(value, name: name)
            return pack(p, onnx__map_proto__get_packed_size, onnx__map_proto__pack)
        }
    }

    /// Writes `value` to `url` in its protobuf form.
    public static func write(_ value: Value, name: String, to url: URL) throws {
        let bytes = try encode(value, name: name)
        do {
            try Data(bytes).write(to: url)
        } catch {
            throw ONNXRunError(.io, "cannot write file: \(ModelLoader.reason(error))", subject: url.path)
        }
    }

    private static func pack<T>(
        _ p: UnsafeMutablePointer<T>, _ size: (UnsafePointer<T>?) -> Int,
        _ pack: (UnsafePointer<T>?, UnsafeMutablePointer<UInt8>?) -> Int
    ) -> [UInt8] {
        let count = size(p)
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { _ = pack(p, $0.baseAddress) }
        return out
    }
}

/// C memory for building protobuf-c messages; everything is freed together when the arena goes.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []
    /// Tensors whose storage the messages point into, kept alive until packing is done.
    private var retained: [Tensor] = []

    deinit { for b in blocks { free(b) } }

    func allocate<T>(_ type: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
        let raw = calloc(max(count, 1), MemoryLayout<T>.stride)!
        blocks.append(raw)
        return raw.assumingMemoryBound(to: T.self)
    }

    func cString(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }

    func binary(_ s: String) -> ProtobufCBinaryData {
        let bytes = Array(s.utf8)
        let p = allocate(UInt8.self, count: bytes.count)
        for (i, b) in bytes.enumerated() { p[i] = b }
        return ProtobufCBinaryData(len: bytes.count, data: p)
    }

    func pointers<T>(_ items: [UnsafeMutablePointer<T>]) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?> {
        let p = allocate(UnsafeMutablePointer<T>?.self, count: items.count)
        for (i, item) in items.enumerated() { p[i] = item }
        return p
    }

    func tensor(_ t: Tensor, name: String) throws -> UnsafeMutablePointer<Onnx__TensorProto> {
        let p = allocate(Onnx__TensorProto.self)
        onnx__tensor_proto__init(p)
        p.pointee.name = cString(name)
        p.pointee.has_data_type = 1
        p.pointee.data_type = t.dataType.rawValue
        p.pointee.n_dims = t.rank
        let dims = allocate(Int64.self, count: t.rank)
        for (i, d) in t.shape.enumerated() { dims[i] = Int64(d) }
        p.pointee.dims = dims
        if t.dataType == .string {
            let strings = allocate(ProtobufCBinaryData.self, count: t.count)
            for (i, s) in t.strings.enumerated() { strings[i] = binary(s) }
            p.pointee.n_string_data = t.count
            p.pointee.string_data = strings
        } else {
            retained.append(t)
            p.pointee.has_raw_data = 1
            p.pointee.raw_data = ProtobufCBinaryData(len: t.byteCount, data: t.storage.bytes.assumingMemoryBound(to: UInt8.self))
        }
        return p
    }

    func sequence(_ value: Value, name: String) throws -> UnsafeMutablePointer<Onnx__SequenceProto> {
        guard case .sequence(let items) = value else { throw ONNXRunError(.invalidData, "expected a sequence") }
        let p = allocate(Onnx__SequenceProto.self)
        onnx__sequence_proto__init(p)
        p.pointee.name = cString(name)
        p.pointee.has_elem_type = 1
        var tensors: [UnsafeMutablePointer<Onnx__TensorProto>] = []
        var sequences: [UnsafeMutablePointer<Onnx__SequenceProto>] = []
        var optionals: [UnsafeMutablePointer<Onnx__OptionalProto>] = []
        var maps: [UnsafeMutablePointer<Onnx__MapProto>] = []
        for item in items {
            switch item {
            case .tensor(let t): tensors.append(try tensor(t, name: ""))
            case .sequence: sequences.append(try sequence(item, name: ""))
            case .optional: optionals.append(try optional(item, name: ""))
            case .map: maps.append(try map(item, name: ""))
            }
        }
        p.pointee.elem_type = !sequences.isEmpty ? 3 : !maps.isEmpty ? 4 : !optionals.isEmpty ? 5 : 1
        p.pointee.n_tensor_values = tensors.count
        p.pointee.tensor_values = pointers(tensors)
        p.pointee.n_sequence_values = sequences.count
        p.pointee.sequence_values = pointers(sequences)
        p.pointee.n_optional_values = optionals.count
        p.pointee.optional_values = pointers(optionals)
        p.pointee.n_map_values = maps.count
        p.pointee.map_values = pointers(maps)
        return p
    }

    func optional(_ value: Value, name: String) throws -> UnsafeMutablePointer<Onnx__OptionalProto> {
        guard case .optional(let inner) = value else { throw ONNXRunError(.invalidData, "expected an optional") }
        let p = allocate(Onnx__OptionalProto.self)
        onnx__optional_proto__init(p)
        p.pointee.name = cString(name)
        p.pointee.has_elem_type = 1
        switch inner {
        case nil: p.pointee.elem_type = 0
        case .tensor(let t)?:
            p.pointee.elem_type = 1
            p.pointee.tensor_value = try tensor(t, name: "")
        case .sequence?:
            p.pointee.elem_type = 3
            p.pointee.sequence_value = try sequence(inner!, name: "")
        case .map?:
            p.pointee.elem_type = 4
            p.pointee.map_value = try map(inner!, name: "")
        case .optional?:
            p.pointee.elem_type = 5
            p.pointee.optional_value = try optional(inner!, name: "")
        }
        return p
    }

    func map(_ value: Value, name: String) throws -> UnsafeMutablePointer<Onnx__MapProto> {
        guard case .map(let keys, let values) = value else { throw ONNXRunError(.invalidData, "expected a map") }
        let p = allocate(Onnx__MapProto.self)
        onnx__map_proto__init(p)
        p.pointee.name = cString(name)
        p.pointee.has_key_type = 1
        p.pointee.key_type = keys.dataType.rawValue
        if keys.dataType == .string {
            let strings = allocate(ProtobufCBinaryData.self, count: keys.count)
            for (i, s) in keys.strings.enumerated() { strings[i] = binary(s) }
            p.pointee.n_string_keys = keys.count
            p.pointee.string_keys = strings
        } else {
            let ints = try Conversion.integers(keys)
            let buffer = allocate(Int64.self, count: ints.count)
            for (i, v) in ints.enumerated() { buffer[i] = Int64(v) }
            p.pointee.n_keys = ints.count
            p.pointee.keys = buffer
        }
        p.pointee.values = try sequence(.sequence(values), name: "")
        return p
    }
}
