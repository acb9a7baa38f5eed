import CKernels
import Testing
@testable import ONNXRun

/// Pooling by definition over explicit padding. `output` is given (it depends on ceil_mode);
/// AveragePool with `countPad` divides by the taps inside input + explicit padding.
private func referencePool(
    _ x: Tensor, max isMax: Bool, kernel: [Int], strides: [Int], dilations: [Int],
    padBegin: [Int], padEnd: [Int], output: [Int], countPad: Bool = false
) -> Tensor {
    let xs = try! x.scalars(as: Float.self)
    let spatial = Array(x.shape[2...]), rank = spatial.count
    let xStrides = rowMajorStrides(x.shape)
    var out: [Float] = []
    for n in 0..<x.shape[0] {
        for c in 0..<x.shape[1] {
            for o in allIndices(output) {
                var best = -Float.infinity, sum: Float = 0, count = 0, padded = 0
                for k in allIndices(kernel) {
                    var offset = n * xStrides[0] + c * xStrides[1]
                    var inside = true, insidePadding = true
                    for i in 0..<rank {
                        let p = o[i] * strides[i] + k[i] * dilations[i] - padBegin[i]
                        if p < 0 || p >= spatial[i] { inside = false }
                        if p < -padBegin[i] || p >= spatial[i] + padEnd[i] { insidePadding = false }
                        offset += p * xStrides[i + 2]
                    }
                    if insidePadding { padded += 1 }
                    guard inside else { continue }
                    best = max(best, xs[offset])
                    sum += xs[offset]
                    count += 1
                }
                out.append(isMax ? best : sum / Float(countPad ? padded : count))
            }
        }
    }
    return floatTensor(Array(x.shape[..<2]) + output, out)
}


/// One 2-D (or, with `height` 1, 1-D) pooling configuration of the SIMD kernel tests.
private struct PlaneCase: CustomStringConvertible {
    var height: Int, width: Int, kernel: Int, stride: Int, dilation: Int
    /// top, left, bottom, right
    var pads: [Int]
    var ceilMode: Bool
    var oneDimensional: Bool { height == 1 }

    /// Every combination of kernel 2/3/5, stride 1/2/3, dilation 1/2, four paddings and ceil_mode.
    static func all(height: Int, width: Int) -> [PlaneCase] {
        var cases: [PlaneCase] = []
        for kernel in [2, 3, 5] {
            for stride in [1, 2, 3] {
                for dilation in [1, 2] {
                    for pads in [[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 2, 0], [2, 0, 1, 2]] {
                        for ceilMode in [false, true] {
                            cases.append(PlaneCase(height: height, width: width, kernel: kernel, stride: stride, dilation: dilation, pads: pads, ceilMode: ceilMode))
                        }
                    }
                }
            }
        }
        return cases
    }

    var description: String { "\(height)×\(width) k\(kernel) s\(stride) d\(dilation) pads \(pads) ceil \(ceilMode)" }

    /// Output size along one axis, nil when the window does not fit.
    private func output(_ input: Int, _ kernel: Int, _ begin: Int, _ end: Int) -> Int? {
        let span = input + begin + end - ((kernel - 1) * dilation + 1)
        guard span >= 0 else { return nil }
        var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
        // ceil_mode drops a last window that would start in the trailing padding.
        if ceilMode && (out - 1) * stride >= input + begin { out -= 1 }
        return out
    }

    var outputSize: (Int, Int)? {
        guard let h = oneDimensional ? 1 : output(height, kernel, pads[0], pads[2]),
              let w = output(width, kernel, pads[1], pads[3]) else { return nil }
        return (h, w)
    }

    func attributes(countIncludePad: Bool = false) -> [String: Attribute] {
        let axes = oneDimensional ? 1 : 2
        return [
            "kernel_shape": .ints(Array(repeating: kernel, count: axes)),
            "strides": .ints(Array(repeating: stride, count: axes)),
            "dilations": .ints(Array(repeating: dilation, count: axes)),
            "pads": .ints(oneDimensional ? [pads[1], pads[3]] : pads),
            "ceil_mode": .int(ceilMode ? 1 : 0),
            "count_include_pad": .int(countIncludePad ? 1 : 0),
        ]
    }

    /// Pooling by definition, one window at a time. Max gives NaN when any tap is NaN.
    func reference(_ x: [Float], planes: Int, max isMax: Bool, countIncludePad: Bool = false) -> [Float] {
        let (outH, outW) = outputSize!
        let (kernelH, padTop, padBottom) = oneDimensional ? (1, 0, 0) : (kernel, pads[0], pads[2])
        var out: [Float] = []
        for plane in 0..<planes {
            for oh in 0..<outH {
                for ow in 0..<outW {
                    var best = -Float.infinity, sum: Float = 0, count = 0, padded = 0
                    for kh in 0..<kernelH {
                        for kw in 0..<kernel {
                            let h = oh * (oneDimensional ? 1 : stride) + kh * dilation - padTop
                            let w = ow * stride + kw * dilation - pads[1]
                            if h >= -padTop && h < height + padBottom && w >= -pads[1] && w < width + pads[3] { padded += 1 }
                            guard h >= 0 && h < height && w >= 0 && w < width else { continue }
                            let v = x[(plane * height + h) * width + w]
                            if !best.isNaN && (v.isNaN || v > best) { best = v }
                            sum += v
                            count += 1
                        }
                    }
                    let divisor = countIncludePad ? padded : count
                    out.append(isMax ? best : divisor > 0 ? sum / Float(divisor) : 0)
                }
            }
        }
        return out
    }
}

@Suite(.serialized) struct PoolingTests {
    @Test func maxPoolByHand() throws {
        let x = floatTensor([1, 1, 4, 4], (1...16).map(Float.init))
        let y = try runNode("MaxPool", inputs: [x], attributes: ["kernel_shape": ints(2, 2), "strides": ints(2, 2)])[0]
        expectClose(y, floatTensor([1, 1, 2, 2], [6, 8, 14, 16]))
        // Negative inputs with padding: padded positions must not win as zeros.
        let negative = floatTensor([1, 1, 2, 2], [-4, -3, -2, -1])
        let p = try runNode("MaxPool", inputs: [negative], attributes: ["kernel_shape": ints(2, 2), "pads": ints(1, 1, 1, 1), "strides": ints(2, 2)])[0]
        expectClose(p, floatTensor([1, 1, 2, 2], [-4, -3, -2, -1]))
    }

    @Test func ceilModeByHand() throws {
        // 4×4, kernel 3, stride 2: floor gives 1×1, ceil gives 2×2 (windows clipped at the edge).
        let x = floatTensor([1, 1, 4, 4], (1...16).map(Float.init))
        let attributes: [String: Attribute] = ["kernel_shape": ints(3, 3), "strides": ints(2, 2)]
        expectClose(try runNode("MaxPool", inputs: [x], attributes: attributes)[0], floatTensor([1, 1, 1, 1], [11]))
        var ceil = attributes
        ceil["ceil_mode"] = .int(1)
        expectClose(try runNode("MaxPool", inputs: [x], attributes: ceil)[0], floatTensor([1, 1, 2, 2], [11, 12, 15, 16]))
        // Opset 8 has no ceil_mode: the attribute is not read.
        expectClose(try runNode("MaxPool", opset: 8, inputs: [x], attributes: ceil)[0], floatTensor([1, 1, 1, 1], [11]))
    }

    @Test func ceilModeDropsWindowsStartingInTrailingPadding() throws {
        // Length 4, kernel 2, stride 3, pads (0, 2): ceil((4+2−2)/3)+1 = 3 windows, but the third
        // would start at 6 ≥ 4 + 0, inside the end padding, so only 2 remain: [1,2] and [4,pad].
        let x = floatTensor([1, 1, 4], [1, 2, 3, 4])
        let attributes: [String: Attribute] = ["kernel_shape": ints(2), "strides": ints(3), "pads": ints(0, 2), "ceil_mode": .int(1)]
        expectClose(try runNode("MaxPool", inputs: [x], attributes: attributes)[0], floatTensor([1, 1, 2], [2, 4]))
        expectClose(try runNode("AveragePool", inputs: [x], attributes: attributes)[0], floatTensor([1, 1, 2], [1.5, 4]))
        var include = attributes
        include["count_include_pad"] = .int(1)
        expectClose(try runNode("AveragePool", inputs: [x], attributes: include)[0], floatTensor([1, 1, 2], [1.5, 2]))
    }

    @Test func maxPoolIndices() throws {
        // One 2×3 plane per (n, c); indices count over the whole flattened tensor.
        let x = floatTensor([1, 2, 2, 3], [1, 9, 2, 3, 4, 5, 7, 1, 1, 1, 1, 8])
        let attributes: [String: Attribute] = ["kernel_shape": ints(2, 2), "strides": ints(1, 1)]
        let r = try runNode("MaxPool", inputs: [x], attributes: attributes, outputCount: 2)
        expectClose(r[0], floatTensor([1, 2, 1, 2], [9, 9, 7, 8]))
        #expect(try r[1].scalars(as: Int64.self) == [1, 1, 6, 11])
        // Column-major: position (h, w) of a 2×3 plane is w·2 + h.
        var columnMajor = attributes
        columnMajor["storage_order"] = .int(1)
        let c = try runNode("MaxPool", inputs: [x], attributes: columnMajor, outputCount: 2)
        #expect(try c[1].scalars(as: Int64.self) == [2, 2, 6, 11])
    }

    /// The generic path (taken with the Indices output, and for doubles) returns NaN for a window
    /// holding a NaN, wherever it lies, as the float fast path and np.max do.
    @Test func maxPoolGenericPathPropagatesNaN() throws {
        let values: [Float] = [1, 9, .nan, 3, 4, 5]
        let x = floatTensor([1, 1, 2, 3], values)
        let attributes: [String: Attribute] = ["kernel_shape": ints(2, 2), "strides": ints(1, 1)]
        let r = try runNode("MaxPool", inputs: [x], attributes: attributes, outputCount: 2)
        let pooled = try r[0].scalars(as: Float.self)
        #expect(pooled[0] == 9 && pooled[1].isNaN, "\(pooled)")
        #expect(try r[1].scalars(as: Int64.self)[1] == 2)
        let d = try runNode("MaxPool", inputs: [Conversion.cast(x, to: .double)], attributes: attributes)[0]
        let doubles = try d.scalars(as: Double.self)
        #expect(doubles[0] == 9 && doubles[1].isNaN, "\(doubles)")
    }

    @Test func maxPoolAgainstReference() throws {
        let x = sampleTensor([2, 3, 9, 8], seed: 21)
        let attributes: [String: Attribute] = [
            "kernel_shape": ints(3, 2), "strides": ints(2, 3), "pads": ints(1, 0, 2, 1), "dilations": ints(2, 1),
        ]
        // rows (9+3−5)/2+1 = 4, columns (8+1−2)/3+1 = 3
        let expected = referencePool(x, max: true, kernel: [3, 2], strides: [2, 3], dilations: [2, 1], padBegin: [1, 0], padEnd: [2, 1], output: [4, 3])
        expectClose(try runNode("MaxPool", inputs: [x], attributes: attributes)[0], expected)
    }

    @Test func averagePoolAgainstReference() throws {
        let x = sampleTensor([1, 2, 7, 7], seed: 22)
        let base: [String: Attribute] = ["kernel_shape": ints(3, 3), "strides": ints(2, 2), "pads": ints(1, 1, 1, 0)]
        // (7+2−3)/2+1 = 4 rows, (7+1−3)/2+1 = 3 columns
        for countPad in [false, true] {
            var attributes = base
            attributes["count_include_pad"] = .int(countPad ? 1 : 0)
            let expected = referencePool(x, max: false, kernel: [3, 3], strides: [2, 2], dilations: [1, 1], padBegin: [1, 1], padEnd: [1, 0], output: [4, 3], countPad: countPad)
            expectClose(try runNode("AveragePool", inputs: [x], attributes: attributes)[0], expected)
        }
        // ceil_mode: columns ceil((7+1−3)/2)+1 = 4, the last window overhanging the padding.
        var ceil = base
        ceil["ceil_mode"] = .int(1)
        ceil["count_include_pad"] = .int(1)
        let expectedCeil = referencePool(x, max: false, kernel: [3, 3], strides: [2, 2], dilations: [1, 1], padBegin: [1, 1], padEnd: [1, 0], output: [4, 4], countPad: true)
        expectClose(try runNode("AveragePool", inputs: [x], attributes: ceil)[0], expectedCeil)
    }

    /// The SIMD kernels (1-D and 2-D float windows) at every level against `PlaneCase.reference`:
    /// odd and even sizes, widths past one vector and past the 128 columns AVX-512 keeps in
    /// registers at stride 1, kernels 2/3/5, strides 1/2/3, dilations,
    /// symmetric and asymmetric pads, ceil_mode, count_include_pad, and NaN / infinite inputs.
    @Test(arguments: [CK_LEVEL_PORTABLE, CK_LEVEL_AVX2, CK_LEVEL_AVX512])
    func planeKernelsMatchTheReference(level: Int) throws {
        let used = ck_set_cpu_level(Int32(level))
        defer { ck_set_cpu_level(Int32(CK_LEVEL_AVX512)) }
        if used != Int32(level) { print("SIMD level \(level) not supported here; tested level \(used)") }
        let planes = 3
        for (height, width) in [(5, 7), (8, 8), (6, 40), (1, 33), (35, 4), (9, 70), (4, 131)] {
            let clean = sampleValues(planes * height * width, seed: UInt64(height * 100 + width))
            var special = clean
            for i in stride(from: 3, to: special.count, by: 29) { special[i] = .nan }
            for i in stride(from: 11, to: special.count, by: 41) { special[i] = -.infinity }
            for i in stride(from: 17, to: special.count, by: 43) { special[i] = .infinity }
            for c in PlaneCase.all(height: height, width: width) {
                guard let (outH, outW) = c.outputSize else { continue }
                let inShape = c.oneDimensional ? [1, planes, width] : [1, planes, height, width]
                let outShape = c.oneDimensional ? [1, planes, outW] : [1, planes, outH, outW]
                for values in [clean, special] {
                    let y = try runNode("MaxPool", inputs: [floatTensor(inShape, values)], attributes: c.attributes())[0]
                    expectClose(y, floatTensor(outShape, c.reference(values, planes: planes, max: true)), rtol: 0, atol: 0)
                }
                for includePad in [false, true] {
                    let y = try runNode("AveragePool", inputs: [floatTensor(inShape, clean)], attributes: c.attributes(countIncludePad: includePad))[0]
                    expectClose(y, floatTensor(outShape, c.reference(clean, planes: planes, max: false, countIncludePad: includePad)))
                }
            }
        }
    }

    @Test func averagePoolSplitAcrossThreads() throws {
        // 2 × 8 planes of 16 × 16, just enough work for two threads; both must give the reference.
        let x = sampleTensor([2, 8, 16, 16], seed: 24)
        let attributes: [String: Attribute] = ["kernel_shape": ints(3, 3), "pads": ints(1, 1, 1, 1), "count_include_pad": .int(1)]
        let expected = referencePool(x, max: false, kernel: [3, 3], strides: [1, 1], dilations: [1, 1], padBegin: [1, 1], padEnd: [1, 1], output: [16, 16], countPad: true)
        for threads in [1, 2] {
            expectClose(try runNode("AveragePool", inputs: [x], attributes: attributes, threads: threads)[0], expected)
        }
    }

    @Test func averagePoolDilationsFromOpset19() throws {
        let x = sampleTensor([1, 1, 8], seed: 23)
        let attributes: [String: Attribute] = ["kernel_shape": ints(3), "dilations": ints(2), "pads": ints(1, 1)]
        // (8+2−5)/1+1 = 6 outputs
        let expected = referencePool(x, max: false, kernel: [3], strides: [1], dilations: [2], padBegin: [1], padEnd: [1], output: [6])
        expectClose(try runNode("AveragePool", opset: 19, inputs: [x], attributes: attributes)[0], expected)
    }

    @Test func threeDimensional() throws {
        let x = sampleTensor([1, 2, 5, 4, 6], seed: 24)
        let attributes: [String: Attribute] = ["kernel_shape": ints(2, 3, 2), "strides": ints(2, 1, 2), "pads": ints(0, 1, 1, 1, 1, 0)]
        // (5+1−2)/2+1 = 3, (4+2−3)+1 = 4, (6+1−2)/2+1 = 3
        let output = [3, 4, 3]
        expectClose(try runNode("MaxPool", inputs: [x], attributes: attributes)[0],
                    referencePool(x, max: true, kernel: [2, 3, 2], strides: [2, 1, 2], dilations: [1, 1, 1], padBegin: [0, 1, 1], padEnd: [1, 1, 0], output: output))
        expectClose(try runNode("AveragePool", inputs: [x], attributes: attributes)[0],
                    referencePool(x, max: false, kernel: [2, 3, 2], strides: [2, 1, 2], dilations: [1, 1, 1], padBegin: [0, 1, 1], padEnd: [1, 1, 0], output: output))
    }

    @Test func autoPadByHand() throws {
        let x = floatTensor([1, 1, 4], [1, 2, 3, 4])
        func average(_ mode: String) throws -> Tensor {
            try runNode("AveragePool", inputs: [x], attributes: ["kernel_shape": ints(2), "auto_pad": .string(mode)])[0]
        }
        expectClose(try average("SAME_UPPER"), floatTensor([1, 1, 4], [1.5, 2.5, 3.5, 4]))
        expectClose(try average("SAME_LOWER"), floatTensor([1, 1, 4], [1, 1.5, 2.5, 3.5]))
        expectClose(try average("VALID"), floatTensor([1, 1, 3], [1.5, 2.5, 3.5]))
        // Stride 2 SAME: ceil(4/2) = 2 outputs, no padding needed.
        let strided = try runNode("MaxPool", inputs: [x], attributes: ["kernel_shape": ints(2), "strides": ints(2), "auto_pad": .string("SAME_UPPER")])[0]
        expectClose(strided, floatTensor([1, 1, 2], [2, 4]))
    }

    @Test func globalPooling() throws {
        let x = floatTensor([1, 2, 2, 2], [1, 2, 3, 6, -1, -5, -3, -7])
        expectClose(try runNode("GlobalAveragePool", inputs: [x])[0], floatTensor([1, 2, 1, 1], [3, -4]))
        expectClose(try runNode("GlobalMaxPool", inputs: [x])[0], floatTensor([1, 2, 1, 1], [6, -1]))
        let d = try runNode("GlobalAveragePool", inputs: [Conversion.cast(x, to: .double)])[0]
        #expect(try d.scalars(as: Double.self) == [3, -4])
    }

    /// GlobalMaxPool / GlobalAveragePool of floats at every SIMD level, over plane sizes around the
    /// vector widths, with a NaN in one plane.
    @Test(arguments: [CK_LEVEL_PORTABLE, CK_LEVEL_AVX2, CK_LEVEL_AVX512])
    func globalPoolingMatchesTheReference(level: Int) throws {
        ck_set_cpu_level(Int32(level))
        defer { ck_set_cpu_level(Int32(CK_LEVEL_AVX512)) }
        let planes = 4
        for size in [1, 7, 8, 15, 16, 33, 49, 169] {
            var values = sampleValues(planes * size, seed: UInt64(size))
            values[size + size / 2] = .nan
            let x = floatTensor([2, 2, size, 1], values)
            let chunks = (0..<planes).map { Array(values[($0 * size)..<(($0 + 1) * size)]) }
            let maxima = chunks.map { $0.contains(where: \.isNaN) ? Float.nan : $0.max()! }
            let means = chunks.map { $0.reduce(0, +) / Float(size) }
            expectClose(try runNode("GlobalMaxPool", inputs: [x])[0], floatTensor([2, 2, 1, 1], maxima), rtol: 0, atol: 0)
            expectClose(try runNode("GlobalAveragePool", inputs: [x])[0], floatTensor([2, 2, 1, 1], means))
        }
    }

    @Test func integerMaxPool() throws {
        let x = try Tensor(shape: [1, 1, 4], scalars: [Int8(-5), 3, -7, -1])
        let y = try runNode("MaxPool", opset: 12, inputs: [x], attributes: ["kernel_shape": ints(2), "strides": ints(2)])[0]
        #expect(try y.scalars(as: Int8.self) == [3, -1])
    }

    @Test func badAttributesNameTheNode() throws {
        let x = sampleTensor([1, 1, 4, 4], seed: 25)
        let missing = #expect(throws: ONNXRunError.self) { try runNode("MaxPool", inputs: [x]) }
        #expect(missing?.code == .invalidAttribute)
        #expect(missing?.description.contains("MaxPool node \"node\"") == true)
        let mismatched = #expect(throws: ONNXRunError.self) {
            try runNode("AveragePool", inputs: [x], attributes: ["kernel_shape": ints(2, 2), "strides": ints(1, 1, 1)])
        }
        #expect(mismatched?.code == .invalidAttribute)
        let rank = #expect(throws: ONNXRunError.self) {
            try runNode("AveragePool", inputs: [x], attributes: ["kernel_shape": ints(2)])
        }
        #expect(rank?.code == .shapeMismatch)
    }
}
