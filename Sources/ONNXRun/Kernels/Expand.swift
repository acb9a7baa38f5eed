/// Kernels that replicate elements: Expand (broadcast to a shape), Tile (repeat along axes) and
/// Where (broadcast select between two tensors).

/// Expand: broadcasts the input against a 1-D shape (bidirectionally, like `x * ones(shape)`).
struct ExpandKernel: TensorKernel {
    init(_ context: KernelContext) throws {
        try context.expectInputs(2)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0], let shapeInput = inputs[1] else { throw ONNXRunError(.invalidInput, "input and shape are required") }
        guard shapeInput.rank == 1 else { throw ONNXRunError(.invalidInput, "shape input must be 1-D, got shape \(shapeInput.shape)") }
        let requested = try Conversion.integers(shapeInput)
        guard requested.allSatisfy({ $0 >= 0 }) else { throw ONNXRunError(.invalidInput, "shape \(requested) has a negative dimension") }
        let shape = try Broadcast.shape(x.shape, requested)
        return try DataMovement.mappingStrings([x], data: [0]) { substituted in
            let x = substituted[0]!
            let out = try Tensor(uninitialized: x.dataType, shape: shape)
            DataMovement.stridedCopy(
                from: x.storage.bytes, base: 0, strides: Broadcast.strides(of: x.shape, in: shape), shape: shape,
                elementSize: try DataMovement.elementSize(x.dataType), into: out.storage.bytes)
            return [out]
        }
    }
}

/// Tile: repeats the input `repeats[d]` times along each axis d (opset ≥ 6); opset 1 repeats it
/// `tiles` times along one `axis`, both given as scalar inputs.
struct TileKernel: TensorKernel {
    let legacy: Bool

    init(_ context: KernelContext) throws {
        legacy = context.opsetVersion < 6
        try context.expectInputs(legacy ? 3 : 2)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        var repeats: [Int]
        if legacy {
            guard let tiles = inputs[1], let axisInput = inputs[2] else { throw ONNXRunError(.invalidInput, "tiles and axis are required") }
            let t = try Conversion.integers(tiles), a = try Conversion.integers(axisInput)
            guard t.count == 1, a.count == 1 else { throw ONNXRunError(.invalidInput, "tiles and axis must be scalars") }
            repeats = Array(repeating: 1, count: x.rank)
            repeats[try DataMovement.axis(a[0], rank: x.rank, .invalidInput)] = t[0]
        } else {
            guard let r = inputs[1] else { throw ONNXRunError(.invalidInput, "repeats are required") }
            repeats = try Conversion.integers(r)
        }
        guard repeats.count == x.rank else {
            throw ONNXRunError(.invalidInput, "repeats \(repeats) must have one entry per axis of shape \(x.shape)")
        }
        guard repeats.allSatisfy({ $0 >= 0 }) else { throw ONNXRunError(.invalidInput, "repeats \(repeats) has a negative entry") }
        let shape = zip(x.shape, repeats).map { $0 * $1 }
        return try DataMovement.mappingStrings([x], data: [0]) { substituted in
            let x = substituted[0]!
            let out = try Tensor(uninitialized: x.dataType, shape: shape)
            // Output index (r_d * dim_d + i_d) read as the pair (r_d, i_d): r_d has stride 0.
            let strides = x.strides
            DataMovement.stridedCopy(
                from: x.storage.bytes, base: 0, strides: strides.flatMap { [0, $0] },
                shape: zip(repeats, x.shape).flatMap { [$0, $1] },
                elementSize: try DataMovement.elementSize(x.dataType), into: out.storage.bytes)
            return [out]
        }
    }
}

/// Where: `condition ? x : y` elementwise, all three broadcast together.
struct WhereKernel: TensorKernel {
    init(_ context: KernelContext) throws {
        try context.expectInputs(3)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let condition = inputs[0], let x = inputs[1], let y = inputs[2] else {
            throw ONNXRunError(.invalidInput, "condition, X and Y are required")
        }
        guard condition.dataType == .bool else { throw ONNXRunError(.invalidInput, "condition must be bool, got \(condition.dataType)") }
        guard x.dataType == y.dataType else { throw ONNXRunError(.invalidInput, "X is \(x.dataType) but Y is \(y.dataType)") }
        let shape = try Broadcast.shape(try Broadcast.shape(condition.shape, x.shape), y.shape)
        return try DataMovement.mappingStrings(inputs, data: [1, 2]) { substituted in
            [try Self.select(condition, substituted[1]!, substituted[2]!, shape: shape)]
        }
    }

    static func select(_ condition: Tensor, _ x: Tensor, _ y: Tensor, shape: [Int]) throws -> Tensor {
        let size = try DataMovement.elementSize(x.dataType)
        let out = try Tensor(uninitialized: x.dataType, shape: shape)
        guard out.count > 0 else { return out }
        let rank = shape.count
        let cs = Broadcast.strides(of: condition.shape, in: shape)
        let xs = Broadcast.strides(of: x.shape, in: shape)
        let ys = Broadcast.strides(of: y.shape, in: shape)
        let inner = rank == 0 ? 1 : shape[rank - 1]
        let ci = rank == 0 ? 0 : cs[rank - 1], xi = rank == 0 ? 0 : xs[rank - 1], yi = rank == 0 ? 0 : ys[rank - 1]
        let c = condition.pointer(as: UInt8.self)

        func run<T>(_: T.Type) {
            let px = x.pointer(as: T.self), py = y.pointer(as: T.self), po = out.pointer(as: T.self)
            var index = [Int](repeating: 0, count: max(rank - 1, 0))
            var co = 0, xo = 0, yo = 0, o = 0
            while o < out.count {
                for k in 0..<inner {
                    po[o + k] = c[co + k * ci] != 0 ? px[xo + k * xi] : py[yo + k * yi]
                }
                o += inner
                var d = rank - 2
                while d >= 0 {
                    index[d] += 1
                    co += cs[d]
                    xo += xs[d]
                    yo += ys[d]
                    if index[d] < shape[d] { break }
                    co -= cs[d] * shape[d]
                    xo -= xs[d] * shape[d]
                    yo -= ys[d] * shape[d]
                    index[d] = 0
                    d -= 1
                }
            }
        }
        switch size {
        case 1: run(UInt8.self)
        case 2: run(UInt16.self)
        case 4: run(UInt32.self)
        case 8: run(UInt64.self)
        case 16: run(SIMD2<UInt64>.self)
        default: throw ONNXRunError(.unsupportedType, "Where on \(x.dataType) is not supported")
        }
        return out
    }
}

extension KernelRegistry {
    static func registerReplication(_ r: inout KernelRegistry) {
        r.register("Expand", since: 8, 13) { try ExpandKernel($0) }
        r.register("Tile", since: 1, 6, 13) { try TileKernel($0) }
        r.register("Where", since: 9, 16) { try WhereKernel($0) }
    }
}
