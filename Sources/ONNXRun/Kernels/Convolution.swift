internal import CKernels

/// Conv (N-D, groups, pads, strides, dilations, auto_pad) by im2col + sgemm (3×3 stride-1 ones by
/// Winograd when they fit, see WinogradConvolution.swift), and the sliding-window
/// geometry it shares with the pooling kernels.

/// Kernel size, strides, dilations and padding of a sliding-window operator (Conv, pooling),
/// parsed and validated when the kernel is created and resolved against an input shape at run time.
struct WindowGeometry: Sendable {
    enum AutoPad: Sendable { case notSet, sameUpper, sameLower, valid }

    /// `kernel_shape`, or nil when it is to be taken from the weights (Conv).
    let kernelShape: [Int]?
    let strides: [Int]?
    let dilations: [Int]?
    /// `pads` as [begin_1, ..., begin_n, end_1, ..., end_n].
    let pads: [Int]?
    let autoPad: AutoPad
    let ceilMode: Bool

    /// The geometry for one input shape.
    struct Resolved: Sendable {
        var kernel: [Int]
        var strides: [Int]
        var dilations: [Int]
        var padBegin: [Int]
        var padEnd: [Int]
        var output: [Int]
    }

    /// Reads and checks `kernel_shape`, `strides`, `dilations`, `pads`, `auto_pad` (and `ceil_mode`
    /// when `readCeilMode`).
    init(_ context: KernelContext, kernelRequired: Bool, readDilations: Bool = true, readCeilMode: Bool = false) throws {
        kernelShape = try kernelRequired ? context.required("kernel_shape", context.ints) : context.ints("kernel_shape")
        strides = try context.ints("strides")
        dilations = readDilations ? try context.ints("dilations") : nil
        pads = try context.ints("pads")
        ceilMode = readCeilMode ? try context.int("ceil_mode", default: 0) != 0 : false
        switch try context.string("auto_pad", default: "NOTSET") {
        case "NOTSET", "": autoPad = .notSet
        case "SAME_UPPER": autoPad = .sameUpper
        case "SAME_LOWER": autoPad = .sameLower
        case "VALID": autoPad = .valid
        case let other: throw context.error(.invalidAttribute, "auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got '\(other)'")
        }
        if let k = kernelShape, k.isEmpty || k.contains(where: { $0 <= 0 }) {
            throw context.error(.invalidAttribute, "kernel_shape must be positive, got \(k)")
        }
        if let s = strides, s.contains(where: { $0 <= 0 }) {
            throw context.error(.invalidAttribute, "strides must be positive, got \(s)")
        }
        if let d = dilations, d.contains(where: { $0 <= 0 }) {
            throw context.error(.invalidAttribute, "dilations must be positive, got \(d)")
        }
        if let p = pads {
            if p.contains(where: { $0 < 0 }) { throw context.error(.invalidAttribute, "pads must not be negative, got \(p)") }
            if p.count % 2 != 0 { throw context.error(.invalidAttribute, "pads must have two values per spatial axis, got \(p.count)") }
        }
        // Every list given must agree on the number of spatial axes.
        var rank: Int?
        for (name, list) in [("kernel_shape", kernelShape), ("strides", strides), ("dilations", dilations), ("pads", pads.map { Array($0.prefix($0.count / 2)) })] {
            guard let list else { continue }
            if let r = rank, r != list.count {
                throw context.error(.invalidAttribute, "\(name) has \(list.count) spatial axes, other attributes have \(r)")
            }
            rank = list.count
        }
    }

    /// The number of spatial axes fixed by the attributes, if any gives it.
    var spatialRank: Int? { kernelShape?.count ?? strides?.count ?? dilations?.count ?? pads.map { $0.count / 2 } }

    /// Output size and padding for `input` spatial sizes with window `kernel`.
    func resolve(input: [Int], kernel: [Int]) throws -> Resolved {
        let n = input.count
        guard kernel.count == n else {
            throw ONNXRunError(.shapeMismatch, "kernel has \(kernel.count) spatial axes, input has \(n)")
        }
        if let r = spatialRank, r != n {
            throw ONNXRunError(.shapeMismatch, "attributes describe \(r) spatial axes, input has \(n)")
        }
        let strides = self.strides ?? Array(repeating: 1, count: n)
        let dilations = self.dilations ?? Array(repeating: 1, count: n)
        var padBegin = pads.map { Array($0[0..<n]) } ?? Array(repeating: 0, count: n)
        var padEnd = pads.map { Array($0[n..<(2 * n)]) } ?? Array(repeating: 0, count: n)
        var output = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let extent = (kernel[i] - 1) * dilations[i] + 1
            switch autoPad {
            case .notSet:
                let span = input[i] + padBegin[i] + padEnd[i] - extent
                if ceilMode {
                    var out = span < 0 ? 0 : (span + strides[i] - 1) / strides[i] + 1
                    // The last window must start inside the input or the leading padding.
                    if out > 0 && (out - 1) * strides[i] >= input[i] + padBegin[i] { out -= 1 }
                    output[i] = out
                } else {
                    output[i] = span < 0 ? 0 : span / strides[i] + 1
                }
            case .valid:
                padBegin[i] = 0
                padEnd[i] = 0
                output[i] = input[i] < extent ? 0 : (input[i] - extent) / strides[i] + 1
            case .sameUpper, .sameLower:
                output[i] = (input[i] + strides[i] - 1) / strides[i]
                let total = max(0, (output[i] - 1) * strides[i] + extent - input[i])
                let small = total / 2
                padBegin[i] = autoPad == .sameUpper ? small : total - small
                padEnd[i] = total - padBegin[i]
            }
            if output[i] <= 0 {
                throw ONNXRunError(.shapeMismatch, "window of extent \(extent) does not fit spatial axis \(i) of size \(input[i]) with padding \(padBegin[i])+\(padEnd[i])")
            }
        }
        return Resolved(kernel: kernel, strides: strides, dilations: dilations, padBegin: padBegin, padEnd: padEnd, output: output)
    }
}

extension WindowGeometry.Resolved {
    /// Rows and columns of a zero-padded 2-D input plane that exactly cover every window.
    var paddedPlane: (height: Int, width: Int) {
        ((output[0] - 1) * strides[0] + (kernel[0] - 1) * dilations[0] + 1,
         (output[1] - 1) * strides[1] + (kernel[1] - 1) * dilations[1] + 1)
    }

    /// Copies a height × width input plane into the interior of a plane of `paddedPlane` size,
    /// leaving its zero border alone (the rows and columns no window reaches are not copied).
    func copyIntoPaddedPlane(_ plane: UnsafePointer<Float>, height: Int, width: Int, into padded: UnsafeMutablePointer<Float>) {
        let (paddedH, paddedW) = paddedPlane
        let rows = max(0, min(height, paddedH - padBegin[0])), columns = max(0, min(width, paddedW - padBegin[1]))
        for row in 0..<rows {
            (padded + (row + padBegin[0]) * paddedW + padBegin[1]).update(from: plane + row * width, count: columns)
        }
    }
}

/// Conv: Y[n, m, ...] = Σ W[m, c, k...] · X[n, g·C/G + c, pos·stride + k·dilation − pad] + B[m].
struct ConvKernel: TensorKernel {
    let geometry: WindowGeometry
    let group: Int
    /// The weights converted to float32 at plan time when they are an initializer.
    let packedWeights: Tensor?
    /// For `FusedConv`: the activation applied to each output block as soon as it is computed
    /// (after the bias and the optional fourth input Z, a residual added to the output).
    let activation: FusedActivation?
    /// The Winograd plan of a 3×3 stride-1 convolution with constant weights, tried before im2col.
    let winograd: WinogradConvolution?
    /// The direct plan of a convolution with a short reduction and constant weights, tried
    /// before im2col.
    let direct: DirectConvolution?
    /// For `FusedConv`'s `input_channel_shuffle` [g, c] (g·c input channels, set by
    /// `ChannelShuffleIntoConv`): the convolution reads its input as if shuffled first, viewed as
    /// [g, c] channels and transposed to [c, g], so channel j·g + i is input channel i·c + j.
    /// Depthwise 2-D convolutions only: ShuffleNet's shuffles, read in place instead of copied.
    let inputShuffle: (groups: Int, perGroup: Int)?
    /// For `FusedConv`'s `output_channels_last` G (set by `ChannelsLastOutputIntoConv`): the
    /// output is [N, G, H, W, C/G] instead of [N, C, H, W] (a detection head's layout, written
    /// directly instead of transposed afterwards). Ungrouped 1×1 stride-1 unpadded 2-D only.
    let outputGroups: Int?
    /// With `outputGroups` and constant weights: each group's weights transposed once, [G, K, C/G]
    /// (K input channels), the right-hand side of that group's product Xᵀ · Wᵀ.
    let channelsLastWeights: Tensor?

    init(_ context: KernelContext) throws {
        if context.node.opType == "FusedConv", let shuffle = try context.ints("input_channel_shuffle") {
            guard shuffle.count == 2, shuffle.allSatisfy({ $0 >= 1 }) else {
                throw context.error(.invalidAttribute, "input_channel_shuffle must be two positive sizes [groups, channels per group], got \(shuffle)")
            }
            inputShuffle = (shuffle[0], shuffle[1])
        } else {
            inputShuffle = nil
        }
        if context.node.opType == "FusedConv" {
            try context.expectInputs(2, 4)
            if let name = try context.string("activation") {
                guard let parsed = FusedActivation(name: name, parameters: try context.floats("activation_params") ?? []) else {
                    throw context.error(.invalidAttribute, "unknown fused activation '\(name)'")
                }
                activation = parsed
            } else {
                activation = nil
            }
        } else {
            try context.expectInputs(2, 3)
            activation = nil
        }
        geometry = try WindowGeometry(context, kernelRequired: false)
        group = try context.int("group", default: 1)
        guard group >= 1 else { throw context.error(.invalidAttribute, "group must be at least 1, got \(group)") }
        if let w = context.constantInputs.count > 1 ? context.constantInputs[1] : nil {
            guard w.rank >= 3 else { throw context.error(.invalidInput, "weights must have rank 3 or more, got shape \(w.shape)") }
            guard w.shape[0] % group == 0 else {
                throw context.error(.invalidAttribute, "group \(group) does not divide the \(w.shape[0]) output channels of W")
            }
            if let k = geometry.kernelShape, k != Array(w.shape[2...]) {
                throw context.error(.invalidAttribute, "kernel_shape \(k) does not match weights of shape \(w.shape)")
            }
            if let r = geometry.spatialRank, r != w.rank - 2 {
                throw context.error(.invalidAttribute, "attributes describe \(r) spatial axes, weights have \(w.rank - 2)")
            }
            packedWeights = try Self.asFloat(w)
        } else {
            packedWeights = nil
        }
        let (strides, dilations, group) = (geometry.strides, geometry.dilations, group)
        winograd = packedWeights.flatMap { [geometry] w in
            WinogradConvolution(weights: w, strides: strides, dilations: dilations, group: group) {
                guard let x = context.staticShape(ofInput: 0), x.count == w.rank else { return nil }
                return try? geometry.resolve(input: Array(x[2...]), kernel: Array(w.shape[2...])).output
            }
        }
        direct = packedWeights.flatMap { DirectConvolution(weights: $0, strides: strides, group: group) }
        if context.node.opType == "FusedConv", let groups = try context.int("output_channels_last") {
            guard groups >= 1 else { throw context.error(.invalidAttribute, "output_channels_last must be a positive number of groups, got \(groups)") }
            outputGroups = groups
            channelsLastWeights = try packedWeights.flatMap { w in
                guard w.rank == 4, w.shape[0] % groups == 0 else { return nil }
                return try Self.groupsTransposed(w, groups: groups)
            }
        } else {
            outputGroups = nil
            channelsLastWeights = nil
        }
    }

    /// W [C, K, 1, 1] as [G, K, C/G]: each group's C/G × K weights transposed.
    static func groupsTransposed(_ w: Tensor, groups: Int) throws -> Tensor {
        let (outChannels, k) = (w.shape[0], w.count / max(1, w.shape[0]))
        let perGroup = outChannels / groups
        let result = try Tensor(uninitialized: .float, shape: [groups, k, perGroup])
        let source = w.pointer(as: Float.self), target = result.pointer(as: Float.self)
        for g in 0..<groups {
            ck_transpose_32(source + g * perGroup * k, target + g * k * perGroup, perGroup, k)
        }
        return result
    }

    static func asFloat(_ t: Tensor) throws -> Tensor {
        switch t.dataType {
        case .float: return t
        case .double, .float16, .bfloat16: return try Conversion.cast(t, to: .float)
        default: throw ONNXRunError(.unsupportedType, "Conv expects floating-point tensors, got \(t.dataType)")
        }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0], let wIn = inputs[1] else { throw ONNXRunError(.invalidInput, "X and W are required") }
        let bias = inputs.count > 2 ? inputs[2] : nil
        let w = try packedWeights ?? Self.asFloat(wIn)
        let xf = try Self.asFloat(x)
        guard x.rank >= 3, w.rank == x.rank else {
            throw ONNXRunError(.shapeMismatch, "X \(x.shape) and W \(w.shape) must both have rank 3 or more and equal ranks")
        }
        let batch = x.shape[0], channels = x.shape[1], outChannels = w.shape[0]
        guard outChannels % group == 0, channels % group == 0 else {
            throw ONNXRunError(.invalidAttribute, "group \(group) must divide both input channels \(channels) and output channels \(outChannels)")
        }
        let groupChannels = channels / group, groupOut = outChannels / group
        guard w.shape[1] == groupChannels else {
            throw ONNXRunError(.shapeMismatch, "W \(w.shape) expects \(w.shape[1] * group) input channels with group \(group), X \(x.shape) has \(channels)")
        }
        let kernel = Array(w.shape[2...])
        if let k = geometry.kernelShape, k != kernel {
            throw ONNXRunError(.invalidAttribute, "kernel_shape \(k) does not match weights of shape \(w.shape)")
        }
        let spatial = Array(x.shape[2...])
        let g = try geometry.resolve(input: spatial, kernel: kernel)
        let out = try Tensor(uninitialized: .float, shape: [batch, outChannels] + g.output)

        let inSize = spatial.reduce(1, *), outSize = g.output.reduce(1, *), kernelSize = kernel.reduce(1, *)
        let rows = groupChannels * kernelSize
        let yp = out.pointer(as: Float.self), xp = xf.pointer(as: Float.self), wp = w.pointer(as: Float.self)

        let biasValues = try bias.map(Conversion.floats)
        if let b = biasValues, b.count != outChannels {
            throw ONNXRunError(.shapeMismatch, "bias has \(b.count) values, expected \(outChannels)")
        }
        // FusedConv's residual Z: added to the output (after the bias, before the activation).
        let residual = try (inputs.count > 3 ? inputs[3] : nil).map(Self.asFloat)
        if let residual, residual.shape != out.shape {
            throw ONNXRunError(.shapeMismatch, "Z has shape \(residual.shape), the output has shape \(out.shape)")
        }
        let zp = residual.map { UnsafePointer($0.pointer(as: Float.self)) }
        if let shuffle = inputShuffle {
            guard spatial.count == 2, groupChannels == 1, groupOut == 1, shuffle.groups * shuffle.perGroup == channels else {
                throw ONNXRunError(.invalidAttribute, "input_channel_shuffle \([shuffle.groups, shuffle.perGroup]) needs a 2-D depthwise convolution of \(shuffle.groups * shuffle.perGroup) channels, got X \(x.shape) and W \(w.shape) with group \(group)")
            }
        }
        if let groups = outputGroups {
            guard spatial.count == 2, kernel == [1, 1], g.strides == [1, 1], g.padBegin == [0, 0], g.padEnd == [0, 0],
                  group == 1, outChannels % groups == 0, residual == nil, inputShuffle == nil else {
                throw ONNXRunError(.invalidAttribute, "output_channels_last \(groups) needs an ungrouped 1×1 stride-1 unpadded 2-D convolution of a multiple of \(groups) output channels without a residual, got X \(x.shape) and W \(w.shape)")
            }
            let result = try channelsLast(xf, w, bias: biasValues, groups: groups, threads: context.threads)
            return [try Self.restore(result, like: x)]
        }
        // The paths other than im2col + sgemm finish with the residual in a pass of their own.
        let pathActivation = residual == nil ? activation : nil
        func finished() throws -> [Tensor] {
            if let zp { Self.addResidual(zp, activation: activation, into: yp, count: out.count, threads: context.threads) }
            return [try Self.restore(out, like: x)]
        }
        if let winograd, spatial.count == 2, winograd.run(
            xp, batch: batch, height: spatial[0], width: spatial[1], g, bias: biasValues, activation: pathActivation,
            into: yp, threads: context.threads) {
            return try finished()
        }

        if let direct, spatial.count == 2, direct.run(
            xp, batch: batch, height: spatial[0], width: spatial[1], g, bias: biasValues, activation: pathActivation,
            into: yp, threads: context.threads) {
            return try finished()
        }

        if out.count == 0 { return [try Self.restore(out, like: x)] }
        // Depthwise 2-D: a direct loop per channel instead of one m = 1 product per group.
        if spatial.count == 2 && groupChannels == 1 && groupOut == 1 {
            Parallel.forEach(batch * channels, threads: context.threads, costPerItem: kernelSize * outSize) { planes in
                Self.depthwise2D(xp, weights: wp, planes: planes, channels: channels, shuffleGroups: inputShuffle?.groups ?? 1,
                                 input: spatial, g, bias: biasValues, activation: pathActivation, into: yp)
            }
            return try finished()
        }

        let empty = rowsAreEmpty(groupChannels: groupChannels, kernel: kernel)
        if empty {
            // Every window lies in the padding: the output is the bias (or zero).
            if let b = biasValues {
                for n in 0..<batch {
                    for m in 0..<outChannels {
                        (yp + (n * outChannels + m) * outSize).update(repeating: b[m], count: outSize)
                    }
                }
            } else {
                yp.update(repeating: 0, count: out.count)
            }
            pathActivation?.apply(yp, count: out.count, threads: context.threads)
            return try finished()
        }

        let pointwise = kernelSize == 1 && g.strides.allSatisfy { $0 == 1 }
            && g.padBegin.allSatisfy { $0 == 0 } && g.padEnd.allSatisfy { $0 == 0 }
        // 2-D convolutions unfold a band of output rows at a time, so the column buffer stays
        // around `columnBudget` bytes however large the image (VGG's first layers would need 115 MB).
        let bandRows: Int
        if spatial.count == 2 && !pointwise {
            let outW = max(g.output[1], 1)
            bandRows = max(1, min(g.output[0], Self.columnBudget / max(1, rows * outW * 4)))
        } else {
            bandRows = 0
        }
        let columnCount = bandRows > 0 ? bandRows * g.output[1] : outSize
        BufferCache.withScratch(floats: pointwise ? 0 : rows * columnCount) { scratch in
            let columns: UnsafeMutablePointer<Float>? = pointwise ? nil : scratch
            for n in 0..<batch {
                for gi in 0..<group {
                    let source = xp + (n * channels + gi * groupChannels) * inSize
                    let output = yp + (n * outChannels + gi * groupOut) * outSize
                    if bandRows > 0, let columns {
                        let outW = g.output[1]
                        var top = 0
                        while top < g.output[0] {
                            let band = top..<min(g.output[0], top + bandRows)
                            let width = band.count * outW
                            Parallel.forEach(groupChannels, threads: context.threads, costPerItem: kernelSize * width) { range in
                                Self.im2col2D(source + range.lowerBound * inSize, channels: range.count, input: spatial, g,
                                              outputRows: band, into: columns + range.lowerBound * kernelSize * width)
                            }
                            let bandOutput = output + top * outW
                            Self.groupProduct(m: groupOut, n: width, k: rows, weights: wp + gi * groupOut * rows, columns: columns,
                                              bias: biasValues, firstChannel: gi * groupOut,
                                              residual: zp.map { $0 + (bandOutput - yp) }, activation: activation,
                                              into: bandOutput, ldc: outSize, threads: context.threads)
                            top = band.upperBound
                        }
                        continue
                    }
                    let matrix: UnsafePointer<Float>
                    if let columns {
                        // Each channel fills its own block of rows, so channels can be split across threads.
                        Parallel.forEach(groupChannels, threads: context.threads, costPerItem: kernelSize * outSize) { range in
                            let from = source + range.lowerBound * inSize
                            let into = columns + range.lowerBound * kernelSize * outSize
                            if spatial.count == 2 {
                                Self.im2col2D(from, channels: range.count, input: spatial, g, into: into)
                            } else {
                                Self.im2colND(from, channels: range.count, input: spatial, g, into: into)
                            }
                        }
                        matrix = UnsafePointer(columns)
                    } else {
                        matrix = UnsafePointer(source)
                    }
                    Self.groupProduct(m: groupOut, n: outSize, k: rows, weights: wp + gi * groupOut * rows, columns: matrix,
                                      bias: biasValues, firstChannel: gi * groupOut,
                                      residual: zp.map { $0 + (output - yp) }, activation: activation,
                                      into: output, ldc: outSize, threads: context.threads)
                }
            }
        }
        return [try Self.restore(out, like: x)]
    }

    /// The 1×1 convolution of `x` [N, K, H, W] written as [N, G, H, W, C/G] (see `outputGroups`):
    /// per image and group, Y_g (H·W × C/G) = Xᵀ · W_gᵀ + bias, then the activation. With the
    /// AVX-512 GEMM, blocks of positions are transposed into scratch space (A) and multiplied by
    /// the group's transposed weights with bias and activation applied in registers; otherwise
    /// OpenBLAS reads both operands transposed and the epilogue runs per row.
    private func channelsLast(_ x: Tensor, _ w: Tensor, bias: [Float]?, groups: Int, threads: Int) throws -> Tensor {
        let (batch, k, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let outChannels = w.shape[0], perGroup = outChannels / groups, positions = height * width
        let out = try Tensor(uninitialized: .float, shape: [batch, groups, height, width, perGroup])
        if out.count == 0 { return out }
        let xp = UnsafePointer(x.pointer(as: Float.self)), yp = out.pointer(as: Float.self)
        let transposed = try channelsLastWeights ?? Self.groupsTransposed(w, groups: groups)
        let wt = UnsafePointer(transposed.pointer(as: Float.self))
        let function = activation.kernelParameters
        let biasValues = bias ?? [Float](repeating: 0, count: outChannels)
        guard FusedGEMM.isAvailable, k > 0 else {
            for n in 0..<batch {
                for gi in 0..<groups {
                    let y = yp + (n * groups + gi) * positions * perGroup
                    BLAS.sgemm(transA: true, m: positions, n: perGroup, k: k, alpha: 1, a: xp + n * k * positions, lda: positions,
                               b: wt + gi * k * perGroup, ldb: perGroup, beta: 0, c: y, ldc: perGroup)
                    for p in 0..<positions {
                        for j in 0..<perGroup { y[p * perGroup + j] += biasValues[gi * perGroup + j] }
                    }
                }
            }
            activation?.apply(yp, count: out.count, threads: threads)
            return out
        }
        // Blocks of positions: A (block × k) stays in L2 while every group's product reads it.
        let block = 128, blocks = (positions + block - 1) / block
        biasValues.withUnsafeBufferPointer { biasBuffer in
            let biasBase = biasBuffer.baseAddress!
            Parallel.forEach(batch * blocks, threads: threads, costPerItem: block * k * outChannels) { items in
                BufferCache.withScratch(floats: block * k + FusedGEMM.scratchFloats(k: k)) { scratch in
                    for item in items {
                        let n = item / blocks, first = item % blocks * block, rows = min(block, positions - first)
                        ck_transpose_strided_32(xp + n * k * positions + first, positions, scratch, k, k, rows)
                        for gi in 0..<groups {
                            var epilogue = ck_gemm_epilogue(
                                bias: biasBase + gi * perGroup, row_bias: nil, addend: nil, ld_addend: 0,
                                has_activation: function.present, activation: function.kind, a: function.a, b: function.b)
                            ck_gemm_f32(rows, perGroup, k, scratch, k, wt + gi * k * perGroup, perGroup, &epilogue,
                                        yp + ((n * groups + gi) * positions + first) * perGroup, perGroup,
                                        0, ck_gemm_panel_count(perGroup), scratch + block * k)
                        }
                    }
                }
            }
        }
        return out
    }

    /// Adds the bias (`bias[firstChannel + c]` to channel c) and the residual (laid out as
    /// `output`) and applies the activation to `positions` of output planes `channels` (each
    /// `plane` floats long), on the calling thread: called on each block of the product as soon
    /// as it is computed.
    static func epilogue(
        _ output: UnsafeMutablePointer<Float>, plane: Int, channels: Range<Int>, positions: Range<Int>,
        bias: [Float]?, firstChannel: Int, residual: UnsafePointer<Float>?, activation: FusedActivation?
    ) {
        if bias == nil && activation == nil && residual == nil { return }
        let (hasActivation, kind, a, b) = activation.kernelParameters
        for channel in channels {
            let value: Float = bias?[firstChannel + channel] ?? 0
            let offset = channel * plane + positions.lowerBound
            ck_bias_activation_f32(value, residual.map { $0 + offset }, hasActivation, kind, a, b, output + offset, positions.count)
        }
    }

    /// The product of a group's weights (m × k) and its unfolded input (k × n, row stride n) into
    /// m output rows of stride `ldc`, with the bias (`bias[firstChannel + row]`), the residual (laid
    /// out as the output) and the activation applied to each block as soon as it is computed: on
    /// the fused GEMM kernel when it suits the shape, else OpenBLAS with the epilogue per block.
    static func groupProduct(
        m: Int, n: Int, k: Int, weights: UnsafePointer<Float>, columns: UnsafePointer<Float>, bias: [Float]?,
        firstChannel: Int, residual: UnsafePointer<Float>?, activation: FusedActivation?,
        into output: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
    ) {
        guard FusedGEMM.suitsConvolution(m: m, n: n, k: k) else {
            BLAS.sgemm(m: m, n: n, k: k, a: weights, lda: k, b: columns, ldb: n, c: output, ldc: ldc) { channels, positions in
                epilogue(output, plane: ldc, channels: channels, positions: positions, bias: bias, firstChannel: firstChannel,
                         residual: residual, activation: activation)
            }
            return
        }
        (bias ?? []).withUnsafeBufferPointer { values in
            let rowBias = bias == nil ? nil : values.baseAddress.map { $0 + firstChannel }
            FusedGEMM.run(m: m, n: n, k: k, a: weights, lda: k, b: columns, ldb: n, bias: nil, rowBias: rowBias,
                          addend: residual, activation: activation, c: output, ldc: ldc, threads: threads)
        }
    }

    /// y = f(y + z) over `count` floats, split across threads: the residual of a FusedConv whose
    /// path applied the bias but neither the residual nor the activation.
    static func addResidual(_ z: UnsafePointer<Float>, activation: FusedActivation?, into y: UnsafeMutablePointer<Float>, count: Int, threads: Int) {
        let (hasActivation, kind, a, b) = activation.kernelParameters
        Parallel.forEach(count, threads: threads, costPerItem: 2) { range in
            ck_bias_activation_f32(0, z + range.lowerBound, hasActivation, kind, a, b, y + range.lowerBound, range.count)
        }
    }

    /// Bytes of im2col buffer a 2-D convolution unfolds at a time.
    static let columnBudget = 8 << 20

    /// True when there is nothing to multiply (zero input channels or an empty kernel).
    private func rowsAreEmpty(groupChannels: Int, kernel: [Int]) -> Bool {
        groupChannels == 0 || kernel.contains(0)
    }

    static func restore(_ out: Tensor, like x: Tensor) throws -> Tensor {
        x.dataType == .float ? out : try Conversion.cast(out, to: x.dataType)
    }

    /// Columns for a 2-D window: row (c, kh, kw), column (oh, ow); zeros where the window is in padding.
    /// Unfolds output rows `outputRows` (all when nil) of a 2-D convolution: one matrix row per
    /// (channel, kh, kw), one column per output position of those rows.
    static func im2col2D(_ x: UnsafePointer<Float>, channels: Int, input: [Int], _ g: WindowGeometry.Resolved, outputRows: Range<Int>? = nil, into col: UnsafeMutablePointer<Float>) {
        let height = input[0], width = input[1]
        let outW = g.output[1]
        let band = outputRows ?? 0..<g.output[0]
        let kH = g.kernel[0], kW = g.kernel[1]
        let sH = g.strides[0], sW = g.strides[1], dH = g.dilations[0], dW = g.dilations[1]
        let pH = g.padBegin[0], pW = g.padBegin[1]
        var row = col
        for c in 0..<channels {
            let plane = x + c * height * width
            for kh in 0..<kH {
                for kw in 0..<kW {
                    // Output columns whose input column lies inside [0, width).
                    let shift = kw * dW - pW
                    let first = shift >= 0 ? 0 : min(outW, (-shift + sW - 1) / sW)
                    let last = width - 1 - shift < 0 ? 0 : min(outW, (width - 1 - shift) / sW + 1)
                    for oh in band {
                        let ih = oh * sH + kh * dH - pH
                        let line = row + (oh - band.lowerBound) * outW
                        if ih < 0 || ih >= height || first >= last {
                            line.update(repeating: 0, count: outW)
                            continue
                        }
                        let src = plane + ih * width + shift
                        if first > 0 { line.update(repeating: 0, count: first) }
                        if sW == 1 {
                            (line + first).update(from: src + first, count: last - first)
                        } else {
                            for ow in first..<last { line[ow] = src[ow * sW] }
                        }
                        if last < outW { (line + last).update(repeating: 0, count: outW - last) }
                    }
                    row += band.count * outW
                }
            }
        }
    }

    /// Columns for any number of spatial axes: row (c, k_1..k_n), column (o_1..o_n).
    static func im2colND(_ x: UnsafePointer<Float>, channels: Int, input: [Int], _ g: WindowGeometry.Resolved, into col: UnsafeMutablePointer<Float>) {
        let rank = input.count
        let inSize = input.reduce(1, *), outSize = g.output.reduce(1, *), kernelSize = g.kernel.reduce(1, *)
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * input[i + 1] }
        var k = [Int](repeating: 0, count: rank)
        var o = [Int](repeating: 0, count: rank)
        var row = col
        for c in 0..<channels {
            let plane = x + c * inSize
            for i in 0..<rank { k[i] = 0 }
            for _ in 0..<kernelSize {
                // Walk the outputs; the innermost axis is handled as a run.
                for i in 0..<rank { o[i] = 0 }
                let last = rank - 1
                let shift = k[last] * g.dilations[last] - g.padBegin[last]
                var position = 0
                while position < outSize {
                    var offset = 0, inside = true
                    for i in 0..<last {
                        let p = o[i] * g.strides[i] + k[i] * g.dilations[i] - g.padBegin[i]
                        if p < 0 || p >= input[i] { inside = false; break }
                        offset += p * inStrides[i]
                    }
                    let line = row + position
                    let count = g.output[last]
                    if inside {
                        for j in 0..<count {
                            let p = j * g.strides[last] + shift
                            line[j] = p >= 0 && p < input[last] ? plane[offset + p] : 0
                        }
                    } else {
                        line.update(repeating: 0, count: count)
                    }
                    position += count
                    var axis = last - 1
                    while axis >= 0 {
                        o[axis] += 1
                        if o[axis] < g.output[axis] { break }
                        o[axis] = 0
                        axis -= 1
                    }
                }
                row += outSize
                var axis = rank - 1
                while axis >= 0 {
                    k[axis] += 1
                    if k[axis] < g.kernel[axis] { break }
                    k[axis] = 0
                    axis -= 1
                }
            }
        }
    }
}

extension KernelRegistry {
    static func registerConvolution(_ r: inout KernelRegistry) {
        r.register("Conv", since: 1, 11, 22) { try ConvKernel($0) }
        // Conv followed by an activation, produced by the optimizer (see Optimizer/ConvFusion.swift).
        r.register("FusedConv", domain: FusedActivation.domain, since: 1) { try ConvKernel($0) }
    }
}
