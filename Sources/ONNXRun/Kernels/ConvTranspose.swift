/// ConvTranspose: the gradient of Conv with respect to its input. Per batch and group one sgemm
/// computes Wᵀ·X (a column matrix), then col2im scatters the columns into the output.
struct ConvTransposeKernel: TensorKernel {
    let strides: [Int]?
    let dilations: [Int]?
    let pads: [Int]?
    let outputPadding: [Int]?
    let outputShape: [Int]?
    let autoPad: String
    let group: Int

    init(_ context: KernelContext) throws {
        try context.expectInputs(2, 3)
        strides = try context.ints("strides")
        dilations = try context.ints("dilations")
        pads = try context.ints("pads")
        outputPadding = try context.ints("output_padding")
        outputShape = try context.ints("output_shape")
        autoPad = try context.string("auto_pad", default: "NOTSET")
        group = try context.int("group", default: 1)
        guard group >= 1 else { throw context.error(.invalidAttribute, "group must be at least 1") }
        guard ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].contains(autoPad) else { throw context.error(.invalidAttribute, "unknown auto_pad '\(autoPad)'") }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let xIn = inputs[0], let wIn = inputs[1] else { throw ONNXRunError(.invalidInput, "X and W are required") }
        let x = try ConvKernel.asFloat(xIn), w = try ConvKernel.asFloat(wIn)
        guard x.rank >= 3, w.rank == x.rank else { throw ONNXRunError(.shapeMismatch, "X \(x.shape) and W \(w.shape) must have equal ranks of 3 or more") }
        let n = x.rank - 2
        let (batch, channels) = (x.shape[0], x.shape[1])
        guard w.shape[0] == channels, channels % group == 0 else {
            throw ONNXRunError(.shapeMismatch, "W \(w.shape) needs \(channels) input channels divisible by group \(group)")
        }
        let groupIn = channels / group, groupOut = w.shape[1], outChannels = groupOut * group
        let kernel = Array(w.shape[2...]), input = Array(x.shape[2...])
        let stride = strides ?? Array(repeating: 1, count: n), dilation = dilations ?? Array(repeating: 1, count: n)
        let extra = outputPadding ?? Array(repeating: 0, count: n)
        var padBegin = pads.map { Array($0[0..<n]) } ?? Array(repeating: 0, count: n)
        var padEnd = pads.map { Array($0[n..<(2 * n)]) } ?? Array(repeating: 0, count: n)
        var output = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let full = stride[i] * (input[i] - 1) + extra[i] + (kernel[i] - 1) * dilation[i] + 1
            var target: Int? = outputShape.map { $0[$0.count - n + i] }
            if target == nil && (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") { target = input[i] * stride[i] }
            if let target {
                let total = full - target
                // Floor division: an output_shape larger than the natural size gives negative padding.
                let half = total >= 0 ? total / 2 : -((-total + 1) / 2)
                if autoPad == "SAME_UPPER" {
                    padBegin[i] = half
                    padEnd[i] = total - half
                } else {
                    padBegin[i] = total - half
                    padEnd[i] = half
                }
                output[i] = target
            } else {
                if autoPad == "VALID" { padBegin[i] = 0; padEnd[i] = 0 }
                output[i] = full - padBegin[i] - padEnd[i]
            }
            guard output[i] >= 0 else { throw ONNXRunError(.shapeMismatch, "ConvTranspose output dimension \(i) would be \(output[i])") }
        }
        let out = try Tensor(zeros: .float, shape: [batch, outChannels] + output)
        let inSize = input.reduce(1, *), outSize = output.reduce(1, *), kernelSize = kernel.reduce(1, *)
        let rows = groupOut * kernelSize
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, rows * inSize))
        defer { columns.deallocate() }
        let xp = x.pointer(as: Float.self), wp = w.pointer(as: Float.self), yp = out.pointer(as: Float.self)
        // Offsets of each kernel tap and input position, precomputed per spatial axis.
        var kernelIndex = [Int](repeating: 0, count: n), inputIndex = [Int](repeating: 0, count: n)
        for b in 0..<batch {
            for g in 0..<group {
                // columns[groupOut·k, inSize] = W_gᵀ [groupOut·k, groupIn] × X_g [groupIn, inSize]
                BLAS.sgemm(
                    transA: true, m: rows, n: inSize, k: groupIn, alpha: 1,
                    a: wp + g * groupIn * rows, lda: rows, b: xp + (b * channels + g * groupIn) * inSize, ldb: inSize,
                    beta: 0, c: columns, ldc: inSize)
                for oc in 0..<groupOut {
                    let plane = yp + (b * outChannels + g * groupOut + oc) * outSize
                    for k in 0..<kernelSize {
                        var rest = k
                        for d in (0..<n).reversed() { kernelIndex[d] = rest % kernel[d]; rest /= kernel[d] }
                        let column = columns + (oc * kernelSize + k) * inSize
                        for p in 0..<inSize {
                            var rest = p, offset = 0, inside = true
                            for d in (0..<n).reversed() { inputIndex[d] = rest % input[d]; rest /= input[d] }
                            var step = 1
                            for d in (0..<n).reversed() {
                                let o = inputIndex[d] * stride[d] + kernelIndex[d] * dilation[d] - padBegin[d]
                                if o < 0 || o >= output[d] { inside = false; break }
                                offset += o * step
                                step *= output[d]
                            }
                            if inside { plane[offset] += column[p] }
                        }
                    }
                }
            }
        }
        if inputs.count > 2, let biasTensor = inputs[2] {
            let bias = try Conversion.floats(biasTensor)
            guard bias.count == outChannels else { throw ONNXRunError(.shapeMismatch, "bias has \(bias.count) values, expected \(outChannels)") }
            for b in 0..<batch { for c in 0..<outChannels {
                let plane = yp + (b * outChannels + c) * outSize
                for i in 0..<outSize { plane[i] += bias[c] }
            } }
        }
        return [try ConvKernel.restore(out, like: xIn)]
    }
}

extension KernelRegistry {
    static func registerConvTranspose(_ r: inout KernelRegistry) {
        r.register("ConvTranspose", since: 1, 11, 22) { try ConvTransposeKernel($0) }
    }
}
