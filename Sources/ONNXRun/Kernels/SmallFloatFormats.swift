import Foundation

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

/// Encoding into the packed ONNX number formats, rounding to nearest even.
extension SmallFloat {
    /// Layout of a small float format.
    struct Format {
        let mantissaBits: Int
        let bias: Int
        let maxFinite: Double
        /// Bits of +∞ when the format has infinities.
        let infinity: UInt8?
        /// Bits of NaN (sign added for formats whose NaN has one).
        let nan: UInt8
        /// "fnuz" formats: no negative zero, a single NaN (0x80).
        let unsignedZero: Bool
        let exponentBits: Int

        static func of(_ type: DataType) -> Format? {
            switch type {
            case .float8e4m3fn: Format(mantissaBits: 3, bias: 7, maxFinite: 448, infinity: nil, nan: 0x7F, unsignedZero: false, exponentBits: 4)
            case .float8e4m3fnuz: Format(mantissaBits: 3, bias: 8, maxFinite: 240, infinity: nil, nan: 0x80, unsignedZero: true, exponentBits: 4)
            case .float8e5m2: Format(mantissaBits: 2, bias: 15, maxFinite: 57344, infinity: 0x7C, nan: 0x7E, unsignedZero: false, exponentBits: 5)
            case .float8e5m2fnuz: Format(mantissaBits: 2, bias: 16, maxFinite: 57344, infinity: nil, nan: 0x80, unsignedZero: true, exponentBits: 5)
            case .float4e2m1: Format(mantissaBits: 1, bias: 1, maxFinite: 6, infinity: nil, nan: 0x8, unsignedZero: false, exponentBits: 2)
            default: nil
            }
        }

        var signBit: UInt8 { UInt8(1) << UInt8(exponentBits + mantissaBits) }
    }

    /// The bits of `value` in `format`; out-of-range values saturate to ±max, or become ∞/NaN
    /// when `saturate` is false.
    static func encode(_ value: Double, _ f: Format, saturate: Bool) -> UInt8 {
        let negative = value.sign == .minus
        let sign: UInt8 = negative ? f.signBit : 0
        if value.isNaN { return f.unsignedZero ? f.nan : (f.exponentBits == 2 ? f.nan : (f.nan | sign)) }
        let magnitude = Swift.abs(value)
        let minNormalExponent = 1 - f.bias
        // Round to the grid of representable values around `magnitude`.
        var rounded: Double
        if magnitude.isInfinite {
            rounded = .infinity
        } else if magnitude == 0 {
            rounded = 0
        } else {
            let exponent = Swift.max(Int(magnitude.exponent), minNormalExponent)
            let quantum = Double(sign: .plus, exponent: exponent - f.mantissaBits, significand: 1)
            rounded = (magnitude / quantum).rounded(.toNearestOrEven) * quantum
        }
        if rounded > f.maxFinite {
            if saturate || (f.infinity == nil && !f.unsignedZero && f.exponentBits == 2) { return sign | encodeFinite(f.maxFinite, f) }
            if let infinity = f.infinity { return sign | infinity }
            return f.unsignedZero ? f.nan : (f.nan | sign)
        }
        if rounded == 0 { return f.unsignedZero ? 0 : sign }
        return sign | encodeFinite(rounded, f)
    }

    /// Bits (without sign) of an exactly representable positive value.
    private static func encodeFinite(_ v: Double, _ f: Format) -> UInt8 {
        let minNormalExponent = 1 - f.bias
        let exponent = Int(v.exponent)
        if exponent < minNormalExponent {
            let mantissa = Int(v / Double(sign: .plus, exponent: minNormalExponent - f.mantissaBits, significand: 1))
            return UInt8(mantissa)
        }
        let mantissa = Int((v / Double(sign: .plus, exponent: exponent, significand: 1) - 1) * Double(1 << f.mantissaBits))
        return UInt8((exponent + f.bias) << f.mantissaBits | mantissa)
    }

    /// float8e8m0 (a power of two 2^(e−127)): rounds the exponent up, down or to nearest.
    static func encodeE8M0(_ value: Double, roundMode: String, saturate: Bool) -> UInt8 {
        if value.isNaN || value <= 0 && value != 0 { return 0xFF }
        if value == 0 { return 0 }
        if value.isInfinite { return saturate ? 0xFE : 0xFF }
        let exact = Foundation.log2(value)
        let e: Double = switch roundMode {
        case "down": exact.rounded(.down)
        case "nearest": exact.rounded(.toNearestOrEven)
        default: exact.rounded(.up)
        }
        let biased = Int(e) + 127
        if biased > 254 { return saturate ? 0xFE : 0xFF }
        return UInt8(Swift.max(0, biased))
    }
}
