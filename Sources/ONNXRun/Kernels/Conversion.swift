/// Element type conversions shared by Cast and by kernels that compute in a wider type.
enum Conversion {
    /// float32 → bfloat16 bits, rounding to nearest even (NaN stays NaN).
    @inline(__always)
    static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounding: UInt32 = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }

    /// bfloat16 bits → float32.
    @inline(__always)
    static func float(bfloat16 bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// Reads element `i` of `t` as a Double (numeric and bool types).
    static func reader(_ t: Tensor) throws -> (Int) -> Double {
        switch t.dataType {
        case .float: let p = t.pointer(as: Float.self); return { Double(p[$0]) }
        case .double: let p = t.pointer(as: Double.self); return { p[$0] }
        case .float16: let p = t.pointer(as: Float16.self); return { Double(p[$0]) }
        case .bfloat16: let p = t.pointer(as: UInt16.self); return { Double(float(bfloat16: p[$0])) }
        case .int8: let p = t.pointer(as: Int8.self); return { Double(p[$0]) }
        case .int16: let p = t.pointer(as: Int16.self); return { Double(p[$0]) }
        case .int32: let p = t.pointer(as: Int32.self); return { Double(p[$0]) }
        case .int64: let p = t.pointer(as: Int64.self); return { Double(p[$0]) }
        case .uint8, .bool: let p = t.pointer(as: UInt8.self); return { Double(p[$0]) }
        case .uint16: let p = t.pointer(as: UInt16.self); return { Double(p[$0]) }
        case .uint32: let p = t.pointer(as: UInt32.self); return { Double(p[$0]) }
        case .uint64: let p = t.pointer(as: UInt64.self); return { Double(p[$0]) }
        case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0:
            let p = t.pointer(as: UInt8.self), type = t.dataType
            return { Double(SmallFloat.decode(p[$0], as: type)) }
        case .float4e2m1:
            let p = t.pointer(as: UInt8.self)
            return { Double(SmallFloat.decodeFloat4(UInt8(SmallFloat.nibble(p, $0, signed: false)))) }
        case .int4, .uint4:
            let p = t.pointer(as: UInt8.self), signed = t.dataType == .int4
            return { Double(SmallFloat.nibble(p, $0, signed: signed)) }
        case .int2, .uint2:
            let p = t.pointer(as: UInt8.self), signed = t.dataType == .int2
            return { i in
                let raw = Int((p[i >> 2] >> UInt8((i & 3) * 2)) & 3)
                return Double(signed && raw >= 2 ? raw - 4 : raw)
            }
        default: throw ONNXRunError(.unsupportedType, "conversion from \(t.dataType) is not supported")
        }
    }

    /// Reads element `i` of an integer or bool tensor exactly as Int64 (uint64 wraps).
    static func integerReader(_ t: Tensor) -> ((Int) -> Int64)? {
        switch t.dataType {
        case .int8: let p = t.pointer(as: Int8.self); return { Int64(p[$0]) }
        case .int16: let p = t.pointer(as: Int16.self); return { Int64(p[$0]) }
        case .int32: let p = t.pointer(as: Int32.self); return { Int64(p[$0]) }
        case .int64: let p = t.pointer(as: Int64.self); return { p[$0] }
        case .uint8, .bool: let p = t.pointer(as: UInt8.self); return { Int64(p[$0]) }
        case .uint16: let p = t.pointer(as: UInt16.self); return { Int64(p[$0]) }
        case .uint32: let p = t.pointer(as: UInt32.self); return { Int64(p[$0]) }
        case .uint64: let p = t.pointer(as: UInt64.self); return { Int64(bitPattern: p[$0]) }
        default: return nil
        }
    }

    /// Converts a Double to an integer type the way C casts do for in-range values, saturating NaN/∞ to 0/extremes.
    @inline(__always)
    static func toInteger<T: FixedWidthInteger>(_ v: Double, _: T.Type) -> T {
        if v.isNaN { return 0 }
        if v >= Double(T.max) { return T.max }
        if v <= Double(T.min) { return T.min }
        return T(v.rounded(.towardZero))
    }

    /// A copy of `t` converted to `type`. `saturate` (Cast opset 19+) clamps values too large for
    /// a float8 type to its largest finite value; `roundMode` is float8e8m0's rounding.
    static func cast(_ t: Tensor, to type: DataType, saturate: Bool = true, roundMode: String = "up") throws -> Tensor {
        if t.dataType == type { return t }
        if let packed = try castToPacked(t, type, saturate: saturate, roundMode: roundMode) { return packed }
        let out = try Tensor(uninitialized: type, shape: t.shape)
        let n = t.count
        if let exact = integerReader(t), type.isInteger || type == .bool {
            try writeIntegers(out, n) { exact($0) }
            return out
        }
        if type == .float, t.dataType == .float16 {
            let s = t.pointer(as: Float16.self), d = out.pointer(as: Float.self)
            for i in 0..<n { d[i] = Float(s[i]) }
            return out
        }
        if type == .float, t.dataType == .bfloat16 {
            let s = t.pointer(as: UInt16.self), d = out.pointer(as: Float.self)
            for i in 0..<n { d[i] = float(bfloat16: s[i]) }
            return out
        }
        let read = try reader(t)
        switch type {
        case .float: let d = out.pointer(as: Float.self); for i in 0..<n { d[i] = Float(read(i)) }
        case .double: let d = out.pointer(as: Double.self); for i in 0..<n { d[i] = read(i) }
        case .float16:
            let d = out.pointer(as: Float16.self)
            if t.dataType == .float {
                let s = t.pointer(as: Float.self)
                for i in 0..<n { d[i] = Float16(s[i]) }
            } else {
                for i in 0..<n { d[i] = Float16(read(i)) }
            }
        case .bfloat16: let d = out.pointer(as: UInt16.self); for i in 0..<n { d[i] = bfloat16Bits(Float(read(i))) }
        case .bool: let d = out.pointer(as: UInt8.self); for i in 0..<n { d[i] = read(i) != 0 ? 1 : 0 }
        case .int8: let d = out.pointer(as: Int8.self); for i in 0..<n { d[i] = toInteger(read(i), Int8.self) }
        case .int16: let d = out.pointer(as: Int16.self); for i in 0..<n { d[i] = toInteger(read(i), Int16.self) }
        case .int32: let d = out.pointer(as: Int32.self); for i in 0..<n { d[i] = toInteger(read(i), Int32.self) }
        case .int64: let d = out.pointer(as: Int64.self); for i in 0..<n { d[i] = toInteger(read(i), Int64.self) }
        case .uint8: let d = out.pointer(as: UInt8.self); for i in 0..<n { d[i] = toInteger(read(i), UInt8.self) }
        case .uint16: let d = out.pointer(as: UInt16.self); for i in 0..<n { d[i] = toInteger(read(i), UInt16.self) }
        case .uint32: let d = out.pointer(as: UInt32.self); for i in 0..<n { d[i] = toInteger(read(i), UInt32.self) }
        case .uint64: let d = out.pointer(as: UInt64.self); for i in 0..<n { d[i] = toInteger(read(i), UInt64.self) }
        default: throw ONNXRunError(.unsupportedType, "conversion from \(t.dataType) to \(type) is not supported")
        }
        return out
    }

    /// Conversion into float8, float4 and 2/4-bit integer types; nil for other targets.
    private static func castToPacked(_ t: Tensor, _ type: DataType, saturate: Bool, roundMode: String) throws -> Tensor? {
        let bits: Int
        switch type {
        case .float8e4m3fn, .float8e4m3fnuz, .float8e5m2, .float8e5m2fnuz, .float8e8m0: bits = 8
        case .float4e2m1, .int4, .uint4: bits = 4
        case .int2, .uint2: bits = 2
        default: return nil
        }
        let out = try Tensor(zeros: type, shape: t.shape)
        let p = out.pointer(as: UInt8.self)
        let exact = integerReader(t)
        let read = try reader(t)
        let format = SmallFloat.Format.of(type)
        for i in 0..<t.count {
            let code: UInt8
            switch type {
            case .float8e8m0: code = SmallFloat.encodeE8M0(read(i), roundMode: roundMode, saturate: saturate)
            case .int4, .uint4, .int2, .uint2:
                // Integers wrap to the low bits (two's complement), as the reference does.
                let v = exact.map { $0(i) } ?? { let d = read(i); return d.isFinite ? Int64(d.rounded(.towardZero)) : 0 }()
                code = UInt8(truncatingIfNeeded: v) & UInt8((1 << bits) - 1)
            default: code = SmallFloat.encode(read(i), format!, saturate: saturate)
            }
            if bits == 8 {
                p[i] = code
            } else {
                let perByte = 8 / bits
                p[i / perByte] |= code << UInt8((i % perByte) * bits)
            }
        }
        return out
    }

    private static func writeIntegers(_ out: Tensor, _ n: Int, _ value: (Int) -> Int64) throws {
        switch out.dataType {
        case .bool: let d = out.pointer(as: UInt8.self); for i in 0..<n { d[i] = value(i) != 0 ? 1 : 0 }
        case .int8: let d = out.pointer(as: Int8.self); for i in 0..<n { d[i] = Int8(truncatingIfNeeded: value(i)) }
        case .int16: let d = out.pointer(as: Int16.self); for i in 0..<n { d[i] = Int16(truncatingIfNeeded: value(i)) }
        case .int32: let d = out.pointer(as: Int32.self); for i in 0..<n { d[i] = Int32(truncatingIfNeeded: value(i)) }
        case .int64: let d = out.pointer(as: Int64.self); for i in 0..<n { d[i] = value(i) }
        case .uint8: let d = out.pointer(as: UInt8.self); for i in 0..<n { d[i] = UInt8(truncatingIfNeeded: value(i)) }
        case .uint16: let d = out.pointer(as: UInt16.self); for i in 0..<n { d[i] = UInt16(truncatingIfNeeded: value(i)) }
        case .uint32: let d = out.pointer(as: UInt32.self); for i in 0..<n { d[i] = UInt32(truncatingIfNeeded: value(i)) }
        case .uint64: let d = out.pointer(as: UInt64.self); for i in 0..<n { d[i] = UInt64(bitPattern: value(i)) }
        default: throw ONNXRunError(.unsupportedType, "integer conversion to \(out.dataType) is not supported")
        }
    }

    /// The values of an integer tensor as Ints (shape inputs, indices, axes).
    static func integers(_ t: Tensor) throws -> [Int] {
        guard let read = integerReader(t) else {
            throw ONNXRunError(.invalidInput, "expected an integer tensor, got \(t.dataType)")
        }
        return (0..<t.count).map { Int(read($0)) }
    }

    /// The values of a numeric tensor as Floats.
    static func floats(_ t: Tensor) throws -> [Float] {
        if t.dataType == .float { return t.withUnsafeBufferPointer(as: Float.self) { Array($0) } }
        let read = try reader(t)
        return (0..<t.count).map { Float(read($0)) }
    }
}

extension DataType {
    /// True for signed and unsigned integer types (not bool).
    var isInteger: Bool {
        switch self {
        case .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64: true
        default: false
        }
    }
}
