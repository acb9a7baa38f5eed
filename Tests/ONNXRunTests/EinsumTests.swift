import Foundation
import Testing
@testable import ONNXRun

@Suite struct EinsumTests {
    /// Naive einsum over letter-only explicit equations: loops over every assignment of every label.
    /// Size-1 operand dimensions broadcast (read index 0).
    private func naive(_ equation: String, _ operands: [Tensor]) throws -> Tensor {
        let sides = equation.components(separatedBy: "->")
        let terms = sides[0].split(separator: ",").map { Array($0) }
        let output = Array(sides[1])
        var sizes: [Character: Int] = [:]
        for (term, t) in zip(terms, operands) {
            for (label, size) in zip(term, t.shape) where size != 1 || sizes[label] == nil { sizes[label] = size }
        }
        let labels = Array(sizes.keys)
        let values = try operands.map { try Conversion.floats($0) }
        let outShape = output.map { sizes[$0]! }
        var result = [Float](repeating: 0, count: outShape.reduce(1, *))
        for assignment in allIndices(labels.map { sizes[$0]! }) {
            var index: [Character: Int] = [:]
            for (label, i) in zip(labels, assignment) { index[label] = i }
            var product: Float = 1
            for (k, term) in terms.enumerated() {
                let strides = rowMajorStrides(operands[k].shape)
                var offset = 0
                for (d, label) in term.enumerated() where operands[k].shape[d] != 1 { offset += index[label]! * strides[d] }
                product *= values[k][offset]
            }
            let outStrides = rowMajorStrides(outShape)
            var offset = 0
            for (d, label) in output.enumerated() { offset += index[label]! * outStrides[d] }
            result[offset] += product
        }
        return floatTensor(outShape, result)
    }

    private func einsum(_ equation: String, _ operands: [Tensor], opset: Int = 12) throws -> Tensor {
        try runNode("Einsum", opset: opset, inputs: operands, attributes: ["equation": .string(equation)])[0]
    }

    @Test func explicitEquationsMatchNaiveLoops() throws {
        let a = sampleTensor([3, 4], seed: 1), b = sampleTensor([4, 5], seed: 2), c = sampleTensor([5, 2], seed: 3)
        let square = sampleTensor([3, 3], seed: 4), cube = sampleTensor([2, 2, 3], seed: 5)
        let cases: [(String, [Tensor])] = [
            ("ij,jk->ik", [a, b]),
            ("ij,jk->ki", [a, b]),
            ("ij->ji", [a]),
            ("ij->j", [a]),
            ("ij->", [a]),
            ("ii->i", [square]),
            ("ii->", [square]),
            ("iij->j", [cube]),
            ("ij,jk,kl->il", [a, b, c]),
            ("ij,kl->ijkl", [a, c]),
            ("ij,ij->i", [a, sampleTensor([3, 4], seed: 6)]),
            ("bij,bjk->bik", [sampleTensor([2, 3, 4], seed: 7), sampleTensor([2, 4, 2], seed: 8)]),
            ("bij,jk->bk", [sampleTensor([2, 3, 4], seed: 9), b]),
        ]
        for (equation, operands) in cases {
            expectClose(try einsum(equation, operands), try naive(equation, operands))
        }
    }

    @Test func implicitOutputAndSpaces() throws {
        let a = sampleTensor([3, 4], seed: 11), b = sampleTensor([4, 2], seed: 12)
        // Implicit output: labels used once, sorted: "ij,jk" → "ik"; "ba" → "ab" (a transpose).
        expectClose(try einsum("ij, jk", [a, b]), try naive("ij,jk->ik", [a, b]))
        expectClose(try einsum("ba", [a]), try naive("ba->ab", [a]))
        // "ii" alone is a trace.
        let square = sampleTensor([3, 3], seed: 13)
        expectClose(try einsum("ii", [square]), try naive("ii->", [square]))
    }

    @Test func ellipsisBroadcasts() throws {
        // Leading dims 1 and 3 broadcast; the output keeps them first.
        let a = sampleTensor([1, 2, 3], seed: 21), b = sampleTensor([3, 3, 4], seed: 22)
        expectClose(try einsum("...ij,...jk->...ik", [a, b]), try naive("zij,zjk->zik", [a, b]))
        expectClose(try einsum("...ij,...jk", [a, b]), try naive("zij,zjk->zik", [a, b]))
        let diagonal = sampleTensor([2, 3, 3], seed: 23)
        expectClose(try einsum("...ii->...i", [diagonal], opset: 28), try naive("zii->zi", [diagonal]))
    }

    @Test func integersAndScalars() throws {
        let a = try Tensor(shape: [2, 2], scalars: [Int32(1), 2, 3, 4])
        let y = try einsum("ij,jk->ik", [a, a])
        #expect(try y.scalars(as: Int32.self) == [7, 10, 15, 22])
        let s = try einsum("->", [Tensor(scalar: 2.5 as Double)])
        #expect(try s.scalars(as: Double.self) == [2.5])
    }
}
