import Foundation
import Testing
@testable import ONNXRun

@Suite struct GatedActivationsTests {
    private func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    @Test func swish() throws {
        let x: [Float] = [-2, 0, 1.5]
        let y = try runNode("Swish", opset: 24, inputs: [floatTensor([3], x)], attributes: ["alpha": .float(0.5)])[0]
        expectClose(y, floatTensor([3], x.map { $0 * sigmoid(0.5 * $0) }))
    }

    @Test func swiGLU() throws {
        let a: [Float] = [-1, 0.5, 2, 3], b: [Float] = [2, -1, 0.5, 1]
        let y = try runNode("SwiGLU", opset: 28, inputs: [floatTensor([2, 2], a), floatTensor([2, 2], b)])[0]
        expectClose(y, floatTensor([2, 2], (0..<4).map { a[$0] * sigmoid(a[$0]) * b[$0] }))
        // Float16 stays float16, within its precision.
        let h = try runNode("SwiGLU", opset: 28, inputs: [Conversion.cast(floatTensor([2, 2], a), to: .float16), Conversion.cast(floatTensor([2, 2], b), to: .float16)])[0]
        #expect(h.dataType == .float16)
        expectClose(try Conversion.cast(h, to: .float), floatTensor([2, 2], (0..<4).map { a[$0] * sigmoid(a[$0]) * b[$0] }), rtol: 4e-3)
        // Shapes must match exactly.
        #expect(throws: ONNXRunError.self) {
            try runNode("SwiGLU", opset: 28, inputs: [floatTensor([2, 2], a), floatTensor([2], [1, 2])])
        }
    }
}
