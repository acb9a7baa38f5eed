/// Slice: a strided sub-tensor, `starts`/`ends`/`axes` as attributes in opset 1, and
/// `starts`/`ends`/`axes`/`steps` inputs from opset 10 (negative steps walk backwards).
struct SliceKernel: TensorKernel {
    /// Opset 1 attributes (nil from opset 10).
    let attributeStarts: [Int]?
    let attributeEnds: [Int]?
    let attributeAxes: [Int]?

    init(_ context: KernelContext) throws {
        if context.opsetVersion < 10 {
            try context.expectInputs(1)
            attributeStarts = try context.required("starts", context.ints)
            attributeEnds = try context.required("ends", context.ints)
            attributeAxes = try context.ints("axes")
        } else {
            try context.expectInputs(3, 5)
            attributeStarts = nil
            attributeEnds = nil
            attributeAxes = nil
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let data = inputs[0] else { throw ONNXRunError(.invalidInput, "data input is required") }
        func input(_ i: Int) throws -> [Int]? {
            guard i < inputs.count, let t = inputs[i] else { return nil }
            return try Conversion.integers(t)
        }
        let starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if let attributeStarts, let attributeEnds {
            (starts, ends, axes, steps) = (attributeStarts, attributeEnds, attributeAxes, nil)
        } else {
            guard let s = try input(1), let e = try input(2) else { throw ONNXRunError(.invalidInput, "starts and ends are required") }
            (starts, ends, axes, steps) = (s, e, try input(3), try input(4))
        }
        let plan = try Self.plan(shape: data.shape, starts: starts, ends: ends, axes: axes, steps: steps)
        return try DataMovement.mappingStrings([data], data: [0]) { substituted in
            let x = substituted[0]!
            let size = try DataMovement.elementSize(x.dataType)
            let out = try Tensor(uninitialized: x.dataType, shape: plan.shape)
            let strides = x.strides
            var base = 0
            for d in 0..<x.rank where plan.shape[d] > 0 { base += plan.start[d] * strides[d] }
            DataMovement.stridedCopy(
                from: x.storage.bytes, base: base, strides: (0..<x.rank).map { strides[$0] * plan.step[$0] },
                shape: plan.shape, elementSize: size, into: out.storage.bytes)
            return [out]
        }
    }

    /// Per-axis first index, step and output size, after normalizing and clamping as the spec says.
    static func plan(shape dims: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws -> (start: [Int], step: [Int], shape: [Int]) {
        let rank = dims.count
        let axes = axes ?? Array(0..<starts.count)
        let steps = steps ?? Array(repeating: 1, count: starts.count)
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw ONNXRunError(.invalidInput, "starts (\(starts.count)), ends (\(ends.count)), axes (\(axes.count)) and steps (\(steps.count)) must have the same length")
        }
        var start = [Int](repeating: 0, count: rank)
        var step = [Int](repeating: 1, count: rank)
        var shape = dims
        var seen = Set<Int>()
        for i in starts.indices {
            let a = try DataMovement.axis(axes[i], rank: rank, .invalidInput)
            guard seen.insert(a).inserted else { throw ONNXRunError(.invalidInput, "axes \(axes) repeat axis \(a)") }
            let dim = dims[a], s = steps[i]
            guard s != 0 else { throw ONNXRunError(.invalidInput, "step for axis \(axes[i]) is 0") }
            var first = starts[i] < 0 ? starts[i] &+ dim : starts[i]
            var last = ends[i] < 0 ? ends[i] &+ dim : ends[i]
            let count: Int
            if s > 0 {
                first = min(max(first, 0), dim)
                last = min(max(last, 0), dim)
                count = last > first ? Int(UInt(last - first - 1) / s.magnitude) + 1 : 0
            } else {
                first = min(max(first, 0), dim - 1)
                last = min(max(last, -1), dim - 1)
                count = first > last ? Int(UInt(first - last - 1) / s.magnitude) + 1 : 0
            }
            start[a] = first
            step[a] = s
            shape[a] = count
        }
        return (start, step, shape)
    }
}

extension KernelRegistry {
    static func registerSlice(_ r: inout KernelRegistry) {
        r.register("Slice", since: 1, 10, 11, 13) { try SliceKernel($0) }
    }
}
