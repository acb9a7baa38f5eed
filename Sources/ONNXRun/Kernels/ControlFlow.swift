/// Control flow: If, Loop, Scan and SequenceMap. Bodies are compiled once, when the enclosing
/// plan is built, and run in the scope of the enclosing graph (so they can read outer values).

/// If: runs `then_branch` or `else_branch` depending on a boolean scalar.
struct IfKernel: Kernel {
    let thenPlan: ExecutionPlan
    let elsePlan: ExecutionPlan

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        thenPlan = try context.compileSubgraph(try context.required("then_branch", context.graph))
        elsePlan = try context.compileSubgraph(try context.required("else_branch", context.graph))
    }

    func run(_ inputs: [Value?], _ context: RunContext) throws -> [Value] {
        let condition = try inputs.tensor(0)
        guard condition.count == 1 else { throw ONNXRunError(.invalidInput, "the condition must hold one element, got shape \(condition.shape)") }
        let taken = try Conversion.reader(condition)(0) != 0
        return try (taken ? thenPlan : elsePlan).run(inputs: [], context: context)
    }
}

/// Loop: repeats the body while the trip count and condition allow, carrying values from one
/// iteration to the next and stacking per-iteration scan outputs along a new first axis.
struct LoopKernel: Kernel {
    let body: ExecutionPlan

    init(_ context: KernelContext) throws {
        try context.expectInputs(2, Int.max)
        body = try context.compileSubgraph(try context.required("body", context.graph))
        guard body.graph.inputs.count == context.inputCount, body.graph.outputs.count >= context.inputCount - 1 else {
            throw context.error(.invalidModel, "the body takes \(body.graph.inputs.count) inputs and gives \(body.graph.outputs.count) outputs; with \(context.inputCount - 2) loop-carried values it needs \(context.inputCount) inputs and at least \(context.inputCount - 1) outputs")
        }
    }

    func run(_ inputs: [Value?], _ context: RunContext) throws -> [Value] {
        let maxTrips: Int64? = try inputs.optionalTensor(0).map { Int64(try Conversion.integers($0).first ?? 0) }
        var condition: Bool = try inputs.optionalTensor(1).map { try Conversion.reader($0)(0) != 0 } ?? true
        var carried: [Value] = try (2..<inputs.count).map { i in
            guard let v = inputs[i] else { throw ONNXRunError(.invalidInput, "loop-carried input \(i) is missing") }
            return v
        }
        let scanCount = body.graph.outputs.count - 1 - carried.count
        var scans = [[Tensor]](repeating: [], count: scanCount)
        var iteration: Int64 = 0
        while condition && (maxTrips.map { iteration < $0 } ?? true) {
            let results = try body.run(
                inputs: [.tensor(Tensor(scalar: iteration)), .tensor(Tensor(scalar: condition))] + carried.map(Optional.some),
                context: context)
            guard let next = results[0].tensor else { throw ONNXRunError(.invalidModel, "the body's condition output must be a tensor") }
            condition = try Conversion.reader(next)(0) != 0
            carried = Array(results[1..<1 + carried.count])
            for k in 0..<scanCount {
                guard let t = results[1 + carried.count + k].tensor else {
                    throw ONNXRunError(.unsupportedType, "scan output \(k) of the body must be a tensor")
                }
                scans[k].append(t)
            }
            iteration += 1
        }
        let stacked = try scans.enumerated().map { k, items -> Value in
            if items.isEmpty {
                let info = body.graph.outputs[1 + carried.count + k]
                var type = DataType.float
                if case .tensor(let element?, _)? = info.type { type = element }
                return .tensor(try Tensor(zeros: type, shape: [0]))
            }
            return .tensor(try TensorStacking.join(items, axis: 0, newAxis: true))
        }
        return carried + stacked
    }
}

/// Scan (opset 9+): iterates the body over slices of the scan inputs, carrying state; opset 8's
/// batched form runs the same per batch entry.
struct ScanKernel: Kernel {
    let body: ExecutionPlan
    let scanInputCount: Int
    let inputAxes: [Int]?
    let inputDirections: [Int]
    let outputAxes: [Int]?
    let outputDirections: [Int]
    /// Opset 8: first input is sequence_lens and every tensor has a leading batch axis.
    let batched: Bool

    init(_ context: KernelContext) throws {
        body = try context.compileSubgraph(try context.required("body", context.graph))
        scanInputCount = try context.required("num_scan_inputs", context.int)
        batched = context.opsetVersion < 9
        if batched {
            inputDirections = try context.ints("directions") ?? []
            inputAxes = nil
            outputAxes = nil
            outputDirections = []
        } else {
            inputAxes = try context.ints("scan_input_axes")
            inputDirections = try context.ints("scan_input_directions") ?? []
            outputAxes = try context.ints("scan_output_axes")
            outputDirections = try context.ints("scan_output_directions") ?? []
        }
        let stateCount = context.inputCount - (batched ? 1 : 0) - scanInputCount
        guard stateCount >= 0, body.graph.inputs.count == stateCount + scanInputCount, body.graph.outputs.count >= stateCount else {
            throw context.error(.invalidModel, "the body's inputs/outputs do not match \(stateCount) states and \(scanInputCount) scan inputs")
        }
    }

    func run(_ inputs: [Value?], _ context: RunContext) throws -> [Value] {
        if !batched {
            let tensors = try inputs.indices.map { try inputs.tensor($0) }
            return try scan(tensors, sequenceLength: nil, context).map(Value.tensor)
        }
        // Opset 8: [sequence_lens], states [batch, ...], scan inputs [batch, seq, ...].
        let lengths = try inputs.optionalTensor(0).map { try Conversion.integers($0) }
        let tensors = try (1..<inputs.count).map { try inputs.tensor($0) }
        guard let batch = tensors.first?.shape.first else { throw ONNXRunError(.invalidInput, "Scan needs batched inputs") }
        var perBatch: [[Tensor]] = []
        for b in 0..<batch {
            let slices = try tensors.map { t -> Tensor in
                let s = try TensorStacking.slice(t, axis: 0, start: b, length: 1)
                return try s.reshaped(to: Array(s.shape.dropFirst()))
            }
            perBatch.append(try scan(slices, sequenceLength: lengths.map { $0[b] }, context))
        }
        return try (0..<perBatch[0].count).map { k in
            .tensor(try TensorStacking.join(perBatch.map { $0[k] }, axis: 0, newAxis: true))
        }
    }

    private func scan(_ tensors: [Tensor], sequenceLength: Int?, _ context: RunContext) throws -> [Tensor] {
        let stateCount = tensors.count - scanInputCount
        var states = Array(tensors[0..<stateCount])
        let scanInputs = Array(tensors[stateCount...])
        let axes = try scanInputs.enumerated().map { i, t in try DataMovement.axis(inputAxes.map { i < $0.count ? $0[i] : 0 } ?? 0, rank: t.rank) }
        guard let length = zip(scanInputs, axes).map({ $0.shape[$1] }).first else {
            throw ONNXRunError(.invalidInput, "Scan needs at least one scan input")
        }
        guard zip(scanInputs, axes).allSatisfy({ $0.shape[$1] == length }) else {
            throw ONNXRunError(.shapeMismatch, "scan inputs differ in length along their scan axes")
        }
        let steps = min(sequenceLength ?? length, length)
        let outputCount = body.graph.outputs.count - stateCount
        var collected = [[Tensor]](repeating: [], count: outputCount)
        for step in 0..<steps {
            var bodyInputs: [Value?] = states.map { .tensor($0) }
            for (i, t) in scanInputs.enumerated() {
                let reverse = i < inputDirections.count && inputDirections[i] == 1
                let index = reverse ? steps - 1 - step : step
                let slice = try TensorStacking.slice(t, axis: axes[i], start: index, length: 1)
                var shape = slice.shape
                shape.remove(at: axes[i])
                bodyInputs.append(.tensor(try slice.reshaped(to: shape)))
            }
            let results = try body.run(inputs: bodyInputs, context: context)
            states = try results[0..<stateCount].map {
                guard let t = $0.tensor else { throw ONNXRunError(.unsupportedType, "Scan states must be tensors") }
                return t
            }
            for k in 0..<outputCount {
                guard let t = results[stateCount + k].tensor else { throw ONNXRunError(.unsupportedType, "Scan outputs must be tensors") }
                collected[k].append(t)
            }
        }
        let outputs = try collected.enumerated().map { k, items -> Tensor in
            guard let first = items.first else { throw ONNXRunError(.invalidInput, "Scan over an empty sequence has no outputs to stack") }
            let reverse = k < outputDirections.count && outputDirections[k] == 1
            let axis = try DataMovement.axis(outputAxes.map { k < $0.count ? $0[k] : 0 } ?? 0, rank: first.rank + 1)
            return try TensorStacking.join(reverse ? items.reversed() : items, axis: axis, newAxis: true)
        }
        return states + outputs
    }
}

/// SequenceMap: runs the body once per sequence position; extra inputs that are sequences are
/// indexed in step, tensors are passed whole.
struct SequenceMapKernel: Kernel {
    let body: ExecutionPlan

    init(_ context: KernelContext) throws {
        try context.expectInputs(1, Int.max)
        body = try context.compileSubgraph(try context.required("body", context.graph))
    }

    func run(_ inputs: [Value?], _ context: RunContext) throws -> [Value] {
        let items = try inputs.sequence(0)
        var outputs = [[Value]](repeating: [], count: body.graph.outputs.count)
        for i in 0..<items.count {
            var bodyInputs: [Value?] = [items[i]]
            for j in 1..<inputs.count {
                if case .sequence(let extra)? = inputs[j] {
                    guard i < extra.count else { throw ONNXRunError(.shapeMismatch, "sequence input \(j) is shorter than input 0") }
                    bodyInputs.append(extra[i])
                } else {
                    bodyInputs.append(inputs[j])
                }
            }
            for (k, value) in try body.run(inputs: bodyInputs, context: context).enumerated() { outputs[k].append(value) }
        }
        return outputs.map { .sequence($0) }
    }
}

extension KernelRegistry {
    static func registerControlFlow(_ r: inout KernelRegistry) {
        r.register("If", since: 1, 11, 13, 16, 19, 21, 23, 24) { try IfKernel($0) }
        r.register("Loop", since: 1, 11, 13, 16, 19, 21, 23, 24) { try LoopKernel($0) }
        r.register("Scan", since: 8, 9, 11, 16, 19, 21, 23, 24) { try ScanKernel($0) }
        r.register("SequenceMap", since: 17) { try SequenceMapKernel($0) }
    }
}
