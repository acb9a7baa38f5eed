/// MaxPool, AveragePool (1-D to 3-D windows), GlobalAveragePool and GlobalMaxPool.

internal import CKernels

/// Windowed pooling. Padded positions never contribute a value; AveragePool with
/// `count_include_pad` counts them (up to the explicit padding, not the ceil_mode overhang).
struct PoolKernel: TensorKernel {
    enum Mode: Sendable { case max, average }
    let mode: Mode
    let geometry: WindowGeometry
    let kernelShape: [Int]
    let countIncludePad: Bool
    /// MaxPool Indices layout: false = row-major, true = column-major over the spatial axes.
    let columnMajorIndices: Bool
    let wantsIndices: Bool

    init(_ mode: Mode, _ context: KernelContext) throws {
        try context.expectInputs(1)
        self.mode = mode
        let opset = context.opsetVersion
        geometry = try WindowGeometry(
            context, kernelRequired: true,
            readDilations: mode == .max ? opset >= 10 : opset >= 19, readCeilMode: opset >= 10)
        kernelShape = geometry.kernelShape!
        guard kernelShape.count <= 3 else {
            throw context.error(.unsupportedOperator, "pooling over \(kernelShape.count) spatial axes is not supported (at most 3)")
        }
        countIncludePad = mode == .average && opset >= 7 ? try context.int("count_include_pad", default: 0) != 0 : false
        let order = mode == .max && opset >= 8 ? try context.int("storage_order", default: 0) : 0
        guard order == 0 || order == 1 else {
            throw context.error(.invalidAttribute, "storage_order must be 0 or 1, got \(order)")
        }
        columnMajorIndices = order == 1
        wantsIndices = context.node.outputs.count > 1 && !context.node.outputs[1].isEmpty
        if wantsIndices && mode == .average {
            throw context.error(.invalidModel, "AveragePool has one output, the node declares \(context.node.outputs.count)")
        }
    }

    /// Per output position along one axis: the first in-range input index, how many window taps
    /// fall inside the input, and how many fall inside input + explicit padding.
    private struct AxisTaps {
        var first: [Int] = [], count: [Int] = [], padded: [Int] = []
        var step = 1
    }

    private static func taps(input: Int, output: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int) -> AxisTaps {
        var t = AxisTaps()
        t.step = dilation
        for o in 0..<output {
            let start = o * stride - padBegin
            var first = -1, count = 0, padded = 0
            for k in 0..<kernel {
                let p = start + k * dilation
                if p >= -padBegin && p < input + padEnd { padded += 1 }
                if p >= 0 && p < input {
                    if first < 0 { first = p }
                    count += 1
                }
            }
            t.first.append(max(first, 0))
            t.count.append(count)
            t.padded.append(padded)
        }
        return t
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        guard x.rank == kernelShape.count + 2 else {
            throw ONNXRunError(.shapeMismatch, "input of shape \(x.shape) does not match a \(kernelShape.count)-D window (rank \(kernelShape.count + 2) expected)")
        }
        let spatial = Array(x.shape[2...])
        let g = try geometry.resolve(input: spatial, kernel: kernelShape)
        // Lift to three spatial axes with leading axes of size 1.
        let lift = 3 - spatial.count
        let input = Array(repeating: 1, count: lift) + spatial
        let output = Array(repeating: 1, count: lift) + g.output
        let kernel = Array(repeating: 1, count: lift) + g.kernel
        let strides = Array(repeating: 1, count: lift) + g.strides
        let dilations = Array(repeating: 1, count: lift) + g.dilations
        let padBegin = Array(repeating: 0, count: lift) + g.padBegin
        let padEnd = Array(repeating: 0, count: lift) + g.padEnd
        let axes = (0..<3).map {
            Self.taps(input: input[$0], output: output[$0], kernel: kernel[$0], stride: strides[$0], dilation: dilations[$0], padBegin: padBegin[$0], padEnd: padEnd[$0])
        }
        let planes = x.shape[0] * x.shape[1]
        let outShape = Array(x.shape[..<2]) + g.output
        let layout = Layout(planes: planes, input: input, output: output, axes: axes)
        // 1-D and 2-D windows of floats go to the SIMD kernels, which work plane by plane.
        let plane = lift >= 1 ? ck_pool2d_geometry(
            in_h: input[1], in_w: input[2], out_h: output[1], out_w: output[2],
            kernel_h: kernel[1], kernel_w: kernel[2], stride_h: strides[1], stride_w: strides[2],
            dilation_h: dilations[1], dilation_w: dilations[2],
            pad_top: padBegin[1], pad_left: padBegin[2], pad_bottom: padEnd[1], pad_right: padEnd[2]) : nil
        // Per plane: the vertical pass reads each window row once per output row, the horizontal
        // pass every tap once.
        let planeCost = layout.outPlane * kernel[2] + output[1] * input[2] * kernel[1]

        switch mode {
        case .max:
            let indices = wantsIndices ? try Tensor(uninitialized: .int64, shape: outShape) : nil
            let idx = indices?.pointer(as: Int64.self)
            if x.dataType == .float, idx == nil, let plane {
                let out = try Tensor(uninitialized: .float, shape: outShape)
                let xp = UnsafePointer(x.pointer(as: Float.self)), yp = out.pointer(as: Float.self)
                Parallel.forEach(planes, threads: context.threads, costPerItem: planeCost) { range in
                    withUnsafePointer(to: plane) {
                        ck_max_pool2d_f32($0, xp + range.lowerBound * layout.inPlane, yp + range.lowerBound * layout.outPlane, range.count)
                    }
                }
                return [out]
            }
            func run<T: Comparable>(_: T.Type, empty: T) throws -> Tensor {
                let out = try Tensor(uninitialized: x.dataType, shape: outShape)
                maxPool(x.pointer(as: T.self), out.pointer(as: T.self), idx, layout, empty: empty)
                return out
            }
            let out: Tensor
            switch x.dataType {
            case .float: out = try run(Float.self, empty: -.infinity)
            case .double: out = try run(Double.self, empty: -.infinity)
            case .float16: out = try run(Float16.self, empty: -.infinity)
            case .int8: out = try run(Int8.self, empty: .min)
            case .uint8: out = try run(UInt8.self, empty: .min)
            case .bfloat16:
                let wide = try Conversion.cast(x, to: .float)
                let result = try Tensor(uninitialized: .float, shape: outShape)
                maxPool(wide.pointer(as: Float.self), result.pointer(as: Float.self), idx, layout, empty: -.infinity)
                out = try Conversion.cast(result, to: .bfloat16)
            default: throw ONNXRunError(.unsupportedType, "MaxPool of \(x.dataType) is not supported")
            }
            return indices.map { [out, $0] } ?? [out]
        case .average:
            func average<T: BinaryFloatingPoint>(_: T.Type) throws -> Tensor {
                let out = try Tensor(uninitialized: x.dataType, shape: outShape)
                let xp = UnsafePointer(x.pointer(as: T.self)), yp = out.pointer(as: T.self)
                let includePad = countIncludePad
                Parallel.forEach(planes, threads: context.threads, costPerItem: layout.outPlane * kernel.reduce(1, *)) { range in
                    Self.averagePool(xp, yp, layout, planes: range, includePad: includePad)
                }
                return out
            }
            switch x.dataType {
            case .float:
                guard let plane else { return [try average(Float.self)] }
                let out = try Tensor(uninitialized: .float, shape: outShape)
                let xp = UnsafePointer(x.pointer(as: Float.self)), yp = out.pointer(as: Float.self)
                let includePad: Int32 = countIncludePad ? 1 : 0
                Parallel.forEach(planes, threads: context.threads, costPerItem: planeCost) { range in
                    withUnsafePointer(to: plane) {
                        ck_average_pool2d_f32($0, includePad, xp + range.lowerBound * layout.inPlane, yp + range.lowerBound * layout.outPlane, range.count)
                    }
                }
                return [out]
            case .double: return [try average(Double.self)]
            case .float16, .bfloat16:
                let result = try compute([Conversion.cast(x, to: .float)], context)[0]
                return [try Conversion.cast(result, to: x.dataType)]
            default: throw ONNXRunError(.unsupportedType, "AveragePool of \(x.dataType) is not supported")
            }
        }
    }

    private struct Layout {
        let planes: Int
        let input: [Int], output: [Int]
        let axes: [AxisTaps]
        var inPlane: Int { input[0] * input[1] * input[2] }
        var outPlane: Int { output[0] * output[1] * output[2] }
    }

    private func maxPool<T: Comparable>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ indices: UnsafeMutablePointer<Int64>?, _ l: Layout, empty: T) {
        let (D, H, W) = (l.input[0], l.input[1], l.input[2])
        let (a0, a1, a2) = (l.axes[0], l.axes[1], l.axes[2])
        var o = 0
        for plane in 0..<l.planes {
            let px = x + plane * l.inPlane
            for od in 0..<l.output[0] {
                for oh in 0..<l.output[1] {
                    for ow in 0..<l.output[2] {
                        var best = empty, at = -1
                        var d = a0.first[od]
                        for _ in 0..<a0.count[od] {
                            var h = a1.first[oh]
                            for _ in 0..<a1.count[oh] {
                                let row = (d * H + h) * W
                                var w = a2.first[ow]
                                for _ in 0..<a2.count[ow] {
                                    let v = px[row + w]
                                    // `v != v` only for NaN, which wins the window as np.max has it.
                                    if at < 0 || v > best || (v != v && best == best) { best = v; at = row + w }
                                    w += a2.step
                                }
                                h += a1.step
                            }
                            d += a0.step
                        }
                        y[o] = best
                        if let indices {
                            var local = max(at, 0)
                            if columnMajorIndices {
                                let (dd, rest) = local.quotientAndRemainder(dividingBy: H * W)
                                let (hh, ww) = rest.quotientAndRemainder(dividingBy: W)
                                local = (ww * H + hh) * D + dd
                            }
                            indices[o] = Int64(plane * l.inPlane + local)
                        }
                        o += 1
                    }
                }
            }
        }
    }

    /// Average pooling of planes `planes`. The tap tables are read through raw pointers so the
    /// loops carry no bounds checks; callers split the planes between threads.
    private static func averagePool<T: BinaryFloatingPoint>(
        _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ l: Layout, planes: Range<Int>, includePad: Bool
    ) {
        let (H, W) = (l.input[1], l.input[2])
        let (a0, a1, a2) = (l.axes[0], l.axes[1], l.axes[2])
        let (outD, outH, outW) = (l.output[0], l.output[1], l.output[2])
        let (dStep, hStep, wStep) = (a0.step, a1.step, a2.step)
        // One table of (first, count, padded) per axis, flattened: [firsts | counts | paddeds].
        let tables = [a0, a1, a2].map { $0.first + $0.count + $0.padded }
        tables[0].withUnsafeBufferPointer { t0 in
        tables[1].withUnsafeBufferPointer { t1 in
        tables[2].withUnsafeBufferPointer { t2 in
            var o = planes.lowerBound * l.outPlane
            for plane in planes {
                let px = x + plane * l.inPlane
                for od in 0..<outD {
                    for oh in 0..<outH {
                        for ow in 0..<outW {
                            var sum: T = 0
                            var d = t0[od]
                            for _ in 0..<t0[outD + od] {
                                var h = t1[oh]
                                for _ in 0..<t1[outH + oh] {
                                    let row = px + (d * H + h) * W
                                    var w = t2[ow]
                                    for _ in 0..<t2[outW + ow] {
                                        sum += row[w]
                                        w += wStep
                                    }
                                    h += hStep
                                }
                                d += dStep
                            }
                            let divisor = includePad
                                ? t0[2 * outD + od] * t1[2 * outH + oh] * t2[2 * outW + ow]
                                : t0[outD + od] * t1[outH + oh] * t2[outW + ow]
                            y[o] = divisor > 0 ? sum / T(divisor) : 0
                            o += 1
                        }
                    }
                }
            }
        }}}
    }
}

/// GlobalAveragePool / GlobalMaxPool: one value per (n, c) over all spatial positions.
struct GlobalPoolKernel: TensorKernel {
    let mode: PoolKernel.Mode

    init(_ mode: PoolKernel.Mode, _ context: KernelContext) throws {
        try context.expectInputs(1)
        self.mode = mode
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let x = inputs[0] else { throw ONNXRunError(.invalidInput, "input is required") }
        guard x.rank >= 2 else { throw ONNXRunError(.shapeMismatch, "input must have rank 2 or more, got \(x.shape)") }
        let planes = x.shape[0] * x.shape[1]
        let size = x.shape[2...].reduce(1, *)
        let outShape = Array(x.shape[..<2]) + Array(repeating: 1, count: x.rank - 2)
        func run<T: BinaryFloatingPoint>(_: T.Type) throws -> Tensor {
            let out = try Tensor(uninitialized: x.dataType, shape: outShape)
            let px = x.pointer(as: T.self), py = out.pointer(as: T.self)
            for p in 0..<planes {
                let s = px + p * size
                switch mode {
                case .average:
                    var sum: T = 0
                    for i in 0..<size { sum += s[i] }
                    py[p] = size > 0 ? sum / T(size) : .nan
                case .max:
                    var best = -T.infinity
                    for i in 0..<size where s[i] > best || s[i].isNaN { best = s[i]; if best.isNaN { break } }
                    py[p] = best
                }
            }
            return out
        }
        switch x.dataType {
        case .float:
            let out = try Tensor(uninitialized: .float, shape: outShape)
            let px = UnsafePointer(x.pointer(as: Float.self)), py = out.pointer(as: Float.self)
            let mode = mode
            Parallel.forEach(planes, threads: context.threads, costPerItem: size) { range in
                let (src, dst) = (px + range.lowerBound * size, py + range.lowerBound)
                switch mode {
                case .average: ck_global_average_pool_f32(src, dst, range.count, size)
                case .max: ck_global_max_pool_f32(src, dst, range.count, size)
                }
            }
            return [out]
        case .double: return [try run(Double.self)]
        case .float16, .bfloat16:
            let result = try compute([Conversion.cast(x, to: .float)], context)[0]
            return [try Conversion.cast(result, to: x.dataType)]
        default: throw ONNXRunError(.unsupportedType, "global pooling of \(x.dataType) is not supported")
        }
    }
}

extension KernelRegistry {
    static func registerPooling(_ r: inout KernelRegistry) {
        r.register("MaxPool", since: 1, 8, 10, 11, 12, 22) { try PoolKernel(.max, $0) }
        r.register("AveragePool", since: 1, 7, 10, 11, 19, 22) { try PoolKernel(.average, $0) }
        r.register("GlobalAveragePool", since: 1, 22) { try GlobalPoolKernel(.average, $0) }
        r.register("GlobalMaxPool", since: 1, 22) { try GlobalPoolKernel(.max, $0) }
    }
}
