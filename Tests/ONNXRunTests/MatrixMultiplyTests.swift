import Testing
@testable import ONNXRun

/// C[i, j] = Σ_k A[i, k] · B[k, j] for row-major matrices in flat arrays.
private func referenceProduct(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            for p in 0..<k { c[i * n + j] += a[i * k + p] * b[p * n + j] }
        }
    }
    return c
}

/// The transpose of a row-major rows×cols matrix.
private func transpose(_ a: [Float], rows: Int, cols: Int) -> [Float] {
    var t = [Float](repeating: 0, count: a.count)
    for i in 0..<rows {
        for j in 0..<cols { t[j * rows + i] = a[i * cols + j] }
    }
    return t
}

@Suite struct MatrixMultiplyTests {
    @Test func matMulByHand() throws {
        let a = floatTensor([2, 3], [1, 2, 3, 4, 5, 6])
        let b = floatTensor([3, 2], [7, 8, 9, 10, 11, 12])
        expectClose(try runNode("MatMul", inputs: [a, b])[0], floatTensor([2, 2], [58, 64, 139, 154]))
    }

    @Test func oneDimensionalOperands() throws {
        let m = floatTensor([2, 3], [1, 2, 3, 4, 5, 6])
        let v3 = floatTensor([3], [1, 0, -1])
        let v2 = floatTensor([2], [1, 2])
        // Matrix × vector drops the appended axis; vector × matrix drops the prepended one.
        expectClose(try runNode("MatMul", inputs: [m, v3])[0], floatTensor([2], [-2, -2]))
        expectClose(try runNode("MatMul", inputs: [v2, m])[0], floatTensor([3], [9, 12, 15]))
        // Vector × vector is a scalar.
        expectClose(try runNode("MatMul", inputs: [v3, v3])[0], floatTensor([], [2]))
        // A vector against a batch of matrices.
        let batch = floatTensor([2, 3, 2], [1, 0, 0, 1, 1, 1, 2, 0, 0, 2, 2, 2])
        expectClose(try runNode("MatMul", inputs: [v3, batch])[0], floatTensor([2, 2], [0, -1, 0, -2]))
    }

    @Test func batchedWithBroadcasting() throws {
        // [2, 1, 3, 4] × [3, 4, 5] → [2, 3, 3, 5]: A's batch axis 1 and B's missing axis broadcast.
        let a = sampleTensor([2, 1, 3, 4], seed: 31), b = sampleTensor([3, 4, 5], seed: 32)
        let av = try a.scalars(as: Float.self), bv = try b.scalars(as: Float.self)
        var expected: [Float] = []
        for i in 0..<2 {
            for j in 0..<3 {
                expected += referenceProduct(Array(av[(i * 12)..<(i * 12 + 12)]), Array(bv[(j * 20)..<(j * 20 + 20)]), m: 3, k: 4, n: 5)
            }
        }
        expectClose(try runNode("MatMul", inputs: [a, b])[0], floatTensor([2, 3, 3, 5], expected))
    }

    @Test func stackTimesSharedMatrix() throws {
        // [2, 3, 4, 5] × [5, 6]: every batch shares B (folded into one tall product).
        let a = sampleTensor([2, 3, 4, 5], seed: 33), b = sampleTensor([5, 6], seed: 34)
        let av = try a.scalars(as: Float.self), bv = try b.scalars(as: Float.self)
        let expected = referenceProduct(av, bv, m: 24, k: 5, n: 6)
        expectClose(try runNode("MatMul", inputs: [a, b], constants: [1: b])[0], floatTensor([2, 3, 4, 6], expected))
        // The shared matrix on the left: [4, 5] × [3, 5, 2].
        let c = sampleTensor([3, 5, 2], seed: 35)
        let cv = try c.scalars(as: Float.self)
        let left = Array(av[0..<20])
        var expectedLeft: [Float] = []
        for i in 0..<3 { expectedLeft += referenceProduct(left, Array(cv[(i * 10)..<(i * 10 + 10)]), m: 4, k: 5, n: 2) }
        expectClose(try runNode("MatMul", inputs: [floatTensor([4, 5], left), c])[0], floatTensor([3, 4, 2], expectedLeft))
    }

    @Test func otherElementTypes() throws {
        let a = try Tensor(shape: [2, 2], scalars: [Double(1), 2, 3, 4])
        #expect(try runNode("MatMul", inputs: [a, a])[0].scalars(as: Double.self) == [7, 10, 15, 22])
        let i = try Tensor(shape: [2, 3], scalars: [Int32(1), -2, 3, 4, 5, -6])
        let j = try Tensor(shape: [3, 1], scalars: [Int32(2), 1, 1])
        #expect(try runNode("MatMul", inputs: [i, j])[0].scalars(as: Int32.self) == [3, 7])
        let h = try runNode("MatMul", inputs: [Conversion.cast(floatTensor([1, 2], [0.5, 2]), to: .float16), Conversion.cast(floatTensor([2, 1], [4, 0.25]), to: .float16)])[0]
        #expect(h.dataType == .float16)
        expectClose(try Conversion.cast(h, to: .float), floatTensor([1, 1], [2.5]))
    }

    @Test func emptyInnerDimensionGivesZeros() throws {
        let y = try runNode("MatMul", inputs: [floatTensor([2, 0], []), floatTensor([0, 3], [])])[0]
        expectClose(y, floatTensor([2, 3], [0, 0, 0, 0, 0, 0]))
    }

    @Test func mismatchedInnerDimensions() throws {
        let error = #expect(throws: ONNXRunError.self) {
            try runNode("MatMul", inputs: [floatTensor([2, 3], [1, 2, 3, 4, 5, 6]), floatTensor([2, 2], [1, 2, 3, 4])])
        }
        #expect(error?.code == .shapeMismatch)
        #expect(error?.description.contains("MatMul node \"node\"") == true)
        #expect(throws: ONNXRunError.self) {
            try runNode("MatMul", inputs: [sampleTensor([2, 3, 4], seed: 1), sampleTensor([3, 4, 2], seed: 2)])
        }
    }

    @Test func gemmTransposesAlphaBeta() throws {
        let m = 3, k = 4, n = 5
        let a = sampleValues(m * k, seed: 36), b = sampleValues(k * n, seed: 37), c = sampleValues(m * n, seed: 38)
        let product = referenceProduct(a, b, m: m, k: k, n: n)
        let expected = (0..<(m * n)).map { 0.5 * product[$0] + 2 * c[$0] }
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let aT = ta ? floatTensor([k, m], transpose(a, rows: m, cols: k)) : floatTensor([m, k], a)
            let bT = tb ? floatTensor([n, k], transpose(b, rows: k, cols: n)) : floatTensor([k, n], b)
            let y = try runNode("Gemm", inputs: [aT, bT, floatTensor([m, n], c)], attributes: [
                "transA": .int(ta ? 1 : 0), "transB": .int(tb ? 1 : 0), "alpha": .float(0.5), "beta": .float(2),
            ])[0]
            expectClose(y, floatTensor([m, n], expected))
        }
    }

    @Test func gemmBroadcastsC() throws {
        let a = floatTensor([2, 2], [1, 2, 3, 4]), identity = floatTensor([2, 2], [1, 0, 0, 1])
        expectClose(try runNode("Gemm", inputs: [a, identity, floatTensor([2], [10, 20])])[0], floatTensor([2, 2], [11, 22, 13, 24]))
        expectClose(try runNode("Gemm", inputs: [a, identity, floatTensor([2, 1], [10, 20])])[0], floatTensor([2, 2], [11, 12, 23, 24]))
        expectClose(try runNode("Gemm", inputs: [a, identity, floatTensor([], [1])], attributes: ["beta": .float(3)])[0], floatTensor([2, 2], [4, 5, 6, 7]))
        // Opset 6 with the legacy broadcast flag.
        expectClose(try runNode("Gemm", opset: 6, inputs: [a, identity, floatTensor([2], [10, 20])], attributes: ["broadcast": .int(1)])[0], floatTensor([2, 2], [11, 22, 13, 24]))
        #expect(throws: ONNXRunError.self) {
            try runNode("Gemm", inputs: [a, identity, floatTensor([3], [1, 2, 3])])
        }
    }

    @Test func gemmOptionalC() throws {
        let a = floatTensor([1, 2], [1, 2]), b = floatTensor([2, 1], [3, 4])
        expectClose(try runNode("Gemm", opset: 13, inputs: [a, b])[0], floatTensor([1, 1], [11]))
        // Before opset 11, C is required.
        let error = #expect(throws: ONNXRunError.self) { try runNode("Gemm", opset: 9, inputs: [a, b]) }
        #expect(error?.description.contains("Gemm node \"node\"") == true)
        let d = try runNode("Gemm", inputs: [Conversion.cast(a, to: .double), Conversion.cast(b, to: .double)], attributes: ["alpha": .float(2)])[0]
        #expect(try d.scalars(as: Double.self) == [22])
        let i = try runNode("Gemm", inputs: [Conversion.cast(a, to: .int64), Conversion.cast(b, to: .int64), Tensor(shape: [1], scalars: [Int64(5)])])[0]
        #expect(try i.scalars(as: Int64.self) == [16])
    }
}

/// Matrix-vector products give bitwise the same outputs at any thread count, and equal rows
/// give equal outputs wherever they lie (the light ResNet-50 expects 1,000 exactly equal logits).
@Suite struct MatrixVectorDeterminismTests {
    @Test func outputsDoNotDependOnTheSplit() {
        let k = 2_051, n = 1_000
        let x = sampleValues(k, seed: 11)
        let row = sampleValues(k, seed: 12)
        let rows = (0..<n).flatMap { _ in row }  // B stored n × k (transB), every row the same
        let columns = (0..<k).flatMap { p in [Float](repeating: row[p], count: n) }  // B stored k × n
        for (transB, b) in [(true, rows), (false, columns)] {
            var results: [[Float]] = []
            for threads in [1, 2] {
                var c = [Float](repeating: 0, count: n)
                BLAS.$threads.withValue(threads) {
                    c.withUnsafeMutableBufferPointer { cp in
                        BLAS.sgemm(transB: transB, m: 1, n: n, k: k, alpha: 1, a: x, lda: k, b: b, ldb: transB ? k : n, beta: 0, c: cp.baseAddress!, ldc: n)
                    }
                }
                #expect(Set(c.map(\.bitPattern)).count == 1, "transB \(transB), \(threads) threads: equal rows gave different outputs")
                results.append(c)
            }
            #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern))
        }
    }
}

/// `BLAS.sgemm` against a plain triple loop, including the matrix-vector shapes it hands to sgemv
/// and the blocks it splits across threads, for every transpose combination and padded strides.
@Suite struct BLASProductTests {
    @Test(arguments: [(1, 300, 70), (300, 1, 70), (1, 1, 9), (37, 53, 29), (64, 700, 130)])
    func sgemmMatchesALoop(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        for threads in [1, 2] {
            for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 2, ldc = n + 1
                let a = sampleValues((transA ? k : m) * lda, seed: 1)
                let b = sampleValues((transB ? n : k) * ldb, seed: 2)
                let initial = sampleValues(m * ldc, seed: 3)
                var c = initial
                BLAS.$threads.withValue(threads) {
                    c.withUnsafeMutableBufferPointer { cp in
                        BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda,
                                   b: b, ldb: ldb, beta: 2, c: cp.baseAddress!, ldc: ldc)
                    }
                }
                var worst: Float = 0
                for i in 0..<m {
                    for j in 0..<n {
                        var sum: Float = 0
                        for p in 0..<k {
                            sum += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j])
                        }
                        worst = max(worst, abs(c[i * ldc + j] - (0.5 * sum + 2 * initial[i * ldc + j])))
                    }
                    // Padding columns of C are left alone.
                    #expect(c[i * ldc + n] == initial[i * ldc + n])
                }
                #expect(worst < 1e-4, "m \(m) n \(n) k \(k) transA \(transA) transB \(transB) threads \(threads): error \(worst)")
            }
        }
    }
}

/// A MatMul by a constant B with long rows (a language model's head) becomes a FusedMatMul reading
/// B's packed panels (`PackMatMulWeights`); the products (also for fewer rows than a tile and for
/// a batch of rows) match a Double reference.
@Suite struct PackedMatMulTests {
    @Test(arguments: [[2, 9, 16], [1, 3, 16], [40, 16]])
    func constantLongRowsArePackedAndMatch(xShape: [Int]) throws {
        let (k, n) = (16, 4096 + 37)
        let w = sampleValues(k * n, seed: 21), xCount = xShape.reduce(1, *)
        let x = sampleValues(xCount, seed: 22)
        let graph = Graph(
            name: "g", nodes: [Node(name: "head", opType: "MatMul", inputs: ["x", "w"], outputs: ["y"])],
            inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: xShape.map { .known($0) }))],
            outputs: [ValueInfo(name: "y", type: nil)], initializers: ["w": floatTensor([k, n], w)])
        let session = try InferenceSession(model: Model(irVersion: 8, opsetImports: ["": 17], graph: graph), options: .init(threads: 2))
        let kernels = session.plan.steps.compactMap { $0.kernel as? FusedMatMulKernel }
        #expect(kernels.count == (FusedGEMM.isAvailable ? 1 : 0))
        #expect(kernels.allSatisfy { $0.packedB != nil })
        let y = try #require(session.run(["x": floatTensor(xShape, x)])["y"]).scalars(as: Float.self)
        let rows = xCount / k
        #expect(y.count == rows * n)
        for i in 0..<rows {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k { sum += Double(x[i * k + p]) * Double(w[p * n + j]) }
                #expect(abs(Double(y[i * n + j]) - sum) <= 1e-4 + 1e-5 * abs(sum), "row \(i) column \(j)")
            }
        }
    }
}

/// `PackMatMulWeights`: a FusedMatMul's constant weights are stored as the GEMM's panels in the
/// optimized graph (the original dropped), and results match the graph as loaded on one and two
/// threads, in portable form, and through the kernel's expansion fallback (B fed at run time).
/// 18 rows (two whole tiles and two rows), 100 columns (two panels and 4 columns).
@Suite struct PackedWeightsTests {
    let x = floatTensor([2, 9, 20], sampleValues(360, seed: 33))

    /// x[2, 9, 20] → MatMul W[20, 100] → Add b → Relu (one FusedMatMul with its epilogue), with
    /// `sharedWeight` also read by a second MatMul (of -x, so the two are not merged).
    func model(sharedWeight: Bool = false) -> Model {
        var nodes = [
            Node(name: "mm", opType: "MatMul", inputs: ["x", "w"], outputs: ["p"]),
            Node(name: "add", opType: "Add", inputs: ["p", "b"], outputs: ["a"]),
            Node(name: "relu", opType: "Relu", inputs: ["a"], outputs: ["y"]),
        ]
        if sharedWeight {
            nodes.append(Node(name: "neg", opType: "Neg", inputs: ["x"], outputs: ["nx"]))
            nodes.append(Node(name: "mm2", opType: "MatMul", inputs: ["nx", "w"], outputs: ["z"]))
        }
        let graph = Graph(
            name: "g", nodes: nodes,
            inputs: [ValueInfo(name: "x", type: .tensor(elementType: .float, shape: [2, 9, 20].map { .known($0) }))],
            outputs: [ValueInfo(name: "y", type: nil)] + (sharedWeight ? [ValueInfo(name: "z", type: nil)] : []),
            initializers: ["w": floatTensor([20, 100], sampleValues(2000, seed: 31)), "b": floatTensor([100], sampleValues(100, seed: 32))])
        return Model(irVersion: 8, opsetImports: ["": 17], graph: graph)
    }

    @Test(.enabled(if: FusedGEMM.isAvailable, "packing is for the AVX-512 GEMM"))
    func weightsAreStoredPackedOnce() throws {
        let m = model()
        let optimized = try Optimizer.optimize(m, level: 2)
        #expect(optimized.graph.nodes.map(\.opType) == ["FusedMatMul"])
        let node = try #require(optimized.graph.nodes.first { $0.opType == "FusedMatMul" })
        if case .int(let columns)? = node.attributes["packed_columns"] { #expect(columns == 100) } else { Issue.record("not packed") }
        #expect(optimized.graph.initializers[node.inputs[1]]?.shape == [3, 20, 48])
        #expect(optimized.graph.initializers["w"] == nil)
        let loaded = try InferenceSession(model: m, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!
        var results: [Tensor] = []
        for threads in [1, 2] {
            let y = try InferenceSession(model: m, options: .init(threads: threads, optimizationLevel: 2)).run(["x": x])["y"]!
            expectClose(y, loaded, rtol: 1e-5, atol: 1e-5)
            results.append(y)
        }
        #expect(try results[0].scalars(as: Float.self) == results[1].scalars(as: Float.self))
        // Portable: the panels are unpacked by Transpose, Reshape and Slice.
        let portable = try Optimizer.makePortable(optimized)
        #expect(portable.graph.nodes.allSatisfy { $0.domain.isEmpty })
        expectClose(try InferenceSession(model: portable, options: .init(threads: 1, optimizationLevel: 0)).run(["x": x])["y"]!,
                    loaded, rtol: 1e-5, atol: 1e-5)
        // B fed at run time is not read in place: the kernel's expansion unpacks it.
        var fed = optimized
        let panels = try #require(fed.graph.initializers[node.inputs[1]])
        fed.graph.initializers[node.inputs[1]] = nil
        fed.graph.inputs.append(ValueInfo(name: node.inputs[1], type: .tensor(elementType: .float, shape: panels.shape.map { .known($0) })))
        let y = try InferenceSession(model: fed, options: .init(threads: 2, optimizationLevel: 0)).run(["x": x, node.inputs[1]: panels])["y"]!
        expectClose(y, loaded, rtol: 1e-5, atol: 1e-5)
    }

    @Test func sharedWeightsAreNotPacked() throws {
        let optimized = try Optimizer.optimize(model(sharedWeight: true), level: 2)
        #expect(!optimized.graph.nodes.contains { $0.attributes["packed_columns"] != nil })
        #expect(optimized.graph.initializers["w"] != nil)
    }
}
