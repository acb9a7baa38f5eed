import Foundation

/// Resize (and the older Upsample): nearest, linear and cubic interpolation, every coordinate
/// transformation mode, antialiasing, exclude_outside, extrapolation, axes and the aspect-ratio
/// policies. Separable: each resized axis is processed in turn with precomputed taps.
struct ResizeKernel: TensorKernel {
    let mode: String
    let coordinateMode: String
    let nearestMode: String
    let cubicA: Double
    let excludeOutside: Bool
    let extrapolationValue: Double
    let antialias: Bool
    let axes: [Int]?
    let aspectPolicy: String
    /// Opset < 11 Resize and Upsample: inputs are (X, scales), or `scales` is an attribute.
    let legacy: Bool
    let attributeScales: [Float]?

    init(_ context: KernelContext, upsample: Bool = false) throws {
        mode = try context.string("mode", default: "nearest")
        guard ["nearest", "linear", "cubic", "bilinear", "trilinear"].contains(mode) else { throw context.error(.invalidAttribute, "unknown mode '\(mode)'") }
        legacy = upsample || context.opsetVersion < 11
        coordinateMode = legacy ? "asymmetric" : try context.string("coordinate_transformation_mode", default: "half_pixel")
        nearestMode = legacy ? "floor" : try context.string("nearest_mode", default: "round_prefer_floor")
        cubicA = Double(try context.float("cubic_coeff_a", default: -0.75))
        excludeOutside = try context.int("exclude_outside", default: 0) != 0
        extrapolationValue = Double(try context.float("extrapolation_value", default: 0))
        antialias = try context.int("antialias", default: 0) != 0
        axes = try context.ints("axes")
        aspectPolicy = try context.string("keep_aspect_ratio_policy", default: "stretch")
        attributeScales = upsample ? try context.floats("scales") : nil
    }

    struct Taps {
        var indices: [Int]
        var weights: [Double]
        var extrapolate: Bool
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "X is required") }
        let rank = x.rank
        let resizeAxes = try (axes ?? Array(0..<rank)).map { try DataMovement.axis($0, rank: rank) }
        var scales = [Double](repeating: 1, count: rank)
        var sizes = x.shape
        var roi: [Double] = Array(repeating: 0, count: rank) + Array(repeating: 1, count: rank)
        if let attributeScales {
            guard attributeScales.count == rank else { throw ONNXRunError(.invalidAttribute, "scales has \(attributeScales.count) values for rank \(rank)") }
            scales = attributeScales.map(Double.init)
            sizes = (0..<rank).map { Int(Double(x.shape[$0]) * scales[$0]) }
        } else if legacy {
            guard inputs.count > 1, let s = inputs[1] else { throw ONNXRunError(.invalidInput, "scales input is required") }
            scales = try Conversion.floats(s).map(Double.init)
            sizes = (0..<rank).map { Int(Double(x.shape[$0]) * scales[$0]) }
        } else {
            if inputs.count > 1, let r = inputs[1], r.count > 0 {
                let values = try Conversion.floats(r).map(Double.init)
                guard values.count == 2 * resizeAxes.count else { throw ONNXRunError(.invalidInput, "roi has \(values.count) values for \(resizeAxes.count) axes") }
                for (i, a) in resizeAxes.enumerated() {
                    roi[a] = values[i]
                    roi[rank + a] = values[resizeAxes.count + i]
                }
            }
            if inputs.count > 3, let s = inputs[3], s.count > 0 {
                let requested = try Conversion.integers(s)
                guard requested.count == resizeAxes.count else { throw ONNXRunError(.invalidInput, "sizes has \(requested.count) values for \(resizeAxes.count) axes") }
                for (i, a) in resizeAxes.enumerated() {
                    sizes[a] = requested[i]
                    scales[a] = Double(requested[i]) / Double(x.shape[a])
                }
                if aspectPolicy != "stretch" {
                    let chosen = resizeAxes.map { scales[$0] }
                    let scale = aspectPolicy == "not_larger" ? chosen.min()! : chosen.max()!
                    for a in resizeAxes {
                        scales[a] = scale
                        sizes[a] = Int(scale * Double(x.shape[a]) + 0.5)
                    }
                }
            } else if inputs.count > 2, let s = inputs[2], s.count > 0 {
                let values = try Conversion.floats(s).map(Double.init)
                guard values.count == resizeAxes.count else { throw ONNXRunError(.invalidInput, "scales has \(values.count) values for \(resizeAxes.count) axes") }
                for (i, a) in resizeAxes.enumerated() {
                    scales[a] = values[i]
                    sizes[a] = Int(Double(x.shape[a]) * values[i])
                }
            } else {
                throw ONNXRunError(.invalidInput, "Resize needs scales or sizes")
            }
        }
        if mode == "nearest" && x.dataType == .float && rank > 0,
           let tables = try nearestTables(x.shape, sizes: sizes, scales: scales, roi: roi) {
            return [try Self.gather(x, sizes: sizes, tables: tables, threads: context.threads)]
        }
        var data = try Elements(x).doubles
        var shape = x.shape
        for axis in 0..<rank where sizes[axis] != shape[axis] || scales[axis] != 1 || coordinateMode == "tf_crop_and_resize" {
            let taps = try (0..<sizes[axis]).map { try self.taps(output: $0, inputLength: x.shape[axis], outputLength: sizes[axis], scale: scales[axis], roiStart: roi[axis], roiEnd: roi[rank + axis]) }
            data = resample(data, shape: shape, axis: axis, taps: taps)
            shape[axis] = sizes[axis]
        }
        if x.dataType.isInteger {
            return [try Conversion.cast(try Tensor(shape: shape, scalars: data.map { Int64($0.rounded(.toNearestOrEven)) }), to: x.dataType)]
        }
        return [try Conversion.cast(try Tensor(shape: shape, scalars: data), to: x.dataType)]
    }

    /// For nearest mode: the source index of every output position along each axis, or nil when
    /// some output does not copy exactly one input element (extrapolation, excluded edges).
    private func nearestTables(_ shape: [Int], sizes: [Int], scales: [Double], roi: [Double]) throws -> [[Int]]? {
        let rank = shape.count
        var tables: [[Int]] = []
        for axis in 0..<rank {
            guard sizes[axis] != shape[axis] || scales[axis] != 1 || coordinateMode == "tf_crop_and_resize" else {
                tables.append(Array(0..<shape[axis]))
                continue
            }
            var table: [Int] = []
            table.reserveCapacity(sizes[axis])
            for y in 0..<sizes[axis] {
                let tap = try taps(output: y, inputLength: shape[axis], outputLength: sizes[axis], scale: scales[axis], roiStart: roi[axis], roiEnd: roi[rank + axis])
                let chosen = zip(tap.indices, tap.weights).filter { $0.1 != 0 }
                guard !tap.extrapolate, chosen.count == 1, chosen[0].1 == 1 else { return nil }
                table.append(chosen[0].0)
            }
            tables.append(table)
        }
        return tables
    }

    /// out[i_0, ..., i_n] = x[tables[0][i_0], ..., tables[n][i_n]] for float tensors, one output row
    /// (all but the last axis fixed) at a time, rows split across threads.
    static func gather(_ x: Tensor, sizes: [Int], tables: [[Int]], threads: Int) throws -> Tensor {
        let out = try Tensor(uninitialized: .float, shape: sizes)
        let rank = sizes.count, width = sizes[rank - 1]
        if out.count == 0 { return out }
        let rows = out.count / width
        var inStrides = [Int](repeating: 1, count: rank)
        for a in stride(from: rank - 2, through: 0, by: -1) { inStrides[a] = inStrides[a + 1] * x.shape[a + 1] }
        // Source offset contributed by each index of each outer axis.
        let offsets = (0..<rank).map { a in tables[a].map { $0 * inStrides[a] } }
        let src = UnsafePointer(x.pointer(as: Float.self)), dst = out.pointer(as: Float.self)
        offsets[rank - 1].withUnsafeBufferPointer { last in
            Parallel.forEach(rows, threads: threads, costPerItem: width) { range in
                for row in range {
                    var remainder = row, base = 0
                    for a in stride(from: rank - 2, through: 0, by: -1) {
                        base += offsets[a][remainder % sizes[a]]
                        remainder /= sizes[a]
                    }
                    let line = dst + row * width, source = src + base
                    for j in 0..<width { line[j] = source[last[j]] }
                }
            }
        }
        return out
    }

    private func taps(output y: Int, inputLength n: Int, outputLength: Int, scale: Double, roiStart: Double, roiEnd: Double) throws -> Taps {
        let outputWidth = scale * Double(n)
        let yd = Double(y)
        var source: Double
        switch coordinateMode {
        case "align_corners": source = outputWidth == 1 ? 0 : yd * Double(n - 1) / (outputWidth - 1)
        case "asymmetric": source = yd / scale
        case "tf_crop_and_resize":
            source = outputWidth == 1 ? (roiEnd - roiStart) * Double(n - 1) / 2 : yd * (roiEnd - roiStart) * Double(n - 1) / (outputWidth - 1)
            source += roiStart * Double(n - 1)
            if source < 0 || source > Double(n - 1) { return Taps(indices: [], weights: [], extrapolate: true) }
        case "pytorch_half_pixel": source = outputWidth == 1 ? -0.5 : (yd + 0.5) / scale - 0.5
        case "half_pixel": source = (yd + 0.5) / scale - 0.5
        case "half_pixel_symmetric":
            let adjustment = Double(outputLength) / outputWidth
            let center = Double(n) / 2
            source = center * (1 - adjustment) + (yd + 0.5) / scale - 0.5
        default: throw ONNXRunError(.invalidAttribute, "unknown coordinate_transformation_mode '\(coordinateMode)'")
        }
        let whole = source.rounded(.down)
        let ratio = source == whole ? 1 : source - whole
        var coefficients: [Double]
        switch mode {
        case "nearest":
            if source == whole {
                coefficients = [0, 1]
            } else {
                switch nearestMode {
                case "round_prefer_ceil": coefficients = ratio < 0.5 ? [1, 0] : [0, 1]
                case "floor": coefficients = [1, 0]
                case "ceil": coefficients = [0, 1]
                default: coefficients = ratio <= 0.5 ? [1, 0] : [0, 1]
                }
            }
        case "cubic":
            if antialias {
                let s = Swift.min(scale, 1)
                let start = Int((-2 / s).rounded(.down)) + 1
                coefficients = (start..<(2 - start)).map { cubic(s * (Double($0) - ratio)) }
                let total = coefficients.reduce(0, +)
                coefficients = coefficients.map { $0 / total }
            } else {
                let a = cubicA, r = ratio
                coefficients = [
                    ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
                    ((a + 2) * r - (a + 3)) * r * r + 1,
                    ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1,
                    ((a * ((1 - r) + 1) - 5 * a) * ((1 - r) + 1) + 8 * a) * ((1 - r) + 1) - 4 * a,
                ]
            }
        default:  // linear
            if antialias {
                let s = Swift.min(scale, 1)
                let start = Int((-1 / s).rounded(.down)) + 1
                let footprint = 2 - 2 * start
                coefficients = (start..<(start + footprint)).map { Swift.min(Swift.max(1 - Swift.abs((Double($0) - ratio) * s), 0), 1) }
                let total = coefficients.reduce(0, +)
                coefficients = coefficients.map { $0 / total }
            } else {
                coefficients = [1 - ratio, ratio]
            }
        }
        // The k nearest indexes to `source`, preferring smaller ones on ties; out-of-range ones
        // read the edge value (or drop out with exclude_outside).
        let k = coefficients.count
        let base = Int(source == whole ? whole - 1 : whole)
        let first = base - (k / 2 - 1)
        var indices = (0..<k).map { first + $0 }
        if excludeOutside {
            for (i, index) in indices.enumerated() where index < 0 || index >= n { coefficients[i] = 0 }
            let total = coefficients.reduce(0, +)
            if total != 0 { coefficients = coefficients.map { $0 / total } }
        }
        indices = indices.map { Swift.min(Swift.max($0, 0), n - 1) }
        return Taps(indices: indices, weights: coefficients, extrapolate: false)
    }

    private func cubic(_ v: Double) -> Double {
        let x = Swift.abs(v), a = cubicA
        if x <= 1 { return (a + 2) * x * x * x - (a + 3) * x * x + 1 }
        if x < 2 { return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a }
        return 0
    }

    private func resample(_ data: [Double], shape: [Int], axis: Int, taps: [Taps]) -> [Double] {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *), n = shape[axis]
        let m = taps.count
        var out = [Double](repeating: 0, count: outer * m * inner)
        for o in 0..<outer {
            for (j, tap) in taps.enumerated() {
                let target = (o * m + j) * inner
                if tap.extrapolate {
                    for i in 0..<inner { out[target + i] = extrapolationValue }
                    continue
                }
                for (index, weight) in zip(tap.indices, tap.weights) where weight != 0 {
                    let source = (o * n + index) * inner
                    for i in 0..<inner { out[target + i] += weight * data[source + i] }
                }
            }
        }
        return out
    }
}

extension KernelRegistry {
    static func registerResize(_ r: inout KernelRegistry) {
        r.register("Resize", since: 10, 11, 13, 18, 19) { try ResizeKernel($0) }
        r.register("Upsample", since: 7) { try ResizeKernel($0, upsample: true) }
        r.register("Upsample", since: 9) { try ResizeKernel($0) }
    }
}
