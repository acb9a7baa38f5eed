/// Decoding of the packed ONNX number formats: float8 (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e8m0),
/// float4e2m1, and 4-bit integers (two per byte, low nibble first).
enum SmallFloat {
    /// The float value of an 8-bit float of `type`.
    static func decode(_ bits: UInt8, as type: DataType) -> Float {
        let negative = bits & 0x80 != 0
        switch type {
        case .float8e4m3fn:
            if bits & 0x7F == 0x7F { return .nan }
            return value(negative, exponent: Int(bits >> 3) & 0xF, mantissa: Int(bits & 7), mantissaBits: 3, bias: 7)
        case .float8e4m3fnuz:
            if bits == 0x80 { return .nan }
            return value(negative, exponent: Int(bits >> 3) & 0xF, mantissa: Int(bits & 7), mantissaBits: 3, bias: 8)
        case .float8e5m2:
            let exponent = Int(bits >> 2) & 0x1F
            if exponent == 0x1F { return bits & 3 == 0 ? (negative ? -.infinity : .infinity) : .nan }
            return value(negative, exponent: exponent, mantissa: Int(bits & 3), mantissaBits: 2, bias: 15)
        case .float8e5m2fnuz:
            if bits == 0x80 { return .nan }
            return value(negative, exponent: Int(bits >> 2) & 0x1F, mantissa: Int(bits & 3), mantissaBits: 2, bias: 16)
        case .float8e8m0:
            if bits == 0xFF { return .nan }
            return Float(sign: .plus, exponent: Int(bits) - 127, significand: 1)
        default:
            return .nan
        }
    }

    /// The float value of a 4-bit float (e2m1) held in the low nibble of `nibble`.
    static func decodeFloat4(_ nibble: UInt8) -> Float {
        value(nibble & 0x8 != 0, exponent: Int(nibble >> 1) & 3, mantissa: Int(nibble & 1), mantissaBits: 1, bias: 1)
    }

    @inline(__always)
    private static func value(_ negative: Bool, exponent: Int, mantissa: Int, mantissaBits: Int, bias: Int) -> Float {
        let scale = Float(1 << mantissaBits)
        let magnitude: Float = exponent == 0
            ? Float(mantissa) / scale * Float(sign: .plus, exponent: 1 - bias, significand: 1)
            : (1 + Float(mantissa) / scale) * Float(sign: .plus, exponent: exponent - bias, significand: 1)
        return negative ? -magnitude : magnitude
    }

    /// Element `i` of a packed 4-bit tensor: the nibble, sign-extended for int4.
    @inline(__always)
    static func nibble(_ bytes: UnsafeMutablePointer<UInt8>, _ i: Int, signed: Bool) -> Int {
        let byte = bytes[i >> 1]
        let raw = Int(i & 1 == 0 ? byte & 0xF : byte >> 4)
        return signed && raw >= 8 ? raw - 16 : raw
    }
}
