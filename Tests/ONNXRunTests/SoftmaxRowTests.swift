import Foundation
import Testing
import CKernels
@testable import ONNXRun

/// The attention softmax row kernel (scale, additive or keep/fill mask, softmax) against a direct
/// Double computation, at the portable and the AVX-512 level, for row lengths around the vector width.
@Suite struct SoftmaxRowTests {
    static func reference(_ x: [Float], scaleMode: Int32, scale: Float, addend: [Float]?, keep: [Bool]?, fill: Float) -> [Float] {
        let prepared: [Double] = x.indices.map { j in
            var v = x[j]
            if scaleMode == 1 { v *= scale } else if scaleMode == 2 { v /= scale }
            if let addend { v += addend[j] }
            if let keep, !keep[j] { v = fill }
            return Double(v)
        }
        let top = prepared.max()!
        let e = prepared.map { Foundation.exp($0 - top) }
        let sum = e.reduce(0, +)
        return e.map { Float($0 / sum) }
    }

    @Test(arguments: [CK_LEVEL_PORTABLE, CK_LEVEL_AVX512])
    func matchesTheDefinition(level: Int) throws {
        ck_set_cpu_level(Int32(level))
        defer { ck_set_cpu_level(Int32(CK_LEVEL_AVX512)) }
        for n in [1, 5, 16, 17, 40, 128] {
            let x = (0..<n).map { Float(($0 * 37) % 23) / 3 - 3 }
            let addend = (0..<(2 * n)).map { Float(($0 * 11) % 7) - 3 }
            let keep = (0..<(2 * n)).map { $0 % 3 != 1 }
            // (scale mode, scale, addend step (0 = none), keep step (0 = none))
            for (mode, scale, addendStep, keepStep) in [(0, Float(1), 0, 0), (2, 8, 1, 0), (1, 0.125, 2, 0), (2, 8, 0, 1), (1, 0.5, 0, 2)] {
                var row = x
                let addends: [Float]? = addendStep == 0 ? nil : (0..<n).map { addend[$0 * addendStep] }
                let keeps: [Bool]? = keepStep == 0 ? nil : (0..<n).map { keep[$0 * keepStep] }
                let expected = Self.reference(x, scaleMode: Int32(mode), scale: scale, addend: addends, keep: keeps, fill: -1e4)
                addend.withUnsafeBufferPointer { a in
                    keep.withUnsafeBufferPointer { k in
                        var prepare = ck_softmax_row(
                            scale_mode: Int32(mode), scale: scale, addend: addendStep == 0 ? nil : a.baseAddress,
                            addend_step: addendStep, keep: keepStep == 0 ? nil : k.baseAddress, keep_step: keepStep, fill: -1e4)
                        row.withUnsafeMutableBufferPointer { ck_softmax_row_f32($0.baseAddress, n, &prepare) }
                    }
                }
                for (a, e) in zip(row, expected) { #expect(abs(a - e) <= 1e-6 + 1e-5 * abs(e), "n \(n) mode \(mode)") }
            }
            // A NaN score makes the row NaN.
            var row = x
            row[n / 2] = .nan
            var plain = ck_softmax_row(scale_mode: 0, scale: 1, addend: nil, addend_step: 0, keep: nil, keep_step: 0, fill: 0)
            row.withUnsafeMutableBufferPointer { ck_softmax_row_f32($0.baseAddress, n, &plain) }
            #expect(row.allSatisfy { $0.isNaN })
        }
    }
}
