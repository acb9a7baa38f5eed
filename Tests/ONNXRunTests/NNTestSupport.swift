@testable import ONNXRun

/// Deterministic pseudo-random floats in [-1, 1) from a linear congruential generator.
func sampleValues(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float((state >> 40) & 0xFFFF) / 32768 - 1
    }
}

/// A float tensor of `shape` filled with `sampleValues`.
func sampleTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    floatTensor(shape, sampleValues(shape.reduce(1, *), seed: seed))
}

/// Row-major strides of `shape`.
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var step = 1
    for i in shape.indices.reversed() {
        strides[i] = step
        step *= shape[i]
    }
    return strides
}

/// Every multi-index of `shape`, in row-major order.
func allIndices(_ shape: [Int]) -> [[Int]] {
    var result: [[Int]] = [[]]
    for size in shape {
        result = result.flatMap { prefix in (0..<size).map { prefix + [$0] } }
    }
    return result
}

/// `.ints` attribute shorthand.
func ints(_ values: Int...) -> Attribute { .ints(values) }
