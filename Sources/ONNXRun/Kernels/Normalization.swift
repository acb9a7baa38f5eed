import Foundation

/// BatchNormalization, LRN and Dropout (inference form).

/// BatchNormalization: Y = (X − mean) / sqrt(var + epsilon) · scale + B, per channel (axis 1).
///
/// Inference form for every opset; opset ≥ 14 `training_mode=1` normalizes with the batch
/// statistics and returns updated running statistics. Opsets < 7 with `spatial=0` take per-activation
/// parameters of shape [C, D1, ..., Dn]; `is_test` and `consumed_inputs` are ignored.
struct BatchNormalizationKernel: TensorKernel {
    let epsilon: Float
    let momentum: Float
    let training: Bool
    let perActivation: Bool

    init(_ context: KernelContext) throws {
        try context.expectInputs(5)
        epsilon = try context.float("epsilon", default: 1e-5)
        momentum = try context.float("momentum", default: 0.9)
        training = context.opsetVersion >= 14 ? try context.int("training_mode", default: 0) != 0 : false
        perActivation = context.opsetVersion < 9 ? try context.int("spatial", default: 1) == 0 : false
        if training && perActivation {
            throw context.error(.invalidAttribute, "training_mode with spatial=0 is not supported")
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0], let scaleT = inputs[1], let biasT = inputs[2], let meanT = inputs[3], let varT = inputs[4] else {
            throw ONNXRunError(.invalidInput, "X, scale, B, mean and var are all required")
        }
        guard x.rank >= 2 else { throw ONNXRunError(.shapeMismatch, "X must have rank 2 or more, got \(x.shape)") }
        switch x.dataType {
        case .float, .double, .float16, .bfloat16: break
        default: throw ONNXRunError(.unsupportedType, "BatchNormalization of \(x.dataType) is not supported")
        }
        let batch = x.shape[0], channels = x.shape[1]
        let inner = x.shape[2...].reduce(1, *)
        // spatial=0 parameters cover every activation; per-channel ones are accepted there too.
        let perActivation = self.perActivation && scaleT.count != channels
        let paramCount = perActivation ? channels * inner : channels
        let scale = try Conversion.floats(scaleT), bias = try Conversion.floats(biasT)
        var mean = try Conversion.floats(meanT), variance = try Conversion.floats(varT)
        for (name, values) in [("scale", scale), ("B", bias), ("mean", mean), ("var", variance)] where values.count != paramCount {
            throw ONNXRunError(.shapeMismatch, "\(name) has \(values.count) values, expected \(paramCount) for X of shape \(x.shape)")
        }
        let xf = try Conversion.cast(x, to: .float)
        let px = xf.pointer(as: Float.self)
        var runningMean = mean, runningVar = variance
        if training {
            // Batch statistics per channel (population variance), in Double for accuracy.
            let count = Double(batch * inner)
            for c in 0..<channels {
                var sum = 0.0, squares = 0.0
                for n in 0..<batch {
                    let s = px + (n * channels + c) * inner
                    for i in 0..<inner { sum += Double(s[i]) }
                }
                let m = count > 0 ? sum / count : 0
                for n in 0..<batch {
                    let s = px + (n * channels + c) * inner
                    for i in 0..<inner { let d = Double(s[i]) - m; squares += d * d }
                }
                let v = count > 0 ? squares / count : 0
                runningMean[c] = mean[c] * momentum + Float(m) * (1 - momentum)
                runningVar[c] = variance[c] * momentum + Float(v) * (1 - momentum)
                mean[c] = Float(m)
                variance[c] = Float(v)
            }
        }
        // y = x · a + b with a = scale / sqrt(var + eps), b = B − mean · a.
        let a = (0..<paramCount).map { scale[$0] / (variance[$0] + epsilon).squareRoot() }
        let b = (0..<paramCount).map { bias[$0] - mean[$0] * a[$0] }
        let out = try Tensor(uninitialized: .float, shape: x.shape)
        let py = out.pointer(as: Float.self)
        // Planes (n, c) are independent and are split between threads.
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                Parallel.forEach(batch * channels, threads: context.threads, costPerItem: inner) { planes in
                    for plane in planes {
                        let c = plane % channels, base = plane * inner
                        if perActivation {
                            let p = c * inner
                            for i in 0..<inner { py[base + i] = px[base + i] * a[p + i] + b[p + i] }
                        } else {
                            let ac = a[c], bc = b[c]
                            for i in 0..<inner { py[base + i] = px[base + i] * ac + bc }
                        }
                    }
                }
            }
        }
        var results = [x.dataType == .float ? out : try Conversion.cast(out, to: x.dataType)]
        // Optional statistics outputs: running mean/var (and, before opset 14, saved mean/var).
        func statistic(_ values: [Float], like t: Tensor) throws -> Tensor {
            try Conversion.cast(Tensor(shape: t.shape, scalars: values), to: t.dataType)
        }
        results.append(try statistic(runningMean, like: meanT))
        results.append(try statistic(runningVar, like: varT))
        results.append(try statistic(mean, like: meanT))
        results.append(try statistic(variance, like: varT))
        return results
    }
}

/// LRN across channels: y = x / (bias + alpha / size · Σ x²)^beta, the sum over channels
/// c − ⌊(size−1)/2⌋ ... c + ⌈(size−1)/2⌉ clipped to the tensor.
struct LRNKernel: TensorKernel {
    let size: Int
    let alpha: Float, beta: Float, bias: Float

    init(_ context: KernelContext) throws {
        try context.expectInputs(1)
        size = try context.required("size", context.int)
        guard size >= 1 else { throw context.error(.invalidAttribute, "size must be at least 1, got \(size)") }
        alpha = try context.float("alpha", default: 0.0001)
        beta = try context.float("beta", default: 0.75)
        bias = try context.float("bias", default: 1)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        guard x.rank >= 2 else { throw ONNXRunError(.shapeMismatch, "input must have rank 2 or more, got \(x.shape)") }
        switch x.dataType {
        case .float: break
        case .double, .float16, .bfloat16:
            let result = try compute([Conversion.cast(x, to: .float)], context)[0]
            return [try Conversion.cast(result, to: x.dataType)]
        default: throw ONNXRunError(.unsupportedType, "LRN of \(x.dataType) is not supported")
        }
        let batch = x.shape[0], channels = x.shape[1], inner = x.shape[2...].reduce(1, *)
        let below = (size - 1) / 2, above = size - 1 - below
        let out = try Tensor(uninitialized: .float, shape: x.shape)
        let px = x.pointer(as: Float.self), py = out.pointer(as: Float.self)
        let coefficient = alpha / Float(size)
        var sums = [Float](repeating: 0, count: inner)
        for n in 0..<batch {
            for c in 0..<channels {
                for i in 0..<inner { sums[i] = 0 }
                for j in max(0, c - below)...min(channels - 1, c + above) {
                    let s = px + (n * channels + j) * inner
                    for i in 0..<inner { sums[i] += s[i] * s[i] }
                }
                let base = (n * channels + c) * inner
                for i in 0..<inner {
                    py[base + i] = px[base + i] / Foundation.pow(bias + coefficient * sums[i], beta)
                }
            }
        }
        return [out]
    }
}

/// Dropout: in inference (the default) the output is the input and the mask is all true (ones of
/// the input type before opset 10). In training mode (opset ≥ 12 `training_mode` true) each element
/// is kept with probability 1 − ratio and scaled by 1 / (1 − ratio); the mask marks kept elements.
/// Draws follow `seed` when given (see Random.swift).
struct DropoutKernel: TensorKernel {
    let boolMask: Bool
    let wantsMask: Bool
    let seed: RandomSeed

    init(_ context: KernelContext) throws {
        try context.expectInputs(1, context.opsetVersion >= 12 ? 3 : 1)
        boolMask = context.opsetVersion >= 10
        wantsMask = context.node.outputs.count > 1 && !context.node.outputs[1].isEmpty
        seed = try RandomSeed(context)
    }

    /// The drop ratio when training mode is on and drops something; nil in inference.
    private static func trainingRatio(_ mode: Tensor?, ratio: Tensor?) throws -> Double? {
        guard let mode, mode.count == 1, try Conversion.reader(mode)(0) != 0 else { return nil }
        let r = try ratio.map { try Conversion.reader($0)(0) } ?? 0.5
        guard r >= 0 && r <= 1 else { throw ONNXRunError(.invalidInput, "ratio \(r) is outside [0, 1]") }
        return r == 0 ? nil : r
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "data is required") }
        if inputs.count > 2, let ratio = try Self.trainingRatio(inputs[2], ratio: inputs[1]) {
            return try train(x, ratio: ratio)
        }
        guard wantsMask else { return [x] }
        let mask: Tensor
        if boolMask {
            mask = try Tensor(uninitialized: .bool, shape: x.shape)
            mask.pointer(as: UInt8.self).update(repeating: 1, count: x.count)
        } else {
            mask = try Conversion.cast(Tensor(shape: x.shape, scalars: [Float](repeating: 1, count: x.count)), to: x.dataType)
        }
        return [x, mask]
    }

    private func train(_ x: Tensor, ratio: Double) throws -> [Tensor] {
        let read = try Conversion.reader(x)
        var generator = seed.generator()
        let scale = ratio < 1 ? 1 / (1 - ratio) : 0
        var kept = [Bool](repeating: false, count: x.count)
        var values = [Double](repeating: 0, count: x.count)
        for i in 0..<x.count where generator.unit() >= ratio {
            kept[i] = true
            values[i] = read(i) * scale
        }
        let y = try Conversion.cast(Tensor(shape: x.shape, scalars: values), to: x.dataType)
        guard wantsMask else { return [y] }
        return [y, try Tensor(shape: x.shape, scalars: kept)]
    }
}

extension KernelRegistry {
    static func registerNormalization(_ r: inout KernelRegistry) {
        r.register("BatchNormalization", since: 1, 6, 7, 9, 14, 15) { try BatchNormalizationKernel($0) }
        r.register("LRN", since: 1, 13) { try LRNKernel($0) }
        r.register("Dropout", since: 1, 6, 7, 10, 12, 13, 22) { try DropoutKernel($0) }
    }
}
