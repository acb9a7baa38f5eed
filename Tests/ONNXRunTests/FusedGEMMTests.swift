import Foundation
import Testing
import CKernels
@testable import ONNXRun

/// The register-tiled GEMM with fused bias and activation against a Double reference: row counts
/// around the 8-row tile, column counts around the 48-column panel and the 16-column vectors of
/// the last panel (1, 2 or 3 of them), up to 8 columns past the last vector computed as dot
/// products (alone, after a vector, and joining the last whole panel), strided A and C, one and
/// several threads (results must be identical), and activations applied in registers (Relu, Clip,
/// SiLU, Gelu).
@Suite struct FusedGEMMTests {
    @Test(.enabled(if: FusedGEMM.isAvailable, "the kernel needs AVX-512"))
    func matchesTheReferenceForEveryTileEdge() throws {
        for (m, n, k) in [(1, 16, 3), (3, 30, 4), (7, 47, 5), (8, 48, 64), (9, 49, 17), (5, 66, 20), (11, 80, 9), (37, 100, 130), (130, 96, 8),
                          (4, 7, 19), (12, 24, 70), (10, 104, 33), (17, 56, 16)] {
            let lda = k + 3, ldc = n + 5
            let a = (0..<(m * lda)).map { Float(($0 * 13) % 17) / 8 - 1 }
            let b = (0..<(k * n)).map { Float(($0 * 7) % 11) / 5 - 1 }
            let bias = (0..<n).map { Float($0 % 5) / 4 - 0.5 }
            for activation in [nil, FusedActivation.relu, .clip(min: -0.25, max: 0.5), .silu, .gelu] {
                var results: [[Float]] = []
                for threads in [1, 2, 3] {
                    var c = [Float](repeating: .nan, count: m * ldc)
                    a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            c.withUnsafeMutableBufferPointer { pc in
                                FusedGEMM.run(m: m, n: n, k: k, a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: n, bias: bias,
                                              activation: activation, c: pc.baseAddress!, ldc: ldc, threads: threads)
                            }
                        }
                    }
                    results.append(c)
                }
                #expect(results[0].elementsEqual(results[1]) { $0 == $1 || ($0.isNaN && $1.isNaN) })
                #expect(results[0].elementsEqual(results[2]) { $0 == $1 || ($0.isNaN && $1.isNaN) })
                let c = results[0]
                for i in 0..<m {
                    for j in 0..<n {
                        var sum = 0.0
                        for p in 0..<k { sum += Double(a[i * lda + p]) * Double(b[p * n + j]) }
                        var expected = sum + Double(bias[j])
                        switch activation {
                        case .relu?: expected = max(0, expected)
                        case .clip?: expected = min(0.5, max(-0.25, expected))
                        case .silu?: expected = expected / (1 + exp(-expected))
                        case .gelu?: expected = 0.5 * expected * (1 + erf(expected / 2.0.squareRoot()))
                        default: break
                        }
                        #expect(abs(Double(c[i * ldc + j]) - expected) <= 1e-4 + 1e-5 * abs(expected), "m \(m) n \(n) k \(k) at \(i),\(j)")
                    }
                    // Padding between rows is not written.
                    for j in n..<ldc where i < m - 1 { #expect(c[i * ldc + j].isNaN) }
                }
            }
        }
    }

    /// A convolution's epilogue: bias per row (output channel) and a residual laid out like C.
    @Test(.enabled(if: FusedGEMM.isAvailable, "the kernel needs AVX-512"))
    func addsRowBiasAndResidual() throws {
        for (m, n, k) in [(9, 49, 17), (130, 100, 64)] {
            let a = (0..<(m * k)).map { Float(($0 * 13) % 17) / 8 - 1 }
            let b = (0..<(k * n)).map { Float(($0 * 7) % 11) / 5 - 1 }
            let rowBias = (0..<(m + 2)).map { Float($0 % 7) / 3 - 1 }
            let z = (0..<(m * n)).map { Float(($0 * 5) % 9) / 4 - 1 }
            var c = [Float](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    rowBias.withUnsafeBufferPointer { pr in
                        z.withUnsafeBufferPointer { pz in
                            c.withUnsafeMutableBufferPointer { pc in
                                // Row bias from the third entry on, as a group of channels would pass it.
                                FusedGEMM.run(m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n, bias: nil,
                                              rowBias: pr.baseAddress! + 2, addend: pz.baseAddress!, activation: .relu,
                                              c: pc.baseAddress!, ldc: n, threads: 2)
                            }
                        }
                    }
                }
            }
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0
                    for p in 0..<k { sum += Double(a[i * k + p]) * Double(b[p * n + j]) }
                    let expected = max(0, sum + Double(rowBias[i + 2]) + Double(z[i * n + j]))
                    #expect(abs(Double(c[i * n + j]) - expected) <= 1e-4 + 1e-5 * abs(expected), "m \(m) n \(n) at \(i),\(j)")
                }
            }
        }
    }
}
