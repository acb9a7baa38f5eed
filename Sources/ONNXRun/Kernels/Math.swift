import Foundation

/// Elementwise math beyond the basic activations: Neg, Abs, Sign (numeric types), Ceil, Floor,
/// Round, IsNaN, IsInf, trigonometric and hyperbolic functions, Pow, Mod, PRelu, Clip, Celu,
/// ThresholdedRelu, Gelu, Mish, HardSwish, Shrink.

/// Neg, Abs, Sign on any numeric type (integers exactly).
struct SignedUnaryKernel: TensorKernel {
    enum Operation: Sendable { case neg, abs, sign }
    let operation: Operation
    init(_ operation: Operation, _ context: KernelContext) throws {
        try context.expectInputs(1)
        self.operation = operation
    }
    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        let operation = self.operation
        func integer<T: FixedWidthInteger>(_: T.Type) throws -> Tensor {
            let out = try Tensor(uninitialized: x.dataType, shape: x.shape)
            let s = x.pointer(as: T.self), d = out.pointer(as: T.self)
            for i in 0..<x.count {
                let v = s[i]
                switch operation {
                case .neg: d[i] = 0 &- v
                case .abs: d[i] = v < 0 ? 0 &- v : v
                case .sign: d[i] = v > 0 ? 1 : (v < 0 ? 0 &- 1 : 0)
                }
            }
            return out
        }
        func float<T: BinaryFloatingPoint>(_: T.Type) throws -> Tensor {
            let out = try Tensor(uninitialized: x.dataType, shape: x.shape)
            let s = x.pointer(as: T.self), d = out.pointer(as: T.self)
            for i in 0..<x.count {
                let v = s[i]
                switch operation {
                case .neg: d[i] = -v
                case .abs: d[i] = Swift.abs(v)
                case .sign: d[i] = v.isNaN ? v : (v > 0 ? 1 : (v < 0 ? -1 : 0))
                }
            }
            return out
        }
        switch x.dataType {
        case .float: return [try float(Float.self)]
        case .double: return [try float(Double.self)]
        case .float16: return [try float(Float16.self)]
        case .bfloat16: return [try Conversion.cast(try compute([Conversion.cast(x, to: .float)], context)[0], to: .bfloat16)]
        case .int8: return [try integer(Int8.self)]
        case .int16: return [try integer(Int16.self)]
        case .int32: return [try integer(Int32.self)]
        case .int64: return [try integer(Int64.self)]
        case .uint8: return [try integer(UInt8.self)]
        case .uint16: return [try integer(UInt16.self)]
        case .uint32: return [try integer(UInt32.self)]
        case .uint64: return [try integer(UInt64.self)]
        default: throw ONNXRunError(.unsupportedType, "\(operation) of \(x.dataType) is not supported")
        }
    }
}

/// IsNaN and IsInf: bool outputs.
struct FloatTestKernel: TensorKernel {
    let test: @Sendable (Double) -> Bool
    init(_ context: KernelContext, _ test: @escaping @Sendable (Double) -> Bool) throws {
        try context.expectInputs(1)
        self.test = test
    }
    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        let read = try Conversion.reader(x)
        let out = try Tensor(uninitialized: .bool, shape: x.shape)
        let d = out.pointer(as: UInt8.self)
        for i in 0..<x.count { d[i] = test(read(i)) ? 1 : 0 }
        return [out]
    }
}

/// Binary float math computed in Double with broadcasting, result in the input type (Pow, Mod, PRelu).
struct BinaryMathKernel: TensorKernel {
    let floatOp: @Sendable (Double, Double) -> Double
    let integerOp: (@Sendable (Int64, Int64) throws -> Int64)?
    init(_ context: KernelContext, float: @escaping @Sendable (Double, Double) -> Double, integer: (@Sendable (Int64, Int64) throws -> Int64)? = nil) throws {
        try context.expectInputs(2)
        floatOp = float
        integerOp = integer
    }
    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let a = inputs[0], let b = inputs[1] else { throw ONNXRunError(.invalidInput, "both inputs are required") }
        let shape = try Broadcast.shape(a.shape, b.shape)
        let count = try Tensor.elementCount(shape)
        let sa = Broadcast.strides(of: a.shape, in: shape), sb = Broadcast.strides(of: b.shape, in: shape)
        if a.dataType.isInteger, let integerOp, let ra = Conversion.integerReader(a), let rb = Conversion.integerReader(b) {
            var values = [Int64](repeating: 0, count: count)
            var failure: Error?
            Broadcast.forEachRow(outShape: shape, aStrides: sa, bStrides: sb) { o, ia, ib, n, stepA, stepB in
                for j in 0..<n {
                    do { values[o + j] = try integerOp(ra(ia + j * stepA), rb(ib + j * stepB)) } catch { failure = error }
                }
            }
            if let failure { throw failure }
            return [try Conversion.cast(try Tensor(shape: shape, scalars: values), to: a.dataType)]
        }
        let ra = try Conversion.reader(a), rb = try Conversion.reader(b)
        var values = [Double](repeating: 0, count: count)
        Broadcast.forEachRow(outShape: shape, aStrides: sa, bStrides: sb) { o, ia, ib, n, stepA, stepB in
            for j in 0..<n { values[o + j] = floatOp(ra(ia + j * stepA), rb(ib + j * stepB)) }
        }
        let wide = try Tensor(shape: shape, scalars: values)
        if a.dataType == .float {
            // Round once from Double, as float arithmetic would.
            return [try Conversion.cast(wide, to: .float)]
        }
        return [try Conversion.cast(wide, to: a.dataType)]
    }
}

/// Clip: bounds from attributes (before opset 11) or optional inputs.
struct ClipKernel: TensorKernel {
    let attributeBounds: (Float, Float)?
    init(_ context: KernelContext) throws {
        if context.opsetVersion < 11 {
            attributeBounds = (try context.float("min", default: -.greatestFiniteMagnitude), try context.float("max", default: .greatestFiniteMagnitude))
        } else {
            attributeBounds = nil
        }
        try context.expectInputs(1, 3)
    }
    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        let read = try Conversion.reader(x)
        var low = -Double.infinity, high = Double.infinity
        if let (lo, hi) = attributeBounds {
            low = Double(lo)
            high = Double(hi)
        } else {
            if inputs.count > 1, let t = inputs[1] { low = try Conversion.reader(t)(0) }
            if inputs.count > 2, let t = inputs[2] { high = try Conversion.reader(t)(0) }
        }
        let values = (0..<x.count).map { i -> Double in
            let v = read(i)
            if v.isNaN { return v }
            return Swift.min(Swift.max(v, low), high)
        }
        if x.dataType.isInteger {
            return [try Conversion.cast(try Tensor(shape: x.shape, scalars: values.map { Int64($0) }), to: x.dataType)]
        }
        return [try Conversion.cast(try Tensor(shape: x.shape, scalars: values), to: x.dataType)]
    }
}

/// Pow: float32 squares (an exponent of one element equal to 2, as YOLO's box decoding and
/// variance computations use) as x·x; everything else by `general`. Float(pow(Double(x), 2)) is
/// x² rounded once to float, which is exactly what the float product x·x gives.
struct PowKernel: TensorKernel {
    let general: BinaryMathKernel

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0], let exponent = inputs[1], x.dataType == .float, exponent.dataType == .float,
              exponent.count == 1, exponent.pointer(as: Float.self)[0] == 2
        else { return try general.compute(inputs, context) }
        let shape = try Broadcast.shape(x.shape, exponent.shape)
        let out = try Tensor(uninitialized: .float, shape: shape)
        let source = x.pointer(as: Float.self), destination = out.pointer(as: Float.self)
        Parallel.forEach(out.count, threads: context.threads) { range in
            for i in range { destination[i] = source[i] * source[i] }
        }
        return [out]
    }
}

/// Round half to even.
@inline(__always) private func roundHalfEven(_ v: Double) -> Double { v.rounded(.toNearestOrEven) }

extension KernelRegistry {
    static func registerMath(_ r: inout KernelRegistry) {
        r.register("Neg", since: 1, 6, 13) { try SignedUnaryKernel(.neg, $0) }
        r.register("Abs", since: 1, 6, 13) { try SignedUnaryKernel(.abs, $0) }
        r.register("Sign", since: 9, 13) { try SignedUnaryKernel(.sign, $0) }
        r.register("IsNaN", since: 9, 13, 20) { try FloatTestKernel($0) { $0.isNaN } }
        r.register("IsInf", since: 10, 20) { c in
            let negative = try c.int("detect_negative", default: 1) != 0, positive = try c.int("detect_positive", default: 1) != 0
            return try FloatTestKernel(c) { $0.isInfinite && (($0 > 0 && positive) || ($0 < 0 && negative)) }
        }

        func unary(_ name: String, _ versions: [Int], _ f: @escaping @Sendable (Double) -> Double) {
            for v in versions {
                r.register(name, since: v) { try UnaryFloatKernel($0, single: { Float(f(Double($0))) }, double: f) }
            }
        }
        unary("Ceil", [1, 6, 13]) { $0.rounded(.up) }
        unary("Floor", [1, 6, 13]) { $0.rounded(.down) }
        unary("Round", [11, 22]) { roundHalfEven($0) }
        unary("Tan", [7, 22]) { Foundation.tan($0) }
        unary("Asin", [7, 22]) { Foundation.asin($0) }
        unary("Acos", [7, 22]) { Foundation.acos($0) }
        unary("Atan", [7, 22]) { Foundation.atan($0) }
        unary("Sinh", [9, 22]) { Foundation.sinh($0) }
        unary("Cosh", [9, 22]) { Foundation.cosh($0) }
        unary("Asinh", [9, 22]) { Foundation.asinh($0) }
        unary("Acosh", [9, 22]) { Foundation.acosh($0) }
        unary("Atanh", [9, 22]) { Foundation.atanh($0) }
        unary("Mish", [18, 22]) { $0 * Foundation.tanh(Foundation.log1p(Foundation.exp($0))) }
        unary("HardSwish", [14, 22]) { $0 * Swift.max(0, Swift.min(1, $0 / 6 + 0.5)) }

        func parameterized(_ name: String, _ versions: [Int], _ make: @escaping @Sendable (KernelContext) throws -> @Sendable (Double) -> Double) {
            for v in versions {
                r.register(name, since: v) { c in
                    let f = try make(c)
                    return try UnaryFloatKernel(c, single: { Float(f(Double($0))) }, double: f)
                }
            }
        }
        parameterized("Celu", [12]) { c in
            let alpha = Double(try c.float("alpha", default: 1))
            return { Swift.max(0, $0) + Swift.min(0, alpha * (Foundation.exp($0 / alpha) - 1)) }
        }
        parameterized("ThresholdedRelu", [10, 22]) { c in
            let alpha = Double(try c.float("alpha", default: 1))
            return { $0 > alpha ? $0 : 0 }
        }
        parameterized("Shrink", [9]) { c in
            let lambd = Double(try c.float("lambd", default: 0.5)), bias = Double(try c.float("bias", default: 0))
            return { $0 < -lambd ? $0 + bias : ($0 > lambd ? $0 - bias : 0) }
        }
        parameterized("Gelu", [20]) { c in
            let approximate = try c.string("approximate", default: "none")
            guard approximate == "none" || approximate == "tanh" else { throw c.error(.invalidAttribute, "approximate must be none or tanh") }
            if approximate == "tanh" {
                return { 0.5 * $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }
            }
            return { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }
        }

        r.register("Pow", since: 1, 7, 12, 13, 15) { c in
            PowKernel(general: try BinaryMathKernel(c, float: { Foundation.pow($0, $1) }, integer: { base, exponent in
                guard exponent >= 0 else { return base == 1 ? 1 : 0 }
                var result: Int64 = 1
                for _ in 0..<exponent { result = result &* base }
                return result
            }))
        }
        r.register("Mod", since: 10, 13) { c in
            let fmod = try c.int("fmod", default: 0) != 0
            return try BinaryMathKernel(c, float: { a, b in
                if fmod { return Foundation.fmod(a, b) }
                let m = Foundation.fmod(a, b)
                return m != 0 && ((m < 0) != (b < 0)) ? m + b : m
            }, integer: { a, b in
                guard b != 0 else { throw ONNXRunError(.invalidInput, "integer Mod by zero") }
                let m = a % b
                if fmod { return m }
                return m != 0 && ((m < 0) != (b < 0)) ? m + b : m
            })
        }
        r.register("PRelu", since: 1, 6, 7, 9, 16) { c in
            let kernel = try BinaryMathKernel(c, float: { x, slope in x < 0 ? x * slope : x }, integer: { x, slope in x < 0 ? x &* slope : x })
            guard c.opsetVersion < 7 else { return kernel }
            // Before opset 7 a 1-D slope of C values is per channel (axis 1), not numpy-broadcast.
            return ValueKernel { inputs, context in
                let x = try inputs.tensor(0)
                var slope = try inputs.tensor(1)
                if slope.rank == 1, x.rank >= 2, slope.count == x.shape[1], slope.count != 1 {
                    slope = try slope.reshaped(to: [slope.count] + Array(repeating: 1, count: x.rank - 2))
                }
                return try kernel.compute([x, slope], context).map(Value.tensor)
            }
        }
        r.register("Clip", since: 1, 6, 11, 12, 13) { try ClipKernel($0) }
    }
}
