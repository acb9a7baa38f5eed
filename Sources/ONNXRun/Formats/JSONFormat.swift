import Foundation

/// A parsed JSON document, keeping integers exact and booleans distinct from numbers.
indirect enum JSONValue: Decodable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            if let count = array.count { items.reserveCapacity(count) }
            while !array.isAtEnd { items.append(try array.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            var result: [String: JSONValue] = [:]
            for key in object.allKeys { result[key.stringValue] = try object.decode(JSONValue.self, forKey: key) }
            self = .object(result)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() { self = .null }
        else if let b = try? single.decode(Bool.self) { self = .bool(b) }
        else if let i = try? single.decode(Int64.self) { self = .integer(i) }
        else if let d = try? single.decode(Double.self) { self = .number(d) }
        else { self = .string(try single.decode(String.self)) }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// Reads model inputs from JSON and writes outputs as JSON.
///
/// Input forms (all may be mixed per input in the first two):
/// - plain: `{"x": [[1, 2], [3, 4]]}` — shape from nesting, element type from the model;
/// - typed: `{"x": {"shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}}`;
/// - Open Inference Protocol: `{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [...]}]}`.
/// Non-finite floats are written and accepted as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
public enum JSONFormat {
    /// How outputs are written.
    public enum OutputStyle: String, Sendable, CaseIterable {
        /// `{"name": {"datatype": "FP32", "shape": [...], "data": [...]}}` (flat data).
        case typed
        /// `{"name": nested arrays}`.
        case nested
        /// Open Inference Protocol response: `{"outputs": [{"name", "datatype", "shape", "data"}]}`.
        case oip
    }

    /// Parses an input document against the model's declared inputs.
    public static func parseInputs(_ data: Data, inputs declared: [ValueInfo]) throws -> [String: Tensor] {
        let document: JSONValue
        do {
            document = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch let DecodingError.dataCorrupted(context) {
            let detail = (context.underlyingError as NSError?)?.userInfo["NSDebugDescription"] as? String ?? context.debugDescription
            throw ONNXRunError(.invalidData, "not valid JSON: \(detail)")
        } catch {
            throw ONNXRunError(.invalidData, "not valid JSON: \(error)")
        }
        guard case .object(let top) = document else {
            throw ONNXRunError(.invalidData, "the input JSON must be an object mapping input names to values, got \(document.kindName)")
        }
        let types = Dictionary(declared.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        var result: [String: Tensor] = [:]
        if case .array(let entries)? = top["inputs"], types["inputs"] == nil {
            for (index, entry) in entries.enumerated() {
                guard case .object(let fields) = entry, case .string(let name)? = fields["name"] else {
                    throw ONNXRunError(.invalidData, "inputs[\(index)] must be an object with a \"name\"")
                }
                result[name] = try tensor(from: entry, declared: types[name] ?? nil, subject: "input '\(name)'")
            }
            return result
        }
        for (name, value) in top {
            result[name] = try tensor(from: value, declared: types[name] ?? nil, subject: "input '\(name)'")
        }
        return result
    }

    /// Converts one JSON input value (nested arrays, scalar, or typed object) to a tensor.
    static func tensor(from value: JSONValue, declared: ValueType?, subject: String) throws -> Tensor {
        var declaredType: DataType? = nil
        if case .tensor(let t, _)? = declared { declaredType = t }
        do {
            if case .object(let fields) = value {
                guard let data = fields["data"] else { throw ONNXRunError(.invalidData, "a typed input needs \"data\" (and \"shape\", \"datatype\")") }
                var type = declaredType
                if case .string(let name)? = fields["datatype"] {
                    guard let parsed = DataType(name: name) else { throw ONNXRunError(.invalidData, "unknown datatype \"\(name)\"") }
                    type = parsed
                }
                var leaves: [JSONValue] = []
                var nestedShape: [Int] = []
                try flatten(data, into: &leaves, shape: &nestedShape, depth: 0)
                var shape = nestedShape
                if let shapeValue = fields["shape"] {
                    guard case .array(let dims) = shapeValue else { throw ONNXRunError(.invalidData, "\"shape\" must be an array of integers") }
                    shape = try dims.map {
                        guard case .integer(let d) = $0, d >= 0 else { throw ONNXRunError(.invalidData, "\"shape\" must hold non-negative integers") }
                        return Int(d)
                    }
                }
                return try makeTensor(leaves, shape: shape, type: type ?? inferType(leaves))
            }
            var leaves: [JSONValue] = []
            var shape: [Int] = []
            try flatten(value, into: &leaves, shape: &shape, depth: 0)
            return try makeTensor(leaves, shape: shape, type: declaredType ?? inferType(leaves))
        } catch let error as ONNXRunError {
            throw error.about(subject)
        }
    }

    private static func inferType(_ leaves: [JSONValue]) -> DataType {
        if let first = leaves.first {
            if case .bool = first { return .bool }
            if case .string(let s) = first, !["NaN", "Infinity", "-Infinity", "inf", "-inf", "nan"].contains(s) { return .string }
        }
        return .float
    }

    /// Collects the leaves of nested arrays and checks the nesting is rectangular.
    private static func flatten(_ value: JSONValue, into leaves: inout [JSONValue], shape: inout [Int], depth: Int) throws {
        guard depth < 64 else { throw ONNXRunError(.invalidData, "arrays nest deeper than 64 levels") }
        guard case .array(let items) = value else {
            if depth != shape.count { throw ONNXRunError(.invalidData, "ragged nested arrays: a value appears at depth \(depth), expected an array of depth \(shape.count)") }
            leaves.append(value)
            return
        }
        if depth == shape.count {
            if depth == 0 || leaves.isEmpty { shape.append(items.count) } else {
                throw ONNXRunError(.invalidData, "ragged nested arrays: an array appears at depth \(depth) where numbers were found before")
            }
        } else if shape[depth] != items.count {
            throw ONNXRunError(.invalidData, "ragged nested arrays: dimension \(depth) has lengths \(shape[depth]) and \(items.count)")
        }
        if items.isEmpty && depth + 1 == shape.count { return }
        for item in items { try flatten(item, into: &leaves, shape: &shape, depth: depth + 1) }
    }

    private static func number(_ v: JSONValue) throws -> Double {
        switch v {
        case .integer(let i): return Double(i)
        case .number(let d): return d
        case .bool(let b): return b ? 1 : 0
        case .string("NaN"), .string("nan"): return .nan
        case .string("Infinity"), .string("inf"): return .infinity
        case .string("-Infinity"), .string("-inf"): return -.infinity
        default: throw ONNXRunError(.invalidData, "expected a number, got \(v.kindName)")
        }
    }

    private static func integer<T: FixedWidthInteger>(_ v: JSONValue, _: T.Type, _ type: DataType) throws -> T {
        switch v {
        case .integer(let i):
            guard let x = T(exactly: i) else { throw ONNXRunError(.invalidData, "\(i) does not fit in \(type)") }
            return x
        case .number(let d):
            guard let x = T(exactly: d) else { throw ONNXRunError(.invalidData, "\(d) is not a valid \(type) value") }
            return x
        case .bool(let b): return b ? 1 : 0
        default: throw ONNXRunError(.invalidData, "expected an integer, got \(v.kindName)")
        }
    }

    static func makeTensor(_ leaves: [JSONValue], shape: [Int], type: DataType) throws -> Tensor {
        let count = try Tensor.elementCount(shape)
        guard count == leaves.count else {
            throw ONNXRunError(.invalidData, "shape \(shape) holds \(count) elements but \(leaves.count) values were given")
        }
        if type == .string {
            return try Tensor(shape: shape, strings: leaves.map {
                guard case .string(let s) = $0 else { throw ONNXRunError(.invalidData, "expected a string, got \($0.kindName)") }
                return s
            })
        }
        let t = try Tensor(uninitialized: type, shape: shape)
        func fill<T>(_: T.Type, _ convert: (JSONValue) throws -> T) throws {
            let p = t.pointer(as: T.self)
            for (i, leaf) in leaves.enumerated() { p[i] = try convert(leaf) }
        }
        switch type {
        case .float: try fill(Float.self) { Float(try number($0)) }
        case .double: try fill(Double.self) { try number($0) }
        case .float16: try fill(Float16.self) { Float16(Float(try number($0))) }
        case .bfloat16: try fill(UInt16.self) { Conversion.bfloat16Bits(Float(try number($0))) }
        case .int8: try fill(Int8.self) { try integer($0, Int8.self, type) }
        case .int16: try fill(Int16.self) { try integer($0, Int16.self, type) }
        case .int32: try fill(Int32.self) { try integer($0, Int32.self, type) }
        case .int64: try fill(Int64.self) { try integer($0, Int64.self, type) }
        case .uint8: try fill(UInt8.self) { try integer($0, UInt8.self, type) }
        case .uint16: try fill(UInt16.self) { try integer($0, UInt16.self, type) }
        case .uint32: try fill(UInt32.self) { try integer($0, UInt32.self, type) }
        case .uint64: try fill(UInt64.self) { try integer($0, UInt64.self, type) }
        case .bool:
            try fill(UInt8.self) {
                switch $0 {
                case .bool(let b): return b ? 1 : 0
                case .integer(let i) where i == 0 || i == 1: return UInt8(i)
                default: throw ONNXRunError(.invalidData, "expected true/false, got \($0.kindName)")
                }
            }
        default: throw ONNXRunError(.unsupportedType, "JSON input of type \(type) is not supported")
        }
        return t
    }

    // MARK: Output

    /// Writes outputs (in order) as a JSON document in `style`.
    public static func encodeOutputs(_ outputs: [(name: String, value: Value)], style: OutputStyle) throws -> String {
        var out = ""
        switch style {
        case .oip:
            out += "{\"outputs\": ["
            for (i, (name, value)) in outputs.enumerated() {
                out += i == 0 ? "\n  " : ",\n  "
                out += "{\"name\": \(quote(name)), " + (try typedBody(value))
                out += "}"
            }
            out += "\n]}\n"
        case .typed, .nested:
            out += "{"
            for (i, (name, value)) in outputs.enumerated() {
                out += i == 0 ? "\n  " : ",\n  "
                out += quote(name) + ": "
                out += style == .typed ? "{" + (try typedBody(value)) + "}" : try nested(value)
            }
            out += "\n}\n"
        }
        return out
    }

    private static func typedBody(_ value: Value) throws -> String {
        guard case .tensor(let t) = value else {
            return "\"datatype\": \"\(value.typeDescription)\", \"data\": " + (try nested(value))
        }
        let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
        let data = try scalars(t).joined(separator: ", ")
        return "\"datatype\": \"\(t.dataType.inferenceProtocolName)\", \"shape\": \(shape), \"data\": [\(data)]"
    }

    /// A value as nested JSON arrays (sequences as arrays, absent optionals as null).
    static func nested(_ value: Value) throws -> String {
        switch value {
        case .tensor(let t):
            let items = try scalars(t)
            if t.rank == 0 { return items.first ?? "null" }
            var position = 0
            func build(_ axis: Int) -> String {
                if axis == t.rank - 1 {
                    let row = items[position..<position + t.shape[axis]].joined(separator: ", ")
                    position += t.shape[axis]
                    return "[" + row + "]"
                }
                return "[" + (0..<t.shape[axis]).map { _ in build(axis + 1) }.joined(separator: ", ") + "]"
            }
            return build(0)
        case .sequence(let items): return "[" + (try items.map(nested)).joined(separator: ", ") + "]"
        case .optional(let inner): return try inner.map(nested) ?? "null"
        case .map(let keys, let values):
            let names = keys.dataType == .string ? keys.strings : try Conversion.integers(keys).map(String.init)
            return "{" + (try zip(names, values).map { quote($0) + ": " + (try nested($1)) }).joined(separator: ", ") + "}"
        }
    }

    /// Elements of a tensor formatted as JSON scalars.
    static func scalars(_ t: Tensor) throws -> [String] {
        func floats<T: BinaryFloatingPoint & LosslessStringConvertible>(_ p: UnsafeMutablePointer<T>) -> [String] {
            (0..<t.count).map { i in
                let v = p[i]
                if v.isNaN { return "\"NaN\"" }
                if v.isInfinite { return v > 0 ? "\"Infinity\"" : "\"-Infinity\"" }
                return v.description
            }
        }
        switch t.dataType {
        case .float: return floats(t.pointer(as: Float.self))
        case .double: return floats(t.pointer(as: Double.self))
        case .float16: return floats(t.pointer(as: Float16.self))
        case .bfloat16:
            let f = try Conversion.cast(t, to: .float)
            return floats(f.pointer(as: Float.self))
        case .bool: return (0..<t.count).map { t.pointer(as: UInt8.self)[$0] != 0 ? "true" : "false" }
        case .string: return t.strings.map(quote)
        case .uint64: return (0..<t.count).map { String(t.pointer(as: UInt64.self)[$0]) }
        default:
            if let read = Conversion.integerReader(t) { return (0..<t.count).map { String(read($0)) } }
            if t.dataType.isFloatingPoint {
                // float8/float4: widen to double and format like the other float types.
                let read = try Conversion.reader(t)
                let wide = try Tensor(shape: t.shape, scalars: (0..<t.count).map(read))
                return floats(wide.pointer(as: Double.self))
            }
            if [.int4, .uint4, .int2, .uint2].contains(t.dataType) {
                let read = try Conversion.reader(t)
                return (0..<t.count).map { String(Int(read($0))) }
            }
            throw ONNXRunError(.unsupportedType, "JSON output of type \(t.dataType) is not supported")
        }
    }

    /// A JSON string literal for `s` (quotes and escapes).
    public static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
