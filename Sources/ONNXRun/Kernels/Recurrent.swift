import Foundation

/// RNN, GRU and LSTM: forward, reverse and bidirectional; layouts 0 ([seq, batch, …]) and 1
/// ([batch, seq, …]); optional biases, sequence lengths, initial states and peepholes; clip;
/// configurable activations. Computed in float32 with straightforward loops.
struct RecurrentKernel: TensorKernel {
    enum Cell: Sendable { case rnn, gru, lstm }
    let cell: Cell
    let hidden: Int?
    let directions: Int
    let reverseOnly: Bool
    let layout: Int
    let clip: Float?
    let inputForget: Bool
    let linearBeforeReset: Bool
    /// Activations per direction: f, g, h (as many as the cell uses).
    let activations: [[@Sendable (Float) -> Float]]

    var gateCount: Int { switch cell { case .rnn: 1; case .gru: 3; case .lstm: 4 } }

    init(_ cell: Cell, _ context: KernelContext) throws {
        self.cell = cell
        try context.expectInputs(3, cell == .lstm ? 8 : 6)
        hidden = try context.int("hidden_size")
        let direction = try context.string("direction", default: "forward")
        guard ["forward", "reverse", "bidirectional"].contains(direction) else { throw context.error(.invalidAttribute, "unknown direction '\(direction)'") }
        directions = direction == "bidirectional" ? 2 : 1
        reverseOnly = direction == "reverse"
        layout = try context.int("layout", default: 0)
        clip = try context.float("clip")
        inputForget = try context.int("input_forget", default: 0) != 0
        linearBeforeReset = try context.int("linear_before_reset", default: 0) != 0
        let perDirection = cell == .rnn ? 1 : (cell == .gru ? 2 : 3)
        let defaults = cell == .rnn ? ["Tanh"] : (cell == .gru ? ["Sigmoid", "Tanh"] : ["Sigmoid", "Tanh", "Tanh"])
        let names = try context.strings("activations") ?? Array(repeating: defaults, count: directions).flatMap { $0 }
        let alphas = try context.floats("activation_alpha") ?? [], betas = try context.floats("activation_beta") ?? []
        guard names.count == perDirection * directions else {
            throw context.error(.invalidAttribute, "expects \(perDirection * directions) activations, got \(names.count)")
        }
        var parsed: [@Sendable (Float) -> Float] = []
        for (i, name) in names.enumerated() {
            let alpha = i < alphas.count ? alphas[i] : nil, beta = i < betas.count ? betas[i] : nil
            guard let f = Self.activation(name, alpha: alpha, beta: beta) else { throw context.error(.invalidAttribute, "unknown activation '\(name)'") }
            parsed.append(f)
        }
        activations = (0..<directions).map { Array(parsed[($0 * perDirection)..<(($0 + 1) * perDirection)]) }
    }

    static func activation(_ name: String, alpha: Float?, beta: Float?) -> (@Sendable (Float) -> Float)? {
        switch name.lowercased() {
        case "sigmoid": return { 1 / (1 + Foundation.exp(-$0)) }
        case "tanh": return { Foundation.tanh($0) }
        case "relu": return { Swift.max($0, 0) }
        case "leakyrelu": let a = alpha ?? 0.01; return { $0 >= 0 ? $0 : a * $0 }
        case "thresholdedrelu": let a = alpha ?? 1; return { $0 > a ? $0 : 0 }
        case "scaledtanh": let a = alpha ?? 1, b = beta ?? 1; return { a * Foundation.tanh(b * $0) }
        case "hardsigmoid": let a = alpha ?? 0.2, b = beta ?? 0.5; return { Swift.max(0, Swift.min(1, a * $0 + b)) }
        case "elu": let a = alpha ?? 1; return { $0 >= 0 ? $0 : a * (Foundation.exp($0) - 1) }
        case "softsign": return { $0 / (1 + Swift.abs($0)) }
        case "softplus": return { Foundation.log1p(Foundation.exp($0)) }
        case "affine": let a = alpha ?? 1, b = beta ?? 0; return { a * $0 + b }
        default: return nil
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        func input(_ i: Int) throws -> [Float]? { i < inputs.count ? try inputs[i].map { try Conversion.floats($0) } : nil }
        guard let xTensor = inputs[0], let wTensor = inputs[1], inputs[2] != nil else { throw ONNXRunError(.invalidInput, "X, W and R are required") }
        guard xTensor.rank == 3 else { throw ONNXRunError(.invalidInput, "X must have rank 3, got \(xTensor.shape)") }
        let x = try Conversion.floats(xTensor), w = try Conversion.floats(wTensor), rWeights = try input(2)!
        let (seq, batch) = layout == 0 ? (xTensor.shape[0], xTensor.shape[1]) : (xTensor.shape[1], xTensor.shape[0])
        let inputSize = xTensor.shape[2]
        let g = gateCount
        let h = hidden ?? wTensor.shape[1] / g
        guard wTensor.shape == [directions, g * h, inputSize] else { throw ONNXRunError(.shapeMismatch, "W has shape \(wTensor.shape), expected \([directions, g * h, inputSize])") }
        let bias = try input(3), lengths = try (inputs.count > 4 ? inputs[4] : nil).map { try Conversion.integers($0) }
        let initialH = try input(5), initialC = cell == .lstm ? try input(6) : nil, peephole = cell == .lstm ? try input(7) : nil

        var y = [Float](repeating: 0, count: seq * directions * batch * h)
        var yH = [Float](repeating: 0, count: directions * batch * h)
        var yC = [Float](repeating: 0, count: directions * batch * h)
        func xAt(_ t: Int, _ b: Int) -> Int { layout == 0 ? (t * batch + b) * inputSize : (b * seq + t) * inputSize }

        for d in 0..<directions {
            let reverse = reverseOnly || d == 1
            let wd = d * g * h * inputSize, rd = d * g * h * h
            let act = activations[d]
            for b in 0..<batch {
                let length = lengths.map { Swift.min($0[b], seq) } ?? seq
                var state = (0..<h).map { initialH?[(d * batch + b) * h + $0] ?? 0 }
                var memory = (0..<h).map { initialC?[(d * batch + b) * h + $0] ?? 0 }
                var gates = [Float](repeating: 0, count: g * h)
                for step in 0..<length {
                    let t = reverse ? length - 1 - step : step
                    let xt = xAt(t, b)
                    // gates = x·Wᵀ + Wb (+ h·Rᵀ + Rb, except GRU's candidate gate which is handled below)
                    for j in 0..<(g * h) {
                        var sum: Float = bias.map { $0[d * 2 * g * h + j] } ?? 0
                        let row = wd + j * inputSize
                        for k in 0..<inputSize { sum += x[xt + k] * w[row + k] }
                        gates[j] = sum
                    }
                    func recurrent(_ j: Int, _ vector: [Float]) -> Float {
                        var sum: Float = bias.map { $0[d * 2 * g * h + g * h + j] } ?? 0
                        let row = rd + j * h
                        for k in 0..<h { sum += vector[k] * rWeights[row + k] }
                        return sum
                    }
                    func clipped(_ v: Float) -> Float { clip.map { Swift.min(Swift.max(v, -$0), $0) } ?? v }
                    switch cell {
                    case .rnn:
                        state = (0..<h).map { act[0](clipped(gates[$0] + recurrent($0, state))) }
                    case .gru:
                        let z = (0..<h).map { act[0](clipped(gates[$0] + recurrent($0, state))) }
                        let r = (0..<h).map { act[0](clipped(gates[h + $0] + recurrent(h + $0, state))) }
                        let candidate: [Float]
                        if linearBeforeReset {
                            candidate = (0..<h).map { act[1](clipped(gates[2 * h + $0] + r[$0] * recurrent(2 * h + $0, state))) }
                        } else {
                            let reset = (0..<h).map { r[$0] * state[$0] }
                            candidate = (0..<h).map { act[1](clipped(gates[2 * h + $0] + recurrent(2 * h + $0, reset))) }
                        }
                        state = (0..<h).map { (1 - z[$0]) * candidate[$0] + z[$0] * state[$0] }
                    case .lstm:
                        let p = peephole.map { Array($0[(d * 3 * h)..<((d + 1) * 3 * h)]) }
                        var newMemory = memory, newState = state
                        for k in 0..<h {
                            let i = act[0](clipped(gates[k] + recurrent(k, state) + (p?[k] ?? 0) * memory[k]))
                            let f = inputForget ? 1 - i : act[0](clipped(gates[2 * h + k] + recurrent(2 * h + k, state) + (p?[2 * h + k] ?? 0) * memory[k]))
                            let c = act[1](clipped(gates[3 * h + k] + recurrent(3 * h + k, state)))
                            newMemory[k] = f * memory[k] + i * c
                            let o = act[0](clipped(gates[h + k] + recurrent(h + k, state) + (p?[h + k] ?? 0) * newMemory[k]))
                            newState[k] = o * act[2](newMemory[k])
                        }
                        memory = newMemory
                        state = newState
                    }
                    let base = layout == 0 ? ((t * directions + d) * batch + b) * h : ((b * seq + t) * directions + d) * h
                    for k in 0..<h { y[base + k] = state[k] }
                }
                let last = layout == 0 ? (d * batch + b) * h : (b * directions + d) * h
                for k in 0..<h {
                    yH[last + k] = state[k]
                    yC[last + k] = memory[k]
                }
            }
        }
        let yShape = layout == 0 ? [seq, directions, batch, h] : [batch, seq, directions, h]
        let stateShape = layout == 0 ? [directions, batch, h] : [batch, directions, h]
        var outputs = [try Tensor(shape: yShape, scalars: y), try Tensor(shape: stateShape, scalars: yH)]
        if cell == .lstm { outputs.append(try Tensor(shape: stateShape, scalars: yC)) }
        return try outputs.map { try Conversion.cast($0, to: xTensor.dataType) }
    }
}

extension KernelRegistry {
    static func registerRecurrent(_ r: inout KernelRegistry) {
        r.register("RNN", since: 1, 7, 14, 22) { try RecurrentKernel(.rnn, $0) }
        r.register("GRU", since: 1, 3, 7, 14, 22) { try RecurrentKernel(.gru, $0) }
        r.register("LSTM", since: 1, 7, 14, 22) { try RecurrentKernel(.lstm, $0) }
    }
}
