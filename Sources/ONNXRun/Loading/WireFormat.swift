/// A schema-aware scan of protobuf bytes that bounds message nesting before protobuf-c parses them.
///
/// protobuf-c (and the IR decoder after it) recurse once per nested message; a hostile file that
/// nests subgraphs or types thousands of levels deep would overflow the stack. This scan follows
/// only the fields that can nest and fails cleanly past `limit` levels. Anything it cannot make
/// sense of is left for protobuf-c to reject.
enum WireFormat {
    /// Deepest message nesting accepted. Real models stay far below it (a graph inside a graph
    /// costs three levels: node, attribute, graph).
    static let maximumNesting = 150

    /// The message kinds whose nesting fields the scan follows.
    enum Kind {
        case model, graph, node, attribute, function, trainingInfo, valueInfo, type, typeElement, typeMap
        case sequence, optional, map

        /// Child message kind for a length-delimited field number.
        func child(_ field: UInt64) -> Kind? {
            switch (self, field) {
            case (.model, 7): .graph
            case (.model, 25): .function
            case (.model, 20): .trainingInfo
            case (.trainingInfo, 1), (.trainingInfo, 2): .graph
            case (.graph, 1): .node
            case (.graph, 11), (.graph, 12), (.graph, 13): .valueInfo
            case (.function, 7): .node
            case (.function, 12): .valueInfo
            case (.node, 5): .attribute
            case (.attribute, 6), (.attribute, 11): .graph
            case (.attribute, 14), (.attribute, 15): .type
            case (.valueInfo, 2): .type
            case (.type, 4), (.type, 9): .typeElement
            case (.type, 5): .typeMap
            case (.typeElement, 1): .type
            case (.typeMap, 2): .type
            case (.sequence, 5): .sequence
            case (.sequence, 6): .map
            case (.sequence, 7): .optional
            case (.optional, 5): .sequence
            case (.optional, 6): .map
            case (.optional, 7): .optional
            case (.map, 5): .sequence
            default: nil
            }
        }
    }

    /// Throws when messages of `kind` in `bytes` nest deeper than `limit`.
    static func checkNesting(_ bytes: UnsafeRawBufferPointer, as kind: Kind = .model, limit: Int) throws {
        if depth(bytes, kind: kind, level: 1, limit: limit) > limit {
            throw ONNXRunError(.invalidModel, "messages nest more than \(limit) levels deep (subgraphs or types nested too deeply)")
        }
    }

    /// The nesting depth found, stopping early once it exceeds `limit`.
    private static func depth(_ bytes: UnsafeRawBufferPointer, kind: Kind, level: Int, limit: Int) -> Int {
        if level > limit { return level }
        var deepest = level
        var position = 0
        func varint() -> UInt64? { readVarint(bytes, at: &position, end: bytes.count) }
        while position < bytes.count {
            guard let key = varint() else { return deepest }
            switch key & 7 {
            case 0: guard varint() != nil else { return deepest }
            case 1: position += 8
            case 5: position += 4
            case 2:
                guard let length = varint(), length <= UInt64(bytes.count - position) else { return deepest }
                let end = position + Int(length)
                if let child = kind.child(key >> 3) {
                    let inner = UnsafeRawBufferPointer(rebasing: bytes[position..<end])
                    deepest = max(deepest, depth(inner, kind: child, level: level + 1, limit: limit))
                    if deepest > limit { return deepest }
                }
                position = end
            default: return deepest  // groups or garbage: protobuf-c decides
            }
        }
        return deepest
    }

    // MARK: Initializer payloads

    /// A serialized ModelProto without the large `raw_data` payloads of its main graph's
    /// initializers, and where each payload is in the original bytes.
    struct Detached {
        /// The model's bytes with those `raw_data` fields removed (and lengths re-encoded).
        var skeleton: [UInt8]
        /// Byte range of each removed payload in the original bytes, by the initializer's
        /// position in the graph's `initializer` list.
        var payloads: [Int: Range<Int>]
    }

    /// Splits `bytes` so protobuf-c parses only the small skeleton and each weight is copied once,
    /// straight from the file mapping, by the decoder. Payloads shorter than `minimum` stay in
    /// place. Returns nil when there is nothing to detach or the bytes are not the plain layout
    /// this expects (the regular parse then decides, with its own errors).
    static func detachInitializerPayloads(_ bytes: UnsafeRawBufferPointer, minimum: Int = 4096) -> Detached? {
        var payloads: [Int: Range<Int>] = [:]
        var skeleton: [UInt8] = []
        var sawGraph = false
        guard let fields = fields(bytes, in: 0..<bytes.count) else { return nil }
        for field in fields {
            guard field.number == 7 && field.wireType == 2 else {
                skeleton.append(contentsOf: bytes[field.whole])
                continue
            }
            guard !sawGraph, let graph = detachedGraph(bytes, field.payload, minimum: minimum, into: &payloads) else { return nil }
            sawGraph = true
            appendField(7, graph, to: &skeleton)
        }
        return payloads.isEmpty ? nil : Detached(skeleton: skeleton, payloads: payloads)
    }

    /// The GraphProto in `range` with its initializers' large payloads removed.
    private static func detachedGraph(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, minimum: Int, into payloads: inout [Int: Range<Int>]) -> [UInt8]? {
        guard let fields = fields(bytes, in: range) else { return nil }
        var graph: [UInt8] = []
        var initializerIndex = 0
        for field in fields {
            guard field.number == 5 && field.wireType == 2 else {
                graph.append(contentsOf: bytes[field.whole])
                continue
            }
            defer { initializerIndex += 1 }
            guard let tensorFields = Self.fields(bytes, in: field.payload) else { return nil }
            let raw = tensorFields.filter { $0.number == 9 && $0.wireType == 2 }
            guard raw.count == 1, raw[0].payload.count >= minimum else {
                graph.append(contentsOf: bytes[field.whole])
                continue
            }
            payloads[initializerIndex] = raw[0].payload
            var tensor: [UInt8] = []
            for tensorField in tensorFields where !(tensorField.number == 9 && tensorField.wireType == 2) {
                tensor.append(contentsOf: bytes[tensorField.whole])
            }
            appendField(5, tensor, to: &graph)
        }
        return graph
    }

    /// One field of a message: its number, wire type, whole encoding and (length-delimited) payload.
    private struct Field {
        var number: UInt64
        var wireType: UInt64
        var whole: Range<Int>
        var payload: Range<Int>
    }

    /// The fields of the message in `range`, or nil if they do not parse.
    private static func fields(_ bytes: UnsafeRawBufferPointer, in range: Range<Int>) -> [Field]? {
        var result: [Field] = []
        var position = range.lowerBound
        func varint() -> UInt64? { readVarint(bytes, at: &position, end: range.upperBound) }
        while position < range.upperBound {
            let start = position
            guard let key = varint(), key >> 3 != 0 else { return nil }
            var payload = position..<position
            switch key & 7 {
            case 0: guard varint() != nil else { return nil }
            case 1, 5:
                let width = key & 7 == 1 ? 8 : 4
                guard range.upperBound - position >= width else { return nil }
                position += width
            case 2:
                guard let length = varint(), length <= UInt64(range.upperBound - position) else { return nil }
                payload = position..<(position + Int(length))
                position = payload.upperBound
            default: return nil
            }
            result.append(Field(number: key >> 3, wireType: key & 7, whole: start..<position, payload: payload))
        }
        return result
    }

    /// The varint at `position` (advanced past it), or nil when it runs past `end` or 64 bits.
    private static func readVarint(_ bytes: UnsafeRawBufferPointer, at position: inout Int, end: Int) -> UInt64? {
        var value: UInt64 = 0, shift: UInt64 = 0
        while position < end && shift < 64 {
            let byte = bytes[position]
            position += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }

    /// Appends a length-delimited field.
    private static func appendField(_ number: UInt64, _ payload: [UInt8], to out: inout [UInt8]) {
        appendVarint(number << 3 | 2, to: &out)
        appendVarint(UInt64(payload.count), to: &out)
        out.append(contentsOf: payload)
    }

    private static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}
