import CKernels
import Testing
@testable import ONNXRun

/// The Winograd F(4×4, 3×3) path against a direct convolution, at every SIMD level.
@Suite struct WinogradTests {
    /// One convolution: batch, channels, output channels, input size and pads (top, left, bottom, right).
    struct Case: CustomStringConvertible {
        var batch: Int, channels: Int, outChannels: Int, height: Int, width: Int
        var pads: [Int]
        var outHeight: Int { height + pads[0] + pads[2] - 2 }
        var outWidth: Int { width + pads[1] + pads[3] - 2 }
        var description: String { "N\(batch) C\(channels) K\(outChannels) \(height)×\(width) pads \(pads)" }
    }

    static let cases = [
        Case(batch: 1, channels: 16, outChannels: 16, height: 16, width: 16, pads: [1, 1, 1, 1]),
        Case(batch: 2, channels: 17, outChannels: 19, height: 15, width: 13, pads: [1, 1, 1, 1]),
        Case(batch: 1, channels: 16, outChannels: 24, height: 18, width: 21, pads: [0, 0, 0, 0]),
        Case(batch: 1, channels: 20, outChannels: 16, height: 13, width: 14, pads: [2, 2, 2, 2]),
        Case(batch: 2, channels: 16, outChannels: 33, height: 17, width: 16, pads: [0, 1, 2, 1]),
        // 18 tiles per row: a full 16-tile group and a partial one.
        Case(batch: 1, channels: 16, outChannels: 16, height: 6, width: 70, pads: [1, 1, 1, 1]),
        Case(batch: 1, channels: 24, outChannels: 40, height: 35, width: 37, pads: [1, 0, 0, 2]),
    ]

    /// The SIMD levels this CPU has.
    static let levels = [CK_LEVEL_PORTABLE, CK_LEVEL_AVX2, CK_LEVEL_AVX512].map(Int32.init).filter { $0 <= ck_cpu_level() }

    /// Y = W * X + bias by definition, accumulated in double.
    func directConvolution(_ c: Case, x: [Float], w: [Float], bias: [Float]?) -> [Float] {
        var y = [Float](repeating: 0, count: c.batch * c.outChannels * c.outHeight * c.outWidth)
        for n in 0..<c.batch {
            for k in 0..<c.outChannels {
                for oy in 0..<c.outHeight {
                    for ox in 0..<c.outWidth {
                        var sum = Double(bias?[k] ?? 0)
                        for ch in 0..<c.channels {
                            for ky in 0..<3 {
                                let iy = oy + ky - c.pads[0]
                                guard iy >= 0 && iy < c.height else { continue }
                                for kx in 0..<3 {
                                    let ix = ox + kx - c.pads[1]
                                    guard ix >= 0 && ix < c.width else { continue }
                                    sum += Double(x[((n * c.channels + ch) * c.height + iy) * c.width + ix])
                                        * Double(w[((k * c.channels + ch) * 3 + ky) * 3 + kx])
                                }
                            }
                        }
                        y[((n * c.outChannels + k) * c.outHeight + oy) * c.outWidth + ox] = Float(sum)
                    }
                }
            }
        }
        return y
    }

    /// Runs the Winograd path on `c` with transforms at SIMD level `level`.
    func winograd(_ c: Case, x: [Float], w: [Float], bias: [Float]?, activation: FusedActivation?, threads: Int, level: Int32 = ck_cpu_level()) throws -> [Float] {
        let weights = floatTensor([c.outChannels, c.channels, 3, 3], w)
        let plan = try #require(WinogradConvolution(weights: weights, strides: nil, dilations: [1, 1], group: 1))
        let geometry = WindowGeometry.Resolved(
            kernel: [3, 3], strides: [1, 1], dilations: [1, 1], padBegin: [c.pads[0], c.pads[1]],
            padEnd: [c.pads[2], c.pads[3]], output: [c.outHeight, c.outWidth])
        var y = [Float](repeating: .nan, count: c.batch * c.outChannels * c.outHeight * c.outWidth)
        let ran = x.withUnsafeBufferPointer { input in
            y.withUnsafeMutableBufferPointer { output in
                plan.run(input.baseAddress!, batch: c.batch, height: c.height, width: c.width, geometry,
                         bias: bias, activation: activation, into: output.baseAddress!, threads: threads, simdLevel: level)
            }
        }
        #expect(ran, "\(c) took the fallback")
        return y
    }

    /// Expects |actual − expected| ≤ 1e-4·max|expected| + 1e-5 everywhere.
    func expectMatch(_ actual: [Float], _ expected: [Float], _ label: String) {
        let scale = expected.reduce(Float(0)) { max($0, abs($1)) }
        let tolerance = 1e-4 * scale + 1e-5
        let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= tolerance, "\(label): worst difference \(worst), tolerance \(tolerance)")
        #expect(!actual.contains { $0.isNaN }, "\(label): unwritten outputs")
    }

    @Test(arguments: cases) func matchesDirectConvolution(_ c: Case) throws {
        let x = sampleValues(c.batch * c.channels * c.height * c.width, seed: 1)
        let w = sampleValues(c.outChannels * c.channels * 9, seed: 2)
        let expected = directConvolution(c, x: x, w: w, bias: nil)
        for level in Self.levels {
            for threads in [1, 2] {
                expectMatch(try winograd(c, x: x, w: w, bias: nil, activation: nil, threads: threads, level: level), expected, "\(c) level \(level) threads \(threads)")
            }
        }
    }

    @Test(arguments: [(FusedActivation?.none, 0), (.relu, 1), (.leakyRelu(alpha: 0.1), 4), (.sigmoid, 5)])
    func addsBiasAndAppliesTheActivation(_ activation: FusedActivation?, caseIndex: Int) throws {
        let c = Self.cases[caseIndex]
        let x = sampleValues(c.batch * c.channels * c.height * c.width, seed: 3)
        let w = sampleValues(c.outChannels * c.channels * 9, seed: 4)
        let bias = sampleValues(c.outChannels, seed: 5)
        var expected = directConvolution(c, x: x, w: w, bias: bias)
        if let activation { expected.withUnsafeMutableBufferPointer { activation.apply($0.baseAddress!, count: $0.count) } }
        for level in Self.levels {
            expectMatch(try winograd(c, x: x, w: w, bias: bias, activation: activation, threads: 2, level: level), expected, "\(c) \(String(describing: activation)) level \(level)")
        }
    }

    @Test(arguments: [Case(batch: 1, channels: 16, outChannels: 16, height: 16, width: 16, pads: [1, 1, 1, 1]),
                      Case(batch: 1, channels: 64, outChannels: 64, height: 56, width: 56, pads: [1, 1, 1, 1]),
                      Case(batch: 1, channels: 128, outChannels: 128, height: 28, width: 28, pads: [1, 1, 1, 1]),
                      Case(batch: 1, channels: 256, outChannels: 256, height: 14, width: 14, pads: [1, 1, 1, 1])])
    func outputChannelsWithEqualWeightsStayEqual(_ c: Case) throws {
        // Every output channel has the same weights: the channels must come out bitwise equal.
        let x = sampleValues(c.batch * c.channels * c.height * c.width, seed: 6)
        let kernel = sampleValues(c.channels * 9, seed: 7)
        let w = (0..<c.outChannels).flatMap { _ in kernel }
        let y = try winograd(c, x: x, w: w, bias: nil, activation: nil, threads: 2)
        let plane = c.outHeight * c.outWidth
        for k in 1..<c.outChannels {
            #expect(Array(y[k * plane..<(k + 1) * plane]) == Array(y[0..<plane]), "channel \(k) differs from channel 0")
        }
    }

    @Test func smallOrUnsuitableConvolutionsAreDeclined() throws {
        let w = floatTensor([16, 16, 3, 3], sampleValues(16 * 16 * 9, seed: 8))
        #expect(WinogradConvolution(weights: w, strides: [2, 2], dilations: nil, group: 1) == nil)
        #expect(WinogradConvolution(weights: w, strides: nil, dilations: [2, 2], group: 1) == nil)
        #expect(WinogradConvolution(weights: floatTensor([8, 16, 3, 3], sampleValues(8 * 16 * 9, seed: 9)), strides: nil, dilations: nil, group: 1) == nil)
        // Four tiles per image: too few, the caller falls back to im2col.
        let plan = try #require(WinogradConvolution(weights: w, strides: nil, dilations: nil, group: 1))
        let geometry = WindowGeometry.Resolved(kernel: [3, 3], strides: [1, 1], dilations: [1, 1], padBegin: [1, 1], padEnd: [1, 1], output: [8, 8])
        let x = [Float](repeating: 1, count: 16 * 64)
        var y = [Float](repeating: 0, count: 16 * 64)
        let ran = y.withUnsafeMutableBufferPointer { output in
            plan.run(x, batch: 1, height: 8, width: 8, geometry, bias: nil, activation: nil, into: output.baseAddress!, threads: 1)
        }
        #expect(!ran)
    }

    /// A session plans Winograd weights only for maps with enough tiles, when the shapes are known
    /// at plan time, and always when they are not; the outputs are those of the graph as loaded.
    @Test(arguments: [(Dimension.known(8), false), (.known(13), true), (.known(16), true), (.symbolic("h"), true)])
    func sessionsTransformWeightsOnlyForMapsThatUseThem(height: Dimension, expectWinograd: Bool) throws {
        let w = floatTensor([16, 16, 3, 3], sampleValues(16 * 16 * 9, seed: 11))
        let graph = Graph(
            name: "g",
            nodes: [Node(name: "conv", opType: "Conv", inputs: ["x", "w"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1])]),
                    Node(name: "relu", opType: "Relu", inputs: ["c"], outputs: ["y"])],
            inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [.known(1), .known(16), height, .known(16)]))],
            outputs: [ValueInfo(name: "y", type: nil)], initializers: ["w": w])
        let model = Model(irVersion: 8, opsetImports: ["": 17], graph: graph)
        let session = try InferenceSession(model: model, options: .init(threads: 1))
        let convolutions = session.plan.steps.compactMap { $0.kernel as? ConvKernel }
        #expect(convolutions.count == 1)
        #expect((convolutions.first?.winograd != nil) == expectWinograd)

        let rows = height.value ?? 16
        let x = floatTensor([1, 16, rows, 16], sampleValues(16 * rows * 16, seed: 12))
        let loaded = try InferenceSession(model: model, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
        expectClose(try session.run(["x": x])["y"]!, loaded, rtol: 1e-4, atol: 1e-4)
    }
}
