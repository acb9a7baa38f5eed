import Foundation
import Testing
@testable import ONNXRun

@Suite struct PowTests {
    /// Squares take the x·x path; it must equal the general path's Float(pow(Double(x), 2)) exactly,
    /// for negatives, zeros, NaN, infinities and values whose square overflows or underflows.
    @Test(arguments: [[Int](), [1], [1, 1, 1]])
    func squaresEqualTheGeneralPow(exponentShape: [Int]) throws {
        let values: [Float] = [-3.5, -0.0, 0, 1e-30, 3e19, -3e19, .nan, .infinity, -.infinity, 1.1, 2.5e-23, -7]
        let x = floatTensor([3, 4], values)
        let exponent = floatTensor(exponentShape, [2])
        let y = try runNode("Pow", inputs: [x, exponent])[0]
        #expect(y.shape == (exponentShape.count > 2 ? [1, 3, 4] : [3, 4]))
        let expected = values.map { Float(Foundation.pow(Double($0), 2)) }
        let actual = try y.scalars(as: Float.self)
        for (a, e) in zip(actual, expected) { #expect(a.bitPattern == e.bitPattern || (a.isNaN && e.isNaN)) }
        // Other exponents take the general path.
        let cube = try runNode("Pow", inputs: [x, floatTensor([], [3])])[0]
        let cubes = values.map { Float(Foundation.pow(Double($0), 3)) }
        for (a, e) in zip(try cube.scalars(as: Float.self), cubes) { #expect(a.bitPattern == e.bitPattern || (a.isNaN && e.isNaN)) }
    }
}
