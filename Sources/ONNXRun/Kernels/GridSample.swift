import Foundation

/// GridSample (N-D; nearest, linear, cubic; zeros, border and reflection padding) and AffineGrid.
struct GridSampleKernel: TensorKernel {
    enum Mode: Sendable { case nearest, linear, cubic }
    let mode: Mode
    let padding: String
    let alignCorners: Bool

    init(_ context: KernelContext) throws {
        try context.expectInputs(2)
        switch try context.string("mode", default: context.opsetVersion < 20 ? "bilinear" : "linear") {
        case "nearest": mode = .nearest
        case "bilinear", "linear": mode = .linear
        case "bicubic", "cubic": mode = .cubic
        case let other: throw context.error(.invalidAttribute, "unknown mode '\(other)'")
        }
        padding = try context.string("padding_mode", default: "zeros")
        guard ["zeros", "border", "reflection"].contains(padding) else { throw context.error(.invalidAttribute, "unknown padding_mode '\(padding)'") }
        alignCorners = try context.int("align_corners", default: 0) != 0
    }

    private func reflect(_ x: Double, _ low: Double, _ high: Double) -> Double {
        let range = high - low
        if x < low {
            let d = low - x, n = Int(d / range), r = d - Double(n) * range
            return n % 2 == 0 ? low + r : high - r
        }
        if x > high {
            let d = x - high, n = Int(d / range), r = d - Double(n) * range
            return n % 2 == 0 ? high - r : low + r
        }
        return x
    }

    private func cubicWeights(_ t: Double) -> [Double] {
        let a = -0.75, x = Swift.abs(t)
        return [
            ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a,
            ((a + 2) * x - (a + 3)) * x * x + 1,
            ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1,
            ((a * (2 - x) - 5 * a) * (2 - x) + 8 * a) * (2 - x) - 4 * a,
        ]
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0], let grid = inputs[1] else { throw ONNXRunError(.invalidInput, "X and grid are required") }
        let dims = Array(x.shape[2...]), d = dims.count
        guard grid.rank == d + 2, grid.shape[0] == x.shape[0], grid.shape[d + 1] == d else {
            throw ONNXRunError(.shapeMismatch, "grid \(grid.shape) does not fit X \(x.shape)")
        }
        let outSpatial = Array(grid.shape[1...d])
        let (batch, channels) = (x.shape[0], x.shape[1])
        let values = try Elements(x).doubles, g = try Elements(grid).doubles
        let inSize = dims.reduce(1, *), outSize = outSpatial.reduce(1, *)
        var inStrides = [Int](repeating: 1, count: d)
        for i in stride(from: d - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * dims[i + 1] }
        let low: [Double] = dims.map { _ in alignCorners ? 0 : -0.5 }
        let high: [Double] = dims.map { alignCorners ? Double($0 - 1) : Double($0) - 0.5 }
        var out = [Double](repeating: 0, count: batch * channels * outSize)
        for n in 0..<batch {
            for o in 0..<outSize {
                // Grid values are (x, y, z…), i.e. the spatial axes in reverse order.
                var coordinate = [Double](repeating: 0, count: d)
                for i in 0..<d {
                    let normalized = Float(g[(n * outSize + o) * d + (d - 1 - i)])
                    let length = Float(dims[i])
                    let v: Float = alignCorners ? (normalized + 1) / 2 * (length - 1) : ((normalized + 1) * length - 1) / 2
                    coordinate[i] = Double(v)
                }
                if mode == .nearest { coordinate = coordinate.map { $0.rounded(.toNearestOrEven) } }
                for i in 0..<d where coordinate[i] < low[i] || coordinate[i] > high[i] {
                    if padding == "border" { coordinate[i] = Swift.min(Swift.max(coordinate[i], 0), Double(dims[i] - 1)) }
                    if padding == "reflection" { coordinate[i] = reflect(coordinate[i], low[i], high[i]) }
                }
                // Taps per axis: (index, weight).
                let taps: [[(Int, Double)]] = (0..<d).map { i in
                    switch mode {
                    case .nearest: return [(Int(coordinate[i]), 1)]
                    case .linear:
                        let base = coordinate[i].rounded(.down), t = coordinate[i] - base
                        return [(Int(base), 1 - t), (Int(base) + 1, t)]
                    case .cubic:
                        let base = coordinate[i].rounded(.down)
                        let w = cubicWeights(coordinate[i] - base)
                        return (0..<4).map { (Int(base) - 1 + $0, w[$0]) }
                    }
                }
                // Resolve a tap index per the padding mode; nil means a zero (outside, zeros mode).
                func resolve(_ index: Int, _ axis: Int) -> Int? {
                    if index >= 0 && index < dims[axis] { return index }
                    switch padding {
                    case "border": return Swift.min(Swift.max(index, 0), dims[axis] - 1)
                    case "reflection": return Swift.min(Swift.max(Int(reflect(Double(index), low[axis], high[axis])), 0), dims[axis] - 1)
                    default: return nil
                    }
                }
                var combination = [Int](repeating: 0, count: d)
                let counts = taps.map(\.count)
                while true {
                    var weight = 1.0, offset = 0, inside = true
                    for i in 0..<d {
                        let (index, w) = taps[i][combination[i]]
                        weight *= w
                        if let r = resolve(index, i) { offset += r * inStrides[i] } else { inside = false }
                    }
                    if inside && weight != 0 {
                        for c in 0..<channels { out[(n * channels + c) * outSize + o] += weight * values[(n * channels + c) * inSize + offset] }
                    }
                    var axis = d - 1
                    while axis >= 0 {
                        combination[axis] += 1
                        if combination[axis] < counts[axis] { break }
                        combination[axis] = 0
                        axis -= 1
                    }
                    if axis < 0 { break }
                }
            }
        }
        return [try Conversion.cast(try Tensor(shape: [batch, channels] + outSpatial, scalars: out), to: x.dataType)]
    }
}

extension KernelRegistry {
    static func registerGridSample(_ r: inout KernelRegistry) {
        r.register("GridSample", since: 16, 20, 22) { try GridSampleKernel($0) }
        r.register("AffineGrid", since: 20) { c in
            try c.expectInputs(2)
            let alignCorners = try c.int("align_corners", default: 0) != 0
            return ValueKernel { inputs, _ in
                let theta = try inputs.tensor(0), size = try Conversion.integers(try inputs.tensor(1))
                let spatial = Array(size.dropFirst(2)), d = spatial.count
                guard d == 2 || d == 3, theta.shape == [size[0], d, d + 1] else { throw ONNXRunError(.shapeMismatch, "theta \(theta.shape) does not fit size \(size)") }
                let t = try Elements(theta).doubles
                func base(_ i: Int, _ n: Int) -> Double {
                    if alignCorners { return n == 1 ? 0 : -1 + 2 * Double(i) / Double(n - 1) }
                    return (2 * Double(i) + 1) / Double(n) - 1
                }
                let points = spatial.reduce(1, *)
                var out = [Double](repeating: 0, count: size[0] * points * d)
                for n in 0..<size[0] {
                    for p in 0..<points {
                        var rest = p, index = [Int](repeating: 0, count: d)
                        for i in (0..<d).reversed() { index[i] = rest % spatial[i]; rest /= spatial[i] }
                        // Homogeneous point (x, y[, z], 1): x runs along the last axis.
                        let point = (0..<d).map { base(index[d - 1 - $0], spatial[d - 1 - $0]) } + [1]
                        for row in 0..<d {
                            var sum = 0.0
                            for k in 0...d { sum += t[(n * d + row) * (d + 1) + k] * point[k] }
                            out[(n * points + p) * d + row] = sum
                        }
                    }
                }
                return [.tensor(try Conversion.cast(try Tensor(shape: [size[0]] + spatial + [d], scalars: out), to: theta.dataType))]
            }
        }
    }
}
