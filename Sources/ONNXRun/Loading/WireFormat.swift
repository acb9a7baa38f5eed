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
        func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while position < bytes.count && shift < 64 {
                let byte = bytes[position]
                position += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
            return nil
        }
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
}
