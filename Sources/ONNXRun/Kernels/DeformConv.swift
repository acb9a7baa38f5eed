/// DeformConv (2-D): each kernel tap samples the input bilinearly at its regular position plus a
/// learned offset (zero outside the image), optionally scaled by a mask, then convolves.
struct DeformConvKernel: TensorKernel {
    let strides: [Int]?, dilations: [Int]?, pads: [Int]?
    let group: Int, offsetGroup: Int

    init(_ context: KernelContext) throws {
        try context.expectInputs(3, 5)
        strides = try context.ints("strides")
        dilations = try context.ints("dilations")
        pads = try context.ints("pads")
        group = try context.int("group", default: 1)
        offsetGroup = try context.int("offset_group", default: 1)
        guard group >= 1, offsetGroup >= 1 else { throw context.error(.invalidAttribute, "group and offset_group must be at least 1") }
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let xt = inputs[0], let wt = inputs[1], let ot = inputs[2], xt.rank == 4, wt.rank == 4, ot.rank == 4 else {
            throw ONNXRunError(.invalidInput, "X, W and offset must be rank-4 tensors (2-D DeformConv)")
        }
        let (n, ic, ih, iw) = (xt.shape[0], xt.shape[1], xt.shape[2], xt.shape[3])
        let (oc, kh, kw) = (wt.shape[0], wt.shape[2], wt.shape[3])
        let (oh, ow) = (ot.shape[2], ot.shape[3])
        guard ic % group == 0, oc % group == 0, ic % offsetGroup == 0, ot.shape[1] == offsetGroup * kh * kw * 2 else {
            throw ONNXRunError(.shapeMismatch, "channels, groups and offset shape \(ot.shape) do not agree")
        }
        let s = strides ?? [1, 1], d = dilations ?? [1, 1], p = pads ?? [0, 0, 0, 0]
        let x = try Elements(xt).doubles, w = try Elements(wt).doubles, offset = try Elements(ot).doubles
        let bias = try (inputs.count > 3 ? inputs[3] : nil).map { try Elements($0).doubles }
        let mask = try (inputs.count > 4 ? inputs[4] : nil).map { try Elements($0).doubles }
        let icPerGroup = ic / group, ocPerGroup = oc / group, icPerOffsetGroup = ic / offsetGroup
        func sample(_ plane: Int, _ h: Double, _ v: Double) -> Double {
            let h0 = Int(h.rounded(.down)), w0 = Int(v.rounded(.down))
            let th = h - Double(h0), tw = v - Double(w0)
            var total = 0.0
            for (dy, wy) in [(0, 1 - th), (1, th)] {
                for (dx, wx) in [(0, 1 - tw), (1, tw)] {
                    let y = h0 + dy, xx = w0 + dx
                    if y >= 0 && y < ih && xx >= 0 && xx < iw { total += wy * wx * x[plane + y * iw + xx] }
                }
            }
            return total
        }
        var out = [Double](repeating: 0, count: n * oc * oh * ow)
        for b in 0..<n {
            for o in 0..<oc {
                let g = o / ocPerGroup
                for i in 0..<oh { for j in 0..<ow {
                    var sum = bias?[o] ?? 0
                    for c in (g * icPerGroup)..<((g + 1) * icPerGroup) {
                        let og = c / icPerOffsetGroup, plane = (b * ic + c) * ih * iw
                        for a in 0..<kh { for e in 0..<kw {
                            let tap = a * kw + e
                            let offsetBase = ((b * offsetGroup + og) * kh * kw + tap) * 2
                            let dh = offset[(offsetBase * oh + i) * ow + j], dw = offset[((offsetBase + 1) * oh + i) * ow + j]
                            // Positions go through float32 as in the reference's grid sampling.
                            let h = Double(Float(Double(-p[0] + s[0] * i + a * d[0]) + dh))
                            let v = Double(Float(Double(-p[1] + s[1] * j + e * d[1]) + dw))
                            let m = mask.map { $0[(((b * offsetGroup + og) * kh * kw + tap) * oh + i) * ow + j] } ?? 1
                            sum += w[((o * icPerGroup + (c - g * icPerGroup)) * kh + a) * kw + e] * sample(plane, h, v) * m
                        } }
                    }
                    out[((b * oc + o) * oh + i) * ow + j] = sum
                } }
            }
        }
        return [try Conversion.cast(try Tensor(shape: [n, oc, oh, ow], scalars: out), to: xt.dataType)]
    }
}

extension KernelRegistry {
    static func registerDeformConv(_ r: inout KernelRegistry) {
        r.register("DeformConv", since: 19, 22) { try DeformConvKernel($0) }
    }
}
