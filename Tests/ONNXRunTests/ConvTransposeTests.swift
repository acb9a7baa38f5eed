import Testing
@testable import ONNXRun

@Suite struct ConvTransposeTests {
    /// 1-D, stride 2: each input value spreads the kernel [1, 2, 3] starting at 2·i.
    @Test func strideSpreadsTheKernel() throws {
        let x = floatTensor([1, 1, 2], [1, 10])
        let w = floatTensor([1, 1, 3], [1, 2, 3])
        let y = try runNode("ConvTranspose", inputs: [x, w], attributes: ["strides": .ints([2])])[0]
        #expect(y.shape == [1, 1, 5])
        #expect(try y.scalars(as: Float.self) == [1, 2, 13, 20, 30])
    }

    @Test func outputShapeLargerThanNaturalPadsAtTheEnd() throws {
        let x = floatTensor([1, 1, 2], [1, 10])
        let w = floatTensor([1, 1, 3], [1, 2, 3])
        let y = try runNode("ConvTranspose", inputs: [x, w, floatTensor([1], [0.5])], attributes: ["strides": .ints([2]), "output_shape": .ints([6])])[0]
        #expect(try y.scalars(as: Float.self) == [1.5, 2.5, 13.5, 20.5, 30.5, 0.5])
    }
}
