internal import CKernels
import Foundation

/// LayerNormalization, RMSNormalization, GroupNormalization, InstanceNormalization,
/// MeanVarianceNormalization and LpNormalization.
///
/// Every kernel computes in float (float16 and bfloat16 are widened to float and the result narrowed
/// back) or in double for double inputs; statistics are accumulated in Double.

/// The floating-point types the normalization kernels compute in.
protocol NormalizationFloat: BinaryFloatingPoint, TensorElement {}

extension Float: NormalizationFloat {}
extension Double: NormalizationFloat {}

enum NormalizationSupport {
    /// The type a normalization of `type` computes in: float or double.
    static func computeType(_ type: DataType, op: String) throws -> DataType {
        switch type {
        case .float, .float16, .bfloat16: return .float
        case .double: return .double
        default: throw ONNXRunError(.unsupportedType, "\(op) of \(type) is not supported")
        }
    }

    /// `t` converted to `T` and broadcast (numpy rules) to `shape`, as a flat row-major array.
    static func broadcastValues<T: NormalizationFloat>(_ t: Tensor, to shape: [Int], _: T.Type) throws -> [T] {
        let values = try Conversion.cast(t, to: T.dataType).scalars(as: T.self)
        let target = try Broadcast.shape(t.shape, shape)
        guard target == shape else {
            throw ONNXRunError(.shapeMismatch, "shape \(t.shape) cannot be broadcast to \(shape)")
        }
        if t.shape == shape { return values }
        let strides = Broadcast.strides(of: t.shape, in: shape)
        let count = shape.reduce(1, *)
        var result = [T](repeating: 0, count: count)
        if count == 0 { return result }
        var index = [Int](repeating: 0, count: shape.count)
        var source = 0
        for i in 0..<count {
            result[i] = values[source]
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                source += strides[axis]
                if index[axis] < shape[axis] { break }
                source -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }

    /// An affine parameter (Scale, B) of a tensor viewed as [rows, cols] = [prod(shape[..<axis]),
    /// prod(shape[axis...])]: one value per column when it spans exactly the normalized axes (the
    /// usual case), otherwise broadcast to one value per element.
    struct Affine<T: NormalizationFloat> {
        let values: [T]
        let perColumn: Bool

        init(_ t: Tensor, shape: [Int], axis: Int) throws {
            let cols = shape[axis...].reduce(1, *)
            let aligned = t.rank <= shape.count ? Array(repeating: 1, count: shape.count - t.rank) + t.shape : t.shape
            if t.count == 1 {
                let v = try Conversion.cast(t, to: T.dataType).scalars(as: T.self)[0]
                values = [T](repeating: v, count: cols)
                perColumn = true
            } else if aligned.count == shape.count, aligned[..<axis].allSatisfy({ $0 == 1 }), Array(aligned[axis...]) == Array(shape[axis...]) {
                values = try Conversion.cast(t, to: T.dataType).scalars(as: T.self)
                perColumn = true
            } else {
                values = try broadcastValues(t, to: shape, T.self)
                perColumn = false
            }
        }

        @inline(__always)
        func value(row: Int, col: Int, cols: Int) -> T { perColumn ? values[col] : values[row * cols + col] }
    }

    /// Normalizes an axis attribute against `rank`.
    static func axis(_ axis: Int, rank: Int, op: String) throws -> Int {
        guard axis >= -rank && axis < max(rank, 1) else {
            throw ONNXRunError(.invalidAttribute, "\(op) axis \(axis) is out of range for rank \(rank)")
        }
        return axis < 0 ? axis + rank : axis
    }
}

/// LayerNormalization (opset 17): normalizes over axes `axis...` (mean and variance of each row of
/// the [prod(shape[..<axis]), prod(shape[axis...])] view), then Y = normalized · Scale + B.
/// Optional outputs Mean and InvStdDev have shape shape[..<axis] + [1, ...] in the stash type.
///
/// RMSNormalization (opset 23) shares it: Y = X / sqrt(mean(X²) + epsilon) · Scale.
struct LayerNormalizationKernel: TensorKernel {
    let axis: Int
    let epsilon: Float
    let stashType: DataType
    let rms: Bool

    init(_ context: KernelContext, rms: Bool) throws {
        try context.expectInputs(2, rms ? 2 : 3)
        self.rms = rms
        axis = try context.int("axis", default: -1)
        epsilon = try context.float("epsilon", default: 1e-5)
        let stash = try context.int("stash_type", default: 1)
        switch stash {
        case 1: stashType = .float
        case 11: stashType = .double
        case 10, 16: stashType = .float  // float16/bfloat16 statistics are computed in float
        default: throw context.error(.invalidAttribute, "unsupported stash_type \(stash)")
        }
    }

    private var op: String { rms ? "RMSNormalization" : "LayerNormalization" }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0], let scale = inputs[1] else { throw ONNXRunError(.invalidInput, "X and Scale are required") }
        let bias = inputs.count > 2 ? inputs[2] : nil
        let computeType = try NormalizationSupport.computeType(x.dataType, op: op)
        let a = try NormalizationSupport.axis(axis, rank: x.rank, op: op)
        if computeType == .double {
            return try run(x, scale, bias, axis: a, Double.self, threads: context.threads)
        }
        return try run(x, scale, bias, axis: a, Float.self, threads: context.threads)
    }

    private func run<T: NormalizationFloat>(_ x: Tensor, _ scaleT: Tensor, _ biasT: Tensor?, axis: Int, _: T.Type, threads: Int) throws -> [Tensor] {
        let rows = x.shape[..<axis].reduce(1, *), cols = x.shape[axis...].reduce(1, *)
        let xs = try Conversion.cast(x, to: T.dataType)
        let scale = try NormalizationSupport.Affine<T>(scaleT, shape: x.shape, axis: axis)
        let bias = try biasT.map { try NormalizationSupport.Affine<T>($0, shape: x.shape, axis: axis) }
        let out = try Tensor(uninitialized: T.dataType, shape: x.shape)
        let px = xs.pointer(as: T.self), py = out.pointer(as: T.self)
        var means = [Double](repeating: 0, count: rows), inverses = [Double](repeating: 0, count: rows)
        if cols > 0, scale.perColumn, bias?.perColumn ?? true,
           let gamma = scale.values as? [Float], let beta = bias.map({ $0.values as? [Float] }) ?? [] {
            // Float rows with per-column scale and bias: the SIMD kernel, rows split across threads.
            let xp = UnsafeRawPointer(px).assumingMemoryBound(to: Float.self)
            let yp = UnsafeMutableRawPointer(py).assumingMemoryBound(to: Float.self)
            let (epsilon, rms, hasBias) = (epsilon, Int32(rms ? 1 : 0), bias != nil)
            means.withUnsafeMutableBufferPointer { m in
                inverses.withUnsafeMutableBufferPointer { inv in
                    gamma.withUnsafeBufferPointer { g in
                        beta.withUnsafeBufferPointer { b in
                            let (mp, ip, gp, bp) = (m.baseAddress!, inv.baseAddress!, g.baseAddress!, hasBias ? b.baseAddress : nil)
                            Parallel.forEach(rows, threads: threads, costPerItem: cols * 4) { range in
                                ck_layer_norm_standard_rows_f32(
                                    xp + range.lowerBound * cols, yp + range.lowerBound * cols, range.count, cols, gp, bp,
                                    epsilon, rms, mp + range.lowerBound, ip + range.lowerBound)
                            }
                        }
                    }
                }
            }
        } else {
            normalizeRows(px, py, rows: rows, cols: cols, scale: scale, bias: bias, means: &means, inverses: &inverses)
        }
        var results = [try Conversion.cast(out, to: x.dataType)]
        if !rms {
            let statShape = Array(x.shape[..<axis]) + Array(repeating: 1, count: x.rank - axis)
            let statType = stashType
            results.append(try Conversion.cast(Tensor(shape: statShape, scalars: means), to: statType))
            results.append(try Conversion.cast(Tensor(shape: statShape, scalars: inverses), to: statType))
        }
        return results
    }

    /// The general rows: any element type, scale and bias broadcast from any shape.
    private func normalizeRows<T: NormalizationFloat>(
        _ px: UnsafeMutablePointer<T>, _ py: UnsafeMutablePointer<T>, rows: Int, cols: Int, scale: NormalizationSupport.Affine<T>,
        bias: NormalizationSupport.Affine<T>?, means: inout [Double], inverses: inout [Double]
    ) {
        let eps = Double(epsilon)
        for r in 0..<rows where cols > 0 {
            let row = px + r * cols, target = py + r * cols
            var mean = 0.0
            if !rms {
                for c in 0..<cols { mean += Double(row[c]) }
                mean /= Double(cols)
            }
            var squares = 0.0
            for c in 0..<cols { let d = Double(row[c]) - mean; squares += d * d }
            let inverse = 1 / (squares / Double(cols) + eps).squareRoot()
            means[r] = mean
            inverses[r] = inverse
            let m = T(mean), inv = T(inverse)
            for c in 0..<cols {
                var y = (row[c] - m) * inv * scale.value(row: r, col: c, cols: cols)
                if let bias { y += bias.value(row: r, col: c, cols: cols) }
                target[c] = y
            }
        }
    }
}

/// GroupNormalization (opsets 18, 21) and InstanceNormalization: X is [N, C, D1, ...]; mean and
/// variance are taken over each (n, group) block of C / G channels and all spatial positions.
/// Scale and bias are per channel (opset 21, InstanceNormalization) or per group (opset 18).
struct GroupNormalizationKernel: TensorKernel {
    let groups: Int?  // nil: InstanceNormalization (one group per channel)
    let epsilon: Float
    let perGroupParameters: Bool

    init(_ context: KernelContext, instance: Bool) throws {
        try context.expectInputs(3)
        epsilon = try context.float("epsilon", default: 1e-5)
        if instance {
            groups = nil
            perGroupParameters = false
        } else {
            let g = try context.required("num_groups", context.int)
            guard g >= 1 else { throw context.error(.invalidAttribute, "num_groups must be positive, got \(g)") }
            groups = g
            perGroupParameters = context.opsetVersion < 21
            let stash = try context.int("stash_type", default: 1)
            guard [1, 10, 11, 16].contains(stash) else { throw context.error(.invalidAttribute, "unsupported stash_type \(stash)") }
        }
    }

    private var op: String { groups == nil ? "InstanceNormalization" : "GroupNormalization" }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0], let scale = inputs[1], let bias = inputs[2] else {
            throw ONNXRunError(.invalidInput, "X, scale and B are required")
        }
        guard x.rank >= 2 else { throw ONNXRunError(.shapeMismatch, "\(op) input must have rank 2 or more, got \(x.shape)") }
        if try NormalizationSupport.computeType(x.dataType, op: op) == .double {
            return [try run(x, scale, bias, Double.self)]
        }
        return [try Conversion.cast(run(x, scale, bias, Float.self), to: x.dataType)]
    }

    private func run<T: NormalizationFloat>(_ x: Tensor, _ scaleT: Tensor, _ biasT: Tensor, _: T.Type) throws -> Tensor {
        let batch = x.shape[0], channels = x.shape[1], spatial = x.shape[2...].reduce(1, *)
        let groups = self.groups ?? channels
        guard channels % groups == 0 else {
            throw ONNXRunError(.shapeMismatch, "\(channels) channels cannot be split into \(groups) groups")
        }
        let perGroup = channels / groups
        let scale = try Conversion.cast(scaleT, to: T.dataType).scalars(as: T.self)
        let bias = try Conversion.cast(biasT, to: T.dataType).scalars(as: T.self)
        // Opset 18 parameters are per group; a per-channel count is accepted there too.
        let byGroup = perGroupParameters && scale.count == groups
        let expected = byGroup ? groups : channels
        guard scale.count == expected, bias.count == expected else {
            throw ONNXRunError(.shapeMismatch, "scale and B must have \(expected) values, got \(scale.count) and \(bias.count)")
        }
        let xs = try Conversion.cast(x, to: T.dataType)
        let out = try Tensor(uninitialized: T.dataType, shape: x.shape)
        let px = xs.pointer(as: T.self), py = out.pointer(as: T.self)
        let block = perGroup * spatial
        let eps = Double(epsilon)
        for n in 0..<batch {
            for g in 0..<groups where block > 0 {
                let base = (n * groups + g) * block
                var sum = 0.0
                for i in 0..<block { sum += Double(px[base + i]) }
                let mean = sum / Double(block)
                var squares = 0.0
                for i in 0..<block { let d = Double(px[base + i]) - mean; squares += d * d }
                let inverse = 1 / (squares / Double(block) + eps).squareRoot()
                for c in 0..<perGroup {
                    let channel = g * perGroup + c
                    let p = byGroup ? g : channel
                    // y = (x − mean) · inverse · scale + bias = x · a + b
                    let a = Double(scale[p]) * inverse
                    let b = Double(bias[p]) - mean * a
                    let start = base + c * spatial
                    for i in 0..<spatial { py[start + i] = T(Double(px[start + i]) * a + b) }
                }
            }
        }
        return out
    }
}

/// MeanVarianceNormalization: Y = (X − E[X]) / (sqrt(E[X²] − E[X]²) + 1e-9), the expectations over
/// `axes` (default [0, 2, 3]).
struct MeanVarianceNormalizationKernel: TensorKernel {
    let axes: [Int]

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        axes = try context.ints("axes") ?? [0, 2, 3]
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "X is required") }
        _ = try NormalizationSupport.computeType(x.dataType, op: "MeanVarianceNormalization")
        var reduced = [Bool](repeating: false, count: x.rank)
        for a in axes { reduced[try NormalizationSupport.axis(a, rank: x.rank, op: "MeanVarianceNormalization")] = true }
        // Index of each element's statistics slot: its position with reduced axes dropped.
        var slotStrides = [Int](repeating: 0, count: x.rank)
        var slots = 1
        for d in (0..<x.rank).reversed() where !reduced[d] {
            slotStrides[d] = slots
            slots *= x.shape[d]
        }
        let count = x.count
        var slotOf = [Int](repeating: 0, count: count)
        if count > 0 {
            var index = [Int](repeating: 0, count: x.rank)
            var slot = 0
            for i in 0..<count {
                slotOf[i] = slot
                var axis = x.rank - 1
                while axis >= 0 {
                    index[axis] += 1
                    slot += slotStrides[axis]
                    if index[axis] < x.shape[axis] { break }
                    slot -= slotStrides[axis] * x.shape[axis]
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
        let values = try Conversion.cast(x, to: .double).scalars(as: Double.self)
        var sums = [Double](repeating: 0, count: slots), squares = [Double](repeating: 0, count: slots)
        for i in 0..<count {
            sums[slotOf[i]] += values[i]
            squares[slotOf[i]] += values[i] * values[i]
        }
        let perSlot = Double(count / max(slots, 1))
        let means = sums.map { $0 / perSlot }
        let deviations = (0..<slots).map { s in (max(squares[s] / perSlot - means[s] * means[s], 0)).squareRoot() + 1e-9 }
        let y = (0..<count).map { i in (values[i] - means[slotOf[i]]) / deviations[slotOf[i]] }
        return [try Conversion.cast(Tensor(shape: x.shape, scalars: y), to: x.dataType)]
    }
}

/// LpNormalization: Y = X / ‖X‖ₚ along `axis` (p = 1 or 2); a zero norm gives zeros.
struct LpNormalizationKernel: TensorKernel {
    let axis: Int
    let p: Int

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        axis = try context.int("axis", default: -1)
        p = try context.int("p", default: 2)
        guard p == 1 || p == 2 else { throw context.error(.invalidAttribute, "p must be 1 or 2, got \(p)") }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        _ = try NormalizationSupport.computeType(x.dataType, op: "LpNormalization")
        let a = try NormalizationSupport.axis(axis, rank: x.rank, op: "LpNormalization")
        let shape = x.rank == 0 ? [1] : x.shape
        let outer = shape[..<a].reduce(1, *), length = shape[a], inner = shape[(a + 1)...].reduce(1, *)
        var values = try Conversion.cast(x, to: .double).scalars(as: Double.self)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * length * inner + i
                var norm = 0.0
                for j in 0..<length {
                    let v = values[base + j * inner]
                    norm += p == 1 ? abs(v) : v * v
                }
                if p == 2 { norm = norm.squareRoot() }
                for j in 0..<length {
                    values[base + j * inner] = norm == 0 ? 0 : values[base + j * inner] / norm
                }
            }
        }
        return [try Conversion.cast(Tensor(shape: x.shape, scalars: values), to: x.dataType)]
    }
}

extension KernelRegistry {
    static func registerNormalizationLayers(_ r: inout KernelRegistry) {
        r.register("LayerNormalization", since: 17) { try LayerNormalizationKernel($0, rms: false) }
        r.register("RMSNormalization", since: 23) { try LayerNormalizationKernel($0, rms: true) }
        r.register("GroupNormalization", since: 18, 21) { try GroupNormalizationKernel($0, instance: false) }
        r.register("InstanceNormalization", since: 1, 6, 22) { try GroupNormalizationKernel($0, instance: true) }
        r.register("MeanVarianceNormalization", since: 9, 13) { try MeanVarianceNormalizationKernel($0) }
        r.register("LpNormalization", since: 1, 22) { try LpNormalizationKernel($0) }
    }
}
