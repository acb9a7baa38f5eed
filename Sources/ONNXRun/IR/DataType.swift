/// The element type of a tensor, with the ONNX `TensorProto.DataType` code as raw value.
public enum DataType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case float = 1
    case uint8 = 2
    case int8 = 3
    case uint16 = 4
    case int16 = 5
    case int32 = 6
    case int64 = 7
    case string = 8
    case bool = 9
    case float16 = 10
    case double = 11
    case uint32 = 12
    case uint64 = 13
    case complex64 = 14
    case complex128 = 15
    case bfloat16 = 16
    case float8e4m3fn = 17
    case float8e4m3fnuz = 18
    case float8e5m2 = 19
    case float8e5m2fnuz = 20
    case uint4 = 21
    case int4 = 22
    case float4e2m1 = 23
    case float8e8m0 = 24
    case uint2 = 25
    case int2 = 26

    /// Bits one element occupies in packed ONNX storage (strings report 0: they are stored out of line).
    public var bitWidth: Int {
        switch self {
        case .bool, .uint8, .int8, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0: 8
        case .uint16, .int16, .float16, .bfloat16: 16
        case .float, .int32, .uint32: 32
        case .double, .int64, .uint64, .complex64: 64
        case .complex128: 128
        case .uint4, .int4, .float4e2m1: 4
        case .uint2, .int2: 2
        case .string: 0
        }
    }

    /// Bytes needed to store `count` elements of this type in packed ONNX form.
    public func byteCount(forElements count: Int) -> Int {
        switch bitWidth {
        case 4: (count + 1) / 2
        case 2: (count + 3) / 4
        default: count * (bitWidth / 8)
        }
    }

    /// True for types whose elements are IEEE or ONNX floating-point numbers.
    public var isFloatingPoint: Bool {
        switch self {
        case .float, .double, .float16, .bfloat16, .float8e4m3fn, .float8e4m3fnuz, .float8e5m2,
            .float8e5m2fnuz, .float4e2m1, .float8e8m0:
            true
        default: false
        }
    }

    /// The lowercase ONNX name, e.g. `float`, `int64`, `float8e4m3fn`.
    public var description: String {
        switch self {
        case .float: "float"
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .string: "string"
        case .bool: "bool"
        case .float16: "float16"
        case .double: "double"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .complex64: "complex64"
        case .complex128: "complex128"
        case .bfloat16: "bfloat16"
        case .float8e4m3fn: "float8e4m3fn"
        case .float8e4m3fnuz: "float8e4m3fnuz"
        case .float8e5m2: "float8e5m2"
        case .float8e5m2fnuz: "float8e5m2fnuz"
        case .uint4: "uint4"
        case .int4: "int4"
        case .float4e2m1: "float4e2m1"
        case .float8e8m0: "float8e8m0"
        case .uint2: "uint2"
        case .int2: "int2"
        }
    }

    /// The Open Inference Protocol / KServe datatype name (`FP32`, `INT64`, `BOOL`, `BYTES`, ...).
    public var inferenceProtocolName: String {
        switch self {
        case .float: "FP32"
        case .double: "FP64"
        case .float16: "FP16"
        case .bfloat16: "BF16"
        case .int8: "INT8"
        case .int16: "INT16"
        case .int32: "INT32"
        case .int64: "INT64"
        case .uint8: "UINT8"
        case .uint16: "UINT16"
        case .uint32: "UINT32"
        case .uint64: "UINT64"
        case .bool: "BOOL"
        case .string: "BYTES"
        default: description.uppercased()
        }
    }

    /// Parses an Open Inference Protocol datatype (`FP32`) or an ONNX type name (`float`, `tensor(float)`).
    public init?(name: String) {
        var key = name.lowercased()
        if key.hasPrefix("tensor(") && key.hasSuffix(")") { key = String(key.dropFirst(7).dropLast()) }
        let aliases: [String: DataType] = [
            "fp32": .float, "float32": .float, "fp64": .double, "float64": .double, "fp16": .float16,
            "bf16": .bfloat16, "bytes": .string, "str": .string, "boolean": .bool,
        ]
        if let type = aliases[key] {
            self = type
            return
        }
        guard let type = DataType.allCases.first(where: { $0.description == key }) else { return nil }
        self = type
    }
}
