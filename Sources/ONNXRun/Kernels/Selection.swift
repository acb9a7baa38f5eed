import Foundation

/// Generators and selections: Range, NonZero, OneHot, Trilu, EyeLike, TopK, CumSum, Compress.
/// Values are computed in Double or Int64 and converted to the output type once.

/// Builds a tensor of `type` from Doubles (floating types) or Int64s (integer and bool types).
private func tensor(_ type: DataType, _ shape: [Int], doubles: [Double]) throws -> Tensor {
    if type.isInteger || type == .bool {
        return try Conversion.cast(try Tensor(shape: shape, scalars: doubles.map { Int64($0) }), to: type)
    }
    return try Conversion.cast(try Tensor(shape: shape, scalars: doubles), to: type)
}

/// Reads all elements as Doubles, or as exact Int64s for integer types (returned as Doubles only
/// when exact), keeping large integers intact where it matters through `integers`.
struct Elements {
    let doubles: [Double]
    let integers: [Int64]?
    init(_ t: Tensor) throws {
        if let read = Conversion.integerReader(t) {
            let ints = (0..<t.count).map(read)
            integers = ints
            doubles = ints.map(Double.init)
        } else {
            let read = try Conversion.reader(t)
            doubles = (0..<t.count).map(read)
            integers = nil
        }
    }
}

/// Gathers elements of `t` at flat positions `positions` into a tensor of `shape` (any type);
/// a negative position takes element 0 of `fill` instead (padding).
func take(_ t: Tensor, _ positions: [Int], shape: [Int], fill: Tensor? = nil) throws -> Tensor {
    if t.dataType == .string {
        let pad = fill?.strings.first ?? ""
        return try Tensor(shape: shape, strings: positions.map { $0 < 0 ? pad : t.strings[$0] })
    }
    let size = try DataMovement.elementSize(t.dataType)
    let out = try Tensor(uninitialized: t.dataType, shape: shape)
    let zero = try fill ?? Tensor(zeros: t.dataType, shape: [1])
    for (i, p) in positions.enumerated() {
        (out.storage.bytes + i * size).copyMemory(from: p < 0 ? zero.storage.bytes : t.storage.bytes + p * size, byteCount: size)
    }
    return out
}

extension KernelRegistry {
    static func registerSelection(_ r: inout KernelRegistry) {
        r.register("Range", since: 11) { c in
            try c.expectInputs(3)
            return ValueKernel { inputs, _ in
                let start = try inputs.tensor(0), limit = try inputs.tensor(1), delta = try inputs.tensor(2)
                let type = start.dataType
                if let s = Conversion.integerReader(start), let l = Conversion.integerReader(limit), let d = Conversion.integerReader(delta) {
                    let (a, b, step) = (s(0), l(0), d(0))
                    guard step != 0 else { throw ONNXRunError(.invalidInput, "delta must not be zero") }
                    let count = Swift.max(0, Int(((b - a) + step + (step > 0 ? -1 : 1)) / step))
                    let values = (0..<count).map { a + Int64($0) * step }
                    return [.tensor(try Conversion.cast(try Tensor(shape: [count], scalars: values), to: type))]
                }
                let a = try Conversion.reader(start)(0), b = try Conversion.reader(limit)(0), step = try Conversion.reader(delta)(0)
                guard step != 0 else { throw ONNXRunError(.invalidInput, "delta must not be zero") }
                let count = Swift.max(0, Int(((b - a) / step).rounded(.up)))
                guard count < 1 << 32 else { throw ONNXRunError(.resourceLimit, "Range would produce \(count) elements") }
                // Accumulate in the output type, as the reference does (start + i·delta in float).
                if type == .float {
                    let fa = Float(a), fs = Float(step)
                    return [.tensor(try Tensor(shape: [count], scalars: (0..<count).map { fa + Float($0) * fs }))]
                }
                return [.tensor(try tensor(type, [count], doubles: (0..<count).map { a + Double($0) * step }))]
            }
        }
        r.register("NonZero", since: 9, 13) { c in
            try c.expectInputs(1)
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                let values = try Elements(x).doubles
                let hits = values.indices.filter { values[$0] != 0 }
                let strides = x.strides
                var out = [Int64](repeating: 0, count: x.rank * hits.count)
                for (k, flat) in hits.enumerated() {
                    var rest = flat
                    for axis in 0..<x.rank {
                        out[axis * hits.count + k] = Int64(rest / strides[axis])
                        rest %= strides[axis]
                    }
                }
                return [.tensor(try Tensor(shape: [x.rank, hits.count], scalars: out))]
            }
        }
        r.register("OneHot", since: 9, 11) { c in
            try c.expectInputs(3)
            let axisAttribute = try c.int("axis", default: -1)
            return ValueKernel { inputs, _ in
                let indices = try Elements(try inputs.tensor(0)).doubles.map { Int($0) }
                let indexShape = try inputs.tensor(0).shape
                let depth = Int(try Conversion.reader(try inputs.tensor(1))(0))
                let values = try inputs.tensor(2)
                guard values.count == 2 else { throw ONNXRunError(.invalidInput, "values must hold [off, on]") }
                let rank = indexShape.count + 1
                let axis = try DataMovement.axis(axisAttribute, rank: rank)
                var shape = indexShape
                shape.insert(depth, at: axis)
                let outer = DataMovement.product(indexShape, 0..<axis), inner = DataMovement.product(indexShape, axis..<indexShape.count)
                var positions = [Int](repeating: 0, count: outer * depth * inner)
                for o in 0..<outer {
                    for d in 0..<depth {
                        for i in 0..<inner {
                            var index = indices[o * inner + i]
                            if index < 0 { index += depth }
                            positions[(o * depth + d) * inner + i] = index == d ? 1 : 0
                        }
                    }
                }
                return [.tensor(try take(values, positions, shape: shape))]
            }
        }
        r.register("Trilu", since: 14) { c in
            try c.expectInputs(1, 2)
            let upper = try c.int("upper", default: 1) != 0
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                guard x.rank >= 2 else { throw ONNXRunError(.invalidInput, "Trilu needs rank 2 or more") }
                let k = try inputs.optionalTensor(1).map { Int(try Conversion.reader($0)(0)) } ?? 0
                let rows = x.shape[x.rank - 2], cols = x.shape[x.rank - 1]
                let zero = try Tensor(zeros: x.dataType, shape: [1])
                let size = try DataMovement.elementSize(x.dataType)
                let out = try Tensor(uninitialized: x.dataType, shape: x.shape)
                for flat in 0..<x.count {
                    let j = flat % cols, i = (flat / cols) % rows
                    let keep = upper ? j - i >= k : j - i <= k
                    (out.storage.bytes + flat * size).copyMemory(from: keep ? x.storage.bytes + flat * size : zero.storage.bytes, byteCount: size)
                }
                return [.tensor(out)]
            }
        }
        r.register("EyeLike", since: 9, 22) { c in
            try c.expectInputs(1)
            let k = try c.int("k", default: 0)
            let dtype = try c.int("dtype").map { code -> DataType in
                guard let t = DataType(rawValue: Int32(code)) else { throw c.error(.invalidAttribute, "unknown dtype \(code)") }
                return t
            }
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                guard x.rank == 2 else { throw ONNXRunError(.invalidInput, "EyeLike needs a 2-D input") }
                let values = (0..<x.count).map { flat -> Double in flat % x.shape[1] - flat / x.shape[1] == k ? 1 : 0 }
                return [.tensor(try tensor(dtype ?? x.dataType, x.shape, doubles: values))]
            }
        }
        r.register("TopK", since: 1, 10, 11, 24) { c in
            let axisAttribute = try c.int("axis", default: -1)
            let largest = try c.int("largest", default: 1) != 0
            let attributeK = c.opsetVersion < 10 ? try c.int("k") : nil
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                let k = try attributeK ?? Int(try Conversion.integers(try inputs.tensor(1))[0])
                let axis = try DataMovement.axis(axisAttribute, rank: x.rank)
                let n = x.shape[axis]
                guard k >= 0 && k <= n else { throw ONNXRunError(.invalidInput, "k = \(k) is outside 0...\(n)") }
                let elements = try Elements(x)
                let inner = DataMovement.product(x.shape, (axis + 1)..<x.rank), outer = DataMovement.product(x.shape, 0..<axis)
                var shape = x.shape
                shape[axis] = k
                var positions: [Int] = [], indices: [Int64] = []
                positions.reserveCapacity(outer * k * inner)
                var selected = [[Int]](repeating: [], count: outer * inner)
                for o in 0..<outer {
                    for i in 0..<inner {
                        let base = o * n * inner + i
                        let order = (0..<n).sorted { p, q in
                            let a = elements.integers.map { Double($0[base + p * inner]) } ?? elements.doubles[base + p * inner]
                            let b = elements.integers.map { Double($0[base + q * inner]) } ?? elements.doubles[base + q * inner]
                            if a == b || (a.isNaN && b.isNaN) { return p < q }
                            if a.isNaN { return largest }
                            if b.isNaN { return !largest }
                            return largest ? a > b : a < b
                        }
                        selected[o * inner + i] = Array(order.prefix(k))
                    }
                }
                for o in 0..<outer {
                    for j in 0..<k {
                        for i in 0..<inner {
                            let p = selected[o * inner + i][j]
                            positions.append(o * n * inner + p * inner + i)
                            indices.append(Int64(p))
                        }
                    }
                }
                return [.tensor(try take(x, positions, shape: shape)), .tensor(try Tensor(shape: shape, scalars: indices))]
            }
        }
        /// CumSum and CumProd: running sums or products along an axis.
        @Sendable func cumulative(_ c: KernelContext, product: Bool) throws -> ValueKernel {
            try c.expectInputs(2)
            let exclusive = try c.int("exclusive", default: 0) != 0, reverse = try c.int("reverse", default: 0) != 0
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                let axis = try DataMovement.axis(Int(try Conversion.integers(try inputs.tensor(1))[0]), rank: x.rank)
                let n = x.shape[axis], inner = DataMovement.product(x.shape, (axis + 1)..<x.rank), outer = DataMovement.product(x.shape, 0..<axis)
                let elements = try Elements(x)
                func scan<T>(_ values: [T], identity: T, _ combine: (T, T) -> T) -> [T] {
                    var out = [T](repeating: identity, count: values.count)
                    for o in 0..<outer { for i in 0..<inner {
                        var running = identity
                        for step in 0..<n {
                            let j = reverse ? n - 1 - step : step, p = (o * n + j) * inner + i
                            if exclusive { out[p] = running; running = combine(running, values[p]) } else { running = combine(running, values[p]); out[p] = running }
                        }
                    } }
                    return out
                }
                if let ints = elements.integers {
                    let out = product ? scan(ints, identity: 1, &*) : scan(ints, identity: 0, &+)
                    return [.tensor(try Conversion.cast(try Tensor(shape: x.shape, scalars: out), to: x.dataType))]
                }
                let out = product ? scan(elements.doubles, identity: 1, *) : scan(elements.doubles, identity: 0, +)
                return [.tensor(try tensor(x.dataType, x.shape, doubles: out))]
            }
        }
        r.register("CumSum", since: 11, 14) { try cumulative($0, product: false) }
        r.register("CumProd", since: 26) { try cumulative($0, product: true) }
        /// Window functions: a0 − a1·cos(2πn/D) + a2·cos(4πn/D), D = N (periodic) or N − 1.
        @Sendable func window(_ c: KernelContext, _ a0: Double, _ a1: Double, _ a2: Double) throws -> ValueKernel {
            try c.expectInputs(1)
            let periodic = try c.int("periodic", default: 1) != 0
            let code = try c.int("output_datatype", default: 1)
            guard let type = DataType(rawValue: Int32(code)) else { throw c.error(.invalidAttribute, "unknown output_datatype \(code)") }
            return ValueKernel { inputs, _ in
                let size = try Conversion.integers(try inputs.tensor(0))[0]
                guard size >= 0 else { throw ONNXRunError(.invalidInput, "window size must not be negative, got \(size)") }
                let denominator = Double(periodic ? size : size - 1)
                let values = (0..<size).map { k -> Double in
                    let x = 2 * Double.pi * Double(k) / denominator
                    return a0 - a1 * Foundation.cos(x) + a2 * Foundation.cos(2 * x)
                }
                return [.tensor(try tensor(type, [size], doubles: values))]
            }
        }
        r.register("HannWindow", since: 17) { try window($0, 0.5, 0.5, 0) }
        r.register("HammingWindow", since: 17) { try window($0, 25.0 / 46.0, 21.0 / 46.0, 0) }
        r.register("BlackmanWindow", since: 17) { try window($0, 0.42, 0.5, 0.08) }
        r.register("BitCast", since: 26) { c in
            try c.expectInputs(1)
            let code = try c.required("to", c.int)
            guard let target = DataType(rawValue: Int32(code)), target != .string else { throw c.error(.invalidAttribute, "unknown or string 'to' type \(code)") }
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                guard x.dataType != .string, x.dataType.bitWidth == target.bitWidth else {
                    throw ONNXRunError(.invalidInput, "BitCast needs equal bit widths: \(x.dataType) is \(x.dataType.bitWidth) bits, \(target) is \(target.bitWidth)")
                }
                let out = try x.withUnsafeBytes { try Tensor(dataType: target, shape: x.shape, bytes: $0) }
                return [.tensor(out)]
            }
        }
        r.register("Det", since: 11, 22) { c in
            try c.expectInputs(1)
            return ValueKernel { inputs, _ in
                let x = try inputs.tensor(0)
                guard x.rank >= 2, x.shape[x.rank - 1] == x.shape[x.rank - 2] else { throw ONNXRunError(.invalidInput, "Det needs square matrices, got \(x.shape)") }
                let n = x.shape[x.rank - 1], values = try Elements(x).doubles
                let batch = n == 0 ? values.count : values.count / (n * n)
                let dets = (0..<Swift.max(batch, 1)).map { b -> Double in
                    var a = Array(values[(b * n * n)..<((b + 1) * n * n)])
                    var det = 1.0
                    for col in 0..<n {
                        let pivot = (col..<n).max { Swift.abs(a[$0 * n + col]) < Swift.abs(a[$1 * n + col]) }!
                        if a[pivot * n + col] == 0 { return 0 }
                        if pivot != col {
                            for k in 0..<n { a.swapAt(pivot * n + k, col * n + k) }
                            det = -det
                        }
                        det *= a[col * n + col]
                        for row in (col + 1)..<n {
                            let f = a[row * n + col] / a[col * n + col]
                            for k in col..<n { a[row * n + k] -= f * a[col * n + k] }
                        }
                    }
                    return det
                }
                return [.tensor(try tensor(x.dataType, Array(x.shape.dropLast(2)), doubles: dets))]
            }
        }
        r.register("Compress", since: 9, 11) { c in
            try c.expectInputs(2)
            let axisAttribute = try c.int("axis")
            return ValueKernel { inputs, _ in
                var x = try inputs.tensor(0)
                let condition = try Elements(try inputs.tensor(1)).doubles
                if axisAttribute == nil { x = try x.reshaped(to: [x.count]) }
                let axis = try DataMovement.axis(axisAttribute ?? 0, rank: x.rank)
                let n = x.shape[axis], inner = DataMovement.product(x.shape, (axis + 1)..<x.rank), outer = DataMovement.product(x.shape, 0..<axis)
                let kept = (0..<Swift.min(n, condition.count)).filter { condition[$0] != 0 }
                var shape = x.shape
                shape[axis] = kept.count
                var positions: [Int] = []
                for o in 0..<outer { for j in kept { for i in 0..<inner { positions.append((o * n + j) * inner + i) } } }
                return [.tensor(try take(x, positions, shape: shape))]
            }
        }
    }
}
