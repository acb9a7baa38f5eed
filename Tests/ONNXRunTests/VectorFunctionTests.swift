import Foundation
import Testing
import CKernels
@testable import ONNXRun

/// The C kernels' elementwise functions at every SIMD level, against Double-precision references.
@Suite(.serialized) struct VectorFunctionTests {
    /// Inputs covering the vector body, the tail, large magnitudes and special values.
    private static let inputs: [Float] = {
        var values: [Float] = [0, -0, 1, -1, 1e-6, -1e-6, 0.3, -0.3, 20, -20, 88, -88, 100, -100,
                               .infinity, -.infinity, .nan, .leastNormalMagnitude, 1e30, -1e30]
        return values + sampleValues(1_000, seed: 7).map { $0 * 12 }
    }()

    private static let references: [(ck_activation, Float, Float, @Sendable (Double) -> Double)] = [
        (CK_ACT_RELU, 0, 0, { $0 < 0 ? 0 : $0 }),
        (CK_ACT_LEAKY_RELU, 0.1, 0, { $0 < 0 ? 0.1 * $0 : $0 }),
        (CK_ACT_CLIP, -1, 6, { min(max($0, -1), 6) }),
        (CK_ACT_SIGMOID, 0, 0, { 1 / (1 + exp(-$0)) }),
        (CK_ACT_TANH, 0, 0, { tanh($0) }),
        (CK_ACT_HARD_SIGMOID, 0.2, 0.5, { $0.isNaN ? .nan : max(0, min(1, 0.2 * $0 + 0.5)) }),
        (CK_ACT_GELU, 0, 0, { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }),
        (CK_ACT_GELU_TANH, 0, 0, { 0.5 * $0 * (1 + tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }),
        (CK_ACT_HARD_SWISH, 0, 0, { $0 * max(0, min(1, $0 / 6 + 0.5)) }),
        (CK_ACT_SILU, 0, 0, { $0 / (1 + exp(-$0)) }),
        (CK_ACT_EXP, 0, 0, { exp($0) }),
        (CK_ACT_ERF, 0, 0, { erf($0) }),
    ]

    @Test(arguments: [CK_LEVEL_PORTABLE, CK_LEVEL_AVX2, CK_LEVEL_AVX512])
    func everyFunctionMatchesItsReference(level: Int) {
        let used = ck_set_cpu_level(Int32(level))
        defer { ck_set_cpu_level(Int32(CK_LEVEL_AVX512)) }
        if used != Int32(level) { print("SIMD level \(level) not supported here; tested level \(used)") }
        let x = Self.inputs
        for (kind, a, b, reference) in Self.references {
            var y = [Float](repeating: 0, count: x.count)
            // Every length up to 40 exercises the masked / scalar tails as well.
            for length in [x.count, 1, 7, 15, 17, 33] {
                x.withUnsafeBufferPointer { src in
                    y.withUnsafeMutableBufferPointer { dst in
                        ck_activation_f32(kind, a, b, src.baseAddress, dst.baseAddress, length)
                    }
                }
                for i in 0..<length {
                    let expected = reference(Double(x[i]))
                    let got = Double(y[i])
                    if expected.isNaN {
                        #expect(got.isNaN, "kind \(kind.rawValue) level \(used) x=\(x[i]): got \(got), expected NaN")
                    } else if expected.isInfinite || abs(expected) > Double(Float.greatestFiniteMagnitude) {
                        #expect(got == Double(Float(expected)), "kind \(kind.rawValue) level \(used) x=\(x[i]): got \(got), expected \(expected)")
                    } else {
                        // Relative error of a few ulp, plus the absolute rounding error of the formula's
                        // cancelling steps (1 + erf, a·x + b), which scales with |x|.
                        let tolerance = 1e-5 * abs(expected) + 2e-7 * max(1, abs(Double(x[i])))
                        #expect(abs(got - expected) <= tolerance,
                                "kind \(kind.rawValue) level \(used) x=\(x[i]): got \(got), expected \(expected)")
                    }
                }
            }
        }
    }

    @Test func inPlaceEqualsOutOfPlace() {
        var x = Self.inputs.filter { !$0.isNaN }
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { src in
            y.withUnsafeMutableBufferPointer { ck_activation_f32(CK_ACT_SILU, 0, 0, src.baseAddress, $0.baseAddress, src.count) }
        }
        x.withUnsafeMutableBufferPointer { ck_activation_f32(CK_ACT_SILU, 0, 0, $0.baseAddress, $0.baseAddress, $0.count) }
        #expect(x.map(\.bitPattern) == y.map(\.bitPattern), "in-place and out-of-place SiLU differ")
    }
}
