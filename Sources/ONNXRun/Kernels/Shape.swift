/// Operators that only change or report a tensor's shape: Reshape, Flatten, Squeeze, Unsqueeze,
/// Identity, Shape and Size. Reshaping ones return zero-copy views of their input.

/// Reshape: target shape from the `shape` attribute (opset 1–4) or the second input (opset ≥ 5).
struct ReshapeKernel: TensorKernel {
    /// The target from the attribute, before opset 5.
    let attributeShape: [Int]?
    /// Opset ≥ 14: a 0 in the target means a zero-sized dimension instead of "copy the input's".
    let allowZero: Bool

    init(_ context: KernelContext) throws {
        if context.opsetVersion < 5 {
            try context.expectInputs(1)
            attributeShape = try context.required("shape", context.ints)
        } else {
            try context.expectInputs(2)
            attributeShape = nil
        }
        allowZero = context.opsetVersion >= 14 ? try context.int("allowzero", default: 0) != 0 : false
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let data = inputs[0] else { throw ONNXRunError(.invalidInput, "data input is required") }
        let requested: [Int]
        if let attributeShape {
            requested = attributeShape
        } else {
            guard let shape = inputs[1] else { throw ONNXRunError(.invalidInput, "shape input is required") }
            guard shape.rank == 1 else { throw ONNXRunError(.invalidInput, "shape input must be 1-D, got shape \(shape.shape)") }
            requested = try Conversion.integers(shape)
        }
        return [try data.reshaped(to: try Self.resolve(requested, input: data.shape, count: data.count, allowZero: allowZero))]
    }

    /// The output shape for a requested shape with 0 (copy) and -1 (infer) entries.
    static func resolve(_ requested: [Int], input: [Int], count: Int, allowZero: Bool) throws -> [Int] {
        var shape = requested
        var inferred: Int? = nil
        var known = 1
        for (i, d) in requested.enumerated() {
            switch d {
            case -1:
                guard inferred == nil else { throw ONNXRunError(.invalidInput, "shape \(requested) has more than one -1") }
                inferred = i
            case 0 where !allowZero:
                guard i < input.count else {
                    throw ONNXRunError(.shapeMismatch, "shape \(requested) copies dimension \(i) of an input of rank \(input.count)")
                }
                shape[i] = input[i]
                known *= input[i]
            case let d where d < 0:
                throw ONNXRunError(.invalidInput, "shape \(requested) has invalid dimension \(d)")
            default:
                let (p, overflow) = known.multipliedReportingOverflow(by: d)
                guard !overflow else { throw ONNXRunError(.shapeMismatch, "shape \(requested) is too large") }
                known = p
            }
        }
        if let inferred {
            if allowZero && requested.contains(0) {
                throw ONNXRunError(.invalidInput, "shape \(requested) has both 0 and -1, which allowzero=1 forbids")
            }
            guard known != 0, count % known == 0 else {
                throw ONNXRunError(.shapeMismatch, "cannot reshape \(input) (\(count) elements) to \(requested): the -1 dimension cannot be inferred")
            }
            shape[inferred] = count / known
        } else if known != count {
            throw ONNXRunError(.shapeMismatch, "cannot reshape \(input) (\(count) elements) to \(shape) (\(known) elements)")
        }
        return shape
    }
}

/// Flatten: `[d0 … d(axis-1)] × [d(axis) … dn]`.
struct FlattenKernel: TensorKernel {
    let axis: Int

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        axis = try context.int("axis", default: 1)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        let a = axis < 0 ? axis + x.rank : axis
        guard a >= 0 && a <= x.rank else {
            throw ONNXRunError(.invalidAttribute, "axis \(axis) is out of range for rank \(x.rank) (expected -\(x.rank)...\(x.rank))")
        }
        let outer = DataMovement.product(x.shape, 0..<a)
        let inner = DataMovement.product(x.shape, a..<x.rank)
        return [try x.reshaped(to: [outer, inner])]
    }
}

/// Squeeze: removes the listed size-1 axes (attribute before opset 13, input from 13), or every
/// size-1 axis when none are listed.
struct SqueezeKernel: TensorKernel {
    let attributeAxes: [Int]?
    let axesFromInput: Bool

    init(_ context: KernelContext) throws {
        if context.opsetVersion < 13 {
            try context.expectInputs(1)
            attributeAxes = try context.ints("axes")
            axesFromInput = false
        } else {
            try context.expectInputs(1, 2)
            attributeAxes = nil
            axesFromInput = context.hasInput(1)
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "data input is required") }
        var axes = attributeAxes
        if axesFromInput, inputs.count > 1, let t = inputs[1] { axes = try Conversion.integers(t) }
        guard let axes else { return [try x.reshaped(to: x.shape.filter { $0 != 1 })] }
        var remove = Set<Int>()
        for axis in axes {
            let a = try DataMovement.axis(axis, rank: x.rank, .invalidInput)
            guard x.shape[a] == 1 else {
                throw ONNXRunError(.shapeMismatch, "cannot squeeze axis \(axis) of shape \(x.shape): its size is not 1")
            }
            remove.insert(a)
        }
        let shape = x.shape.indices.filter { !remove.contains($0) }.map { x.shape[$0] }
        return [try x.reshaped(to: shape)]
    }
}

/// Unsqueeze: inserts size-1 axes at positions of the output (attribute before opset 13, input from 13).
struct UnsqueezeKernel: TensorKernel {
    let attributeAxes: [Int]?

    init(_ context: KernelContext) throws {
        if context.opsetVersion < 13 {
            try context.expectInputs(1)
            attributeAxes = try context.required("axes", context.ints)
        } else {
            try context.expectInputs(2)
            attributeAxes = nil
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "data input is required") }
        let axes: [Int]
        if let attributeAxes {
            axes = attributeAxes
        } else {
            guard let t = inputs[1] else { throw ONNXRunError(.invalidInput, "axes input is required") }
            axes = try Conversion.integers(t)
        }
        let rank = x.rank + axes.count
        var inserted = [Bool](repeating: false, count: rank)
        for axis in axes {
            let a = try DataMovement.axis(axis, rank: rank, .invalidInput)
            guard !inserted[a] else { throw ONNXRunError(.invalidInput, "axes \(axes) repeat axis \(a)") }
            inserted[a] = true
        }
        var shape: [Int] = []
        shape.reserveCapacity(rank)
        var next = 0
        for a in 0..<rank {
            if inserted[a] {
                shape.append(1)
            } else {
                shape.append(x.shape[next])
                next += 1
            }
        }
        return [try x.reshaped(to: shape)]
    }
}

/// Identity: passes any value through (tensors, sequences, optionals).
struct IdentityKernel: Kernel {
    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
    }

    func run(_ inputs: [Value?], _ context: RunContext) throws -> [Value] {
        guard let value = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        return [value]
    }
}

/// Shape: the input's dimensions as 1-D int64, optionally sliced by `start`/`end` (opset ≥ 15).
struct ShapeKernel: TensorKernel {
    let start: Int
    let end: Int?

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        if context.opsetVersion >= 15 {
            start = try context.int("start", default: 0)
            end = try context.int("end")
        } else {
            start = 0
            end = nil
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        let rank = x.rank
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
        let from = clamp(start), to = clamp(end ?? rank)
        let dims = from < to ? x.shape[from..<to].map { Int64($0) } : []
        return [try Tensor(shape: [dims.count], scalars: dims)]
    }
}

/// Size: the element count as an int64 scalar.
struct SizeKernel: TensorKernel {
    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        return [Tensor(scalar: Int64(x.count))]
    }
}

extension KernelRegistry {
    static func registerShapeKernels(_ r: inout KernelRegistry) {
        r.register("Reshape", since: 1, 5, 13, 14, 19, 21, 23) { try ReshapeKernel($0) }
        r.register("Flatten", since: 1, 9, 11, 13, 21, 23) { try FlattenKernel($0) }
        r.register("Squeeze", since: 1, 11, 13, 21, 23) { try SqueezeKernel($0) }
        r.register("Unsqueeze", since: 1, 11, 13, 21, 23) { try UnsqueezeKernel($0) }
        r.register("Identity", since: 1, 13, 14, 16, 19, 21, 23) { try IdentityKernel($0) }
        r.register("Shape", since: 1, 13, 15, 19, 21, 23) { try ShapeKernel($0) }
        r.register("Size", since: 1, 13, 19, 21, 23) { try SizeKernel($0) }
    }
}
