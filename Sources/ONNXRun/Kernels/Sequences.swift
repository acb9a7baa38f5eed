/// Sequence and optional operators: SequenceEmpty/Construct/Insert/At/Erase/Length,
/// SplitToSequence, ConcatFromSequence, Optional, OptionalHasElement, OptionalGetElement.
/// They move values, not numbers, so they implement `Kernel.run` directly.

/// Tensor helpers shared by sequence kernels and Loop/Scan.
enum TensorStacking {
    /// Joins tensors of one type along `axis`; with `newAxis`, stacks them along a new axis there.
    static func join(_ tensors: [Tensor], axis: Int, newAxis: Bool) throws -> Tensor {
        guard let first = tensors.first else { throw ONNXRunError(.invalidInput, "cannot join an empty list of tensors") }
        var parts = tensors
        var joinAxis = axis
        if newAxis {
            let rank = first.rank + 1
            joinAxis = try DataMovement.axis(axis, rank: rank)
            parts = try tensors.map { t in
                var shape = t.shape
                shape.insert(1, at: min(joinAxis, shape.count))
                return try t.reshaped(to: shape)
            }
        }
        return try DataMovement.mappingStrings(parts, data: Array(parts.indices)) { substituted in
            [try ConcatKernel.concatenate(substituted.map { $0! }, axis: joinAxis)]
        }[0]
    }

    /// The part of `t` from `start` with `length` elements along `axis`.
    static func slice(_ t: Tensor, axis: Int, start: Int, length: Int) throws -> Tensor {
        var shape = t.shape
        shape[axis] = length
        if t.dataType == .string {
            let inner = DataMovement.product(t.shape, (axis + 1)..<t.rank)
            let outer = DataMovement.product(t.shape, 0..<axis)
            var strings: [String] = []
            strings.reserveCapacity(outer * length * inner)
            for o in 0..<outer {
                let base = (o * t.shape[axis] + start) * inner
                strings.append(contentsOf: t.strings[base..<base + length * inner])
            }
            return try Tensor(shape: shape, strings: strings)
        }
        let size = try DataMovement.elementSize(t.dataType)
        let out = try Tensor(uninitialized: t.dataType, shape: shape)
        let inner = DataMovement.product(t.shape, (axis + 1)..<t.rank) * size
        let outer = DataMovement.product(t.shape, 0..<axis)
        let block = length * inner
        if block > 0 {
            for o in 0..<outer {
                (out.storage.bytes + o * block).copyMemory(from: t.storage.bytes + (o * t.shape[axis] + start) * inner, byteCount: block)
            }
        }
        return out
    }
}

extension Array where Element == Value? {
    /// Input `i` as a sequence; throws when it is missing or something else.
    func sequence(_ i: Int) throws -> [Value] {
        guard i < count, let value = self[i] else { throw ONNXRunError(.invalidInput, "input \(i) is missing") }
        guard case .sequence(let items) = value else { throw ONNXRunError(.invalidInput, "input \(i) must be a sequence, got \(value.typeDescription)") }
        return items
    }

    /// Input `i` as a tensor; throws when it is missing or something else.
    func tensor(_ i: Int) throws -> Tensor {
        guard i < count, let value = self[i] else { throw ONNXRunError(.invalidInput, "input \(i) is missing") }
        guard case .tensor(let t) = value else { throw ONNXRunError(.invalidInput, "input \(i) must be a tensor, got \(value.typeDescription)") }
        return t
    }

    /// Input `i` as a tensor when present.
    func optionalTensor(_ i: Int) throws -> Tensor? {
        guard i < count, self[i] != nil else { return nil }
        return try tensor(i)
    }
}

/// A position in a sequence of `count` items; negative counts from the end. `allowEnd` admits `count`.
private func sequencePosition(_ tensor: Tensor?, count: Int, default fallback: Int, allowEnd: Bool) throws -> Int {
    guard let tensor else { return fallback }
    guard tensor.count == 1, let raw = try Conversion.integers(tensor).first else {
        throw ONNXRunError(.invalidInput, "position must be a scalar integer")
    }
    let position = raw < 0 ? raw + count : raw
    guard position >= 0, position < count || (allowEnd && position == count) else {
        throw ONNXRunError(.outOfRange, "position \(raw) is out of range for a sequence of \(count)")
    }
    return position
}

/// A kernel defined by a closure over its inputs.
struct ValueKernel: Kernel {
    let body: @Sendable ([Value?], RunContext) throws -> [Value]
    func run(_ inputs: [Value?], _ context: RunContext) throws -> [Value] { try body(inputs, context) }
}

extension KernelRegistry {
    static func registerSequences(_ r: inout KernelRegistry) {
        r.register("SequenceEmpty", since: 11) { _ in ValueKernel { _, _ in [.sequence([])] } }
        r.register("SequenceConstruct", since: 11) { c in
            try c.expectInputs(1, Int.max)
            return ValueKernel { inputs, _ in
                let tensors = try inputs.indices.map { try inputs.tensor($0) }
                guard tensors.allSatisfy({ $0.dataType == tensors[0].dataType }) else {
                    throw ONNXRunError(.invalidInput, "all tensors of a sequence must have one element type")
                }
                return [.sequence(tensors.map(Value.tensor))]
            }
        }
        r.register("SequenceInsert", since: 11) { c in
            try c.expectInputs(2, 3)
            return ValueKernel { inputs, _ in
                var items = try inputs.sequence(0)
                let tensor = try inputs.tensor(1)
                if case .tensor(let first)? = items.first, first.dataType != tensor.dataType {
                    throw ONNXRunError(.invalidInput, "inserting a \(tensor.dataType) tensor into a sequence of \(first.dataType)")
                }
                let position = try sequencePosition(try inputs.optionalTensor(2), count: items.count, default: items.count, allowEnd: true)
                items.insert(.tensor(tensor), at: position)
                return [.sequence(items)]
            }
        }
        r.register("SequenceAt", since: 11) { c in
            try c.expectInputs(2)
            return ValueKernel { inputs, _ in
                let items = try inputs.sequence(0)
                let position = try sequencePosition(try inputs.tensor(1), count: items.count, default: 0, allowEnd: false)
                return [items[position]]
            }
        }
        r.register("SequenceErase", since: 11) { c in
            try c.expectInputs(1, 2)
            return ValueKernel { inputs, _ in
                var items = try inputs.sequence(0)
                let position = try sequencePosition(try inputs.optionalTensor(1), count: items.count, default: items.count - 1, allowEnd: false)
                items.remove(at: position)
                return [.sequence(items)]
            }
        }
        r.register("SequenceLength", since: 11) { c in
            try c.expectInputs(1)
            return ValueKernel { inputs, _ in [.tensor(Tensor(scalar: Int64(try inputs.sequence(0).count)))] }
        }
        r.register("ConcatFromSequence", since: 11) { c in
            try c.expectInputs(1)
            let axis = try c.required("axis", c.int)
            let newAxis = try c.int("new_axis", default: 0) != 0
            return ValueKernel { inputs, _ in
                let tensors = try inputs.sequence(0).map { v -> Tensor in
                    guard let t = v.tensor else { throw ONNXRunError(.invalidInput, "sequence elements must be tensors") }
                    return t
                }
                return [.tensor(try TensorStacking.join(tensors, axis: axis, newAxis: newAxis))]
            }
        }
        r.register("SplitToSequence", since: 11, 24) { c in
            try c.expectInputs(1, 2)
            let axisAttribute = try c.int("axis", default: 0)
            let keepDims = try c.int("keepdims", default: 1) != 0
            return ValueKernel { inputs, _ in
                let input = try inputs.tensor(0)
                let axis = try DataMovement.axis(axisAttribute, rank: input.rank)
                let length = input.shape[axis]
                var parts: [Tensor] = []
                if let split = try inputs.optionalTensor(1) {
                    let sizes = try Conversion.integers(split)
                    if split.rank == 0 {
                        let chunk = sizes[0]
                        guard chunk > 0 else { throw ONNXRunError(.invalidInput, "split size must be positive, got \(chunk)") }
                        var start = 0
                        while start < length {
                            parts.append(try TensorStacking.slice(input, axis: axis, start: start, length: min(chunk, length - start)))
                            start += chunk
                        }
                    } else {
                        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == length else {
                            throw ONNXRunError(.invalidInput, "split sizes \(sizes) must be non-negative and sum to \(length)")
                        }
                        var start = 0
                        for size in sizes {
                            parts.append(try TensorStacking.slice(input, axis: axis, start: start, length: size))
                            start += size
                        }
                    }
                } else {
                    for start in 0..<length {
                        var part = try TensorStacking.slice(input, axis: axis, start: start, length: 1)
                        if !keepDims {
                            var shape = part.shape
                            shape.remove(at: axis)
                            part = try part.reshaped(to: shape)
                        }
                        parts.append(part)
                    }
                }
                return [.sequence(parts.map(Value.tensor))]
            }
        }

        r.register("Optional", since: 15) { c in
            try c.expectInputs(0, 1)
            return ValueKernel { inputs, _ in [.optional(inputs.first ?? nil)] }
        }
        r.register("OptionalHasElement", since: 15, 18) { c in
            try c.expectInputs(0, 1)
            return ValueKernel { inputs, _ in
                let has: Bool
                switch inputs.first ?? nil {
                case nil, .optional(nil)?: has = false
                default: has = true
                }
                return [.tensor(Tensor(scalar: has))]
            }
        }
        r.register("OptionalGetElement", since: 15, 18) { c in
            try c.expectInputs(1)
            return ValueKernel { inputs, _ in
                switch inputs[0] {
                case .optional(let inner?)?: return [inner]
                case .optional(nil)?, nil: throw ONNXRunError(.invalidInput, "the optional input is empty")
                case let value?: return [value]
                }
            }
        }
    }
}
