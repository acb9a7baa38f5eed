import Testing
import CKernels
@testable import ONNXRun

@Suite struct TransposeTests {
    /// output[i0, i1, ...] = input[j] with j[perm[k]] = i[k].
    static func reference(_ values: [Int64], shape: [Int], perm: [Int]) -> (shape: [Int], values: [Int64]) {
        let outShape = perm.map { shape[$0] }
        let n = values.count
        var out = [Int64](repeating: -1, count: n)
        for flat in 0..<n {
            let o = multiIndex(flat, outShape)
            var i = [Int](repeating: 0, count: shape.count)
            for k in perm.indices { i[perm[k]] = o[k] }
            out[flat] = values[flatIndex(i, shape)]
        }
        return (outShape, out)
    }

    @Test(arguments: [
        ([2, 3], [1, 0]),
        ([37, 45], [1, 0]),  // crosses 32-element tiles
        ([2, 3, 4], [2, 0, 1]),
        ([2, 3, 4], [1, 0, 2]),
        ([2, 3, 4], [0, 2, 1]),
        ([2, 3, 4, 5], [0, 2, 3, 1]),  // NCHW -> NHWC
        ([2, 3, 4, 5], [3, 1, 2, 0]),
        ([2, 1, 3, 4], [3, 0, 1, 2]),  // size-1 axis between merged axes
        ([3, 1, 2], [1, 2, 0]),
        ([2, 3, 0], [2, 1, 0]),
        ([5], [0]),
    ])
    func matchesReference(shape: [Int], perm: [Int]) throws {
        let x = int64Iota(shape, from: 100)
        let expected = Self.reference(int64Values(x), shape: shape, perm: perm)
        let y = try runNode("Transpose", inputs: [x], attributes: ["perm": .ints(perm)])[0]
        #expect(y.shape == expected.shape)
        #expect(int64Values(y) == expected.values)
    }

    /// 32-bit elements go through the register-blocked kernel (8 × 8 blocks, 64 × 64 tiles,
    /// ragged edges); batched matrix transposes (YOLO's channel-last move) on one and two threads;
    /// every SIMD level.
    @Test(arguments: [CK_LEVEL_PORTABLE, CK_LEVEL_AVX2])
    func floatMatricesAndBatchesMatchTheReference(level: Int) throws {
        ck_set_cpu_level(Int32(level))
        defer { ck_set_cpu_level(Int32(CK_LEVEL_AVX512)) }
        let cases: [([Int], [Int])] = [
            ([8, 8], [1, 0]), ([67, 130], [1, 0]), ([3, 85, 9, 10], [0, 2, 3, 1]), ([1, 3, 85, 10, 10], [0, 1, 3, 4, 2]),
            ([2, 3, 19, 37], [0, 1, 3, 2]), ([5, 7, 2], [2, 0, 1]),
        ]
        for (shape, perm) in cases {
            let count = shape.reduce(1, *)
            let values = (0..<count).map { Float($0) }
            let expected = Self.reference(values.map { Int64($0) }, shape: shape, perm: perm)
            for threads in [1, 2] {
                let y = try runNode("Transpose", inputs: [floatTensor(shape, values)], attributes: ["perm": .ints(perm)], threads: threads)[0]
                #expect(y.shape == expected.shape)
                #expect(try y.scalars(as: Float.self).map { Int64($0) } == expected.values, "\(shape) \(perm)")
            }
        }
    }

    /// Permutations that keep the last axis (ShuffleNet's channel shuffle) copy rows; large ones
    /// split them across threads, each chunk starting from its own first row's source index.
    @Test(arguments: [([1, 4, 29, 28, 28], [0, 2, 1, 3, 4]), ([3, 50, 7, 40], [2, 0, 1, 3]), ([6, 5, 4, 3, 100], [3, 1, 0, 2, 4])])
    func rowCopiesSplitAcrossThreadsMatchTheReference(shape: [Int], perm: [Int]) throws {
        let count = shape.reduce(1, *)
        #expect(count >= 2 * Parallel.minimumChunkCost)
        let values = (0..<count).map { Float($0) }
        let expected = Self.reference(values.map { Int64($0) }, shape: shape, perm: perm)
        for threads in [1, 2, 3] {
            let y = try runNode("Transpose", inputs: [floatTensor(shape, values)], attributes: ["perm": .ints(perm)], threads: threads)[0]
            #expect(y.shape == expected.shape)
            #expect(try y.scalars(as: Float.self).map { Int64($0) } == expected.values, "\(shape) \(perm) threads \(threads)")
        }
    }

    @Test(arguments: [DataType.uint8, .float16, .float, .double, .bool, .int32])
    func everyElementWidth(type: DataType) throws {
        let values = (0..<24).map { type == .bool ? Float($0 % 3 == 0 ? 1 : 0) : Float($0 % 7) }
        let input = try Conversion.cast(floatTensor([2, 3, 4], values), to: type)
        let y = try runNode("Transpose", inputs: [input], attributes: ["perm": .ints([1, 2, 0])])[0]
        #expect(y.dataType == type)
        let expected = Self.reference(values.map { Int64($0) }, shape: [2, 3, 4], perm: [1, 2, 0])
        #expect(try Conversion.floats(y).map { Int64($0) } == expected.values)
    }

    @Test func defaultPermReversesAxes() throws {
        let y = try runNode("Transpose", opset: 1, inputs: [int64Iota([2, 3, 4])])[0]
        let expected = Self.reference(int64Values(int64Iota([2, 3, 4])), shape: [2, 3, 4], perm: [2, 1, 0])
        #expect(y.shape == [4, 3, 2])
        #expect(int64Values(y) == expected.values)
    }

    @Test func identityPermIsAView() throws {
        let x = floatIota([2, 1, 3])
        let y = try runNode("Transpose", inputs: [x], attributes: ["perm": .ints([1, 0, 2])])[0]
        #expect(y.shape == [1, 2, 3])
        #expect(y.storage === x.storage)
        #expect(try y.scalars(as: Float.self) == [0, 1, 2, 3, 4, 5])
    }

    @Test func strings() throws {
        let x = stringTensor([2, 3], ["a", "b", "c", "d", "e", "f"])
        let y = try runNode("Transpose", inputs: [x])[0]
        #expect(y.dataType == .string && y.shape == [3, 2])
        #expect(y.strings == ["a", "d", "b", "e", "c", "f"])
    }

    @Test func complex128Elements() throws {
        // 16-byte elements: build bytes so each element's two halves are distinct.
        var raw: [UInt64] = []
        for i in 0..<6 { raw += [UInt64(i), UInt64(100 + i)] }
        let x = try raw.withUnsafeBytes { try Tensor(dataType: .complex128, shape: [2, 3], bytes: $0) }
        let y = try runNode("Transpose", inputs: [x])[0]
        let out = y.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
        #expect(out == [0, 100, 3, 103, 1, 101, 4, 104, 2, 102, 5, 105])
    }

    @Test func badPerm() throws {
        expectError(.invalidAttribute) { _ = try runNode("Transpose", inputs: [floatIota([2, 3])], attributes: ["perm": .ints([0, 0])]) }
        expectError(.invalidAttribute) { _ = try runNode("Transpose", inputs: [floatIota([2, 3])], attributes: ["perm": .ints([1, 0, 2])]) }
    }
}
