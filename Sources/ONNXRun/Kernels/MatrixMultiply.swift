internal import CBLAS
internal import CKernels

/// MatMul (numpy semantics, batched with broadcasting) and Gemm, on OpenBLAS for float and double.

/// Row-major GEMM wrappers: C = alpha · op(A) · op(B) + beta · C.
///
/// OpenBLAS is kept at one thread for the whole process, and a product is split here instead:
/// into `threads` blocks of C computed at the same time by the workers of `Parallel`, each one
/// a single-threaded OpenBLAS call. OpenBLAS's own pool would otherwise keep its workers spinning
/// between calls, taking the cores from the kernels that run between GEMMs; and its process-wide
/// thread count could not differ between sessions running at the same time.
enum BLAS {
    /// Threads a product may be split across (set per `run` by the session). Task-local, so
    /// products started inside a `Parallel` worker see 1 and stay on their thread.
    @TaskLocal static var threads: Int = 1

    /// Sets OpenBLAS to one thread once, before the first product.
    private static let singleThreaded: Void = { openblas_set_num_threads(1) }()

    /// Products smaller than this many multiply-adds are not worth splitting.
    private static let splitThreshold = 1 << 18

    /// Runs `product(rows, columns)` over `threads` blocks of the m × n result, split along the
    /// longer side. Columns are split at multiples of 16 (a whole number of SIMD registers), the
    /// last block taking the rest: 196 columns on two threads are 96 + 100, not 112 + 84.
    @inline(__always)
    private static func split(m: Int, n: Int, k: Int, _ product: (Range<Int>, Range<Int>) -> Void) {
        _ = singleThreaded
        let workers = min(threads, max(1, m * n * k / splitThreshold))
        if workers <= 1 { return product(0..<m, 0..<n) }
        if n >= m {
            let chunk = max(16, n / workers / 16 * 16), blockCount = min(workers, (n + chunk - 1) / chunk)
            Parallel.forEach(blockCount, threads: workers, costPerItem: 1 << 30) { blocks in
                for block in blocks { product(0..<m, block * chunk..<(block == blockCount - 1 ? n : (block + 1) * chunk)) }
            }
        } else {
            let chunk = (m + workers - 1) / workers
            Parallel.forEach((m + chunk - 1) / chunk, threads: workers, costPerItem: 1 << 30) { blocks in
                for block in blocks { product(block * chunk..<min(m, (block + 1) * chunk), 0..<n) }
            }
        }
    }

    static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 { return scale(c, m: m, n: n, ldc: ldc, by: beta) }
        if m == 1 || n == 1 {
            return sgemv(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
        split(m: m, n: n, k: k) { rows, columns in
            let aBlock = transA ? a + rows.lowerBound : a + rows.lowerBound * lda
            let bBlock = transB ? b + columns.lowerBound * ldb : b + columns.lowerBound
            cblas_sgemm(
                CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                blasint(rows.count), blasint(columns.count), blasint(k), alpha, aBlock, blasint(lda), bBlock, blasint(ldb),
                beta, c + rows.lowerBound * ldc + columns.lowerBound, blasint(ldc))
        }
    }

    /// C = A · B (no transposes, beta 0), calling `finish(rows, columns)` on each finished block
    /// of C while it is still in cache: each thread's block is computed in panels of columns of
    /// about `panelBytes` (so a bias and activation applied by `finish` does not read the whole
    /// output back from memory). The panels repack A, which costs little when C is wide.
    static func sgemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, finishingBlocks finish: (Range<Int>, Range<Int>) -> Void
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 || m == 1 || n == 1 {
            sgemm(m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb, beta: 0, c: c, ldc: ldc)
            return finish(0..<m, 0..<n)
        }
        let panel = max(256, panelBytes / (4 * m) / 16 * 16)
        split(m: m, n: n, k: k) { rows, columns in
            var start = columns.lowerBound
            while start < columns.upperBound {
                let panelColumns = start..<min(columns.upperBound, start + panel)
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(rows.count), blasint(panelColumns.count), blasint(k),
                    1, a + rows.lowerBound * lda, blasint(lda), b + panelColumns.lowerBound, blasint(ldb),
                    0, c + rows.lowerBound * ldc + panelColumns.lowerBound, blasint(ldc))
                finish(rows, panelColumns)
                start = panelColumns.upperBound
            }
        }
    }

    /// Bytes of C a panel of `sgemm(…finishingBlocks:)` covers: well inside a core's L2.
    static let panelBytes = 256 << 10

    /// A product with one row or one column is a matrix-vector product, bound by reading the
    /// matrix once. With AVX-512 it runs on CKernels' kernels, split across threads by blocks of
    /// outputs; they compute every output the same way wherever it lies, so results do not
    /// depend on the thread count (a model whose logits must come out exactly equal stays so).
    /// Otherwise it is one OpenBLAS sgemv call.
    private static func sgemv(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        // The vector and the matrix: for m = 1 A's row times op(B), for n = 1 op(A) times B's column.
        let (vector, step) = m == 1 ? (a, transA ? lda : 1) : (b, transB ? 1 : ldb)
        let outputs = m == 1 ? n : m
        // Matrix rows are contiguous per output ("rows") or per input ("columns").
        let rowsLayout = m == 1 ? transB : !transA
        let matrix = m == 1 ? b : a, ld = m == 1 ? ldb : lda
        let incy = m == 1 ? 1 : ldc
        guard ck_gemv_available() != 0 else {
            _ = singleThreaded
            if rowsLayout {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(outputs), blasint(k), alpha, matrix, blasint(ld), vector, blasint(step), beta, c, blasint(incy))
            } else {
                cblas_sgemv(CblasRowMajor, CblasTrans, blasint(k), blasint(outputs), alpha, matrix, blasint(ld), vector, blasint(step), beta, c, blasint(incy))
            }
            return
        }
        let contiguous: UnsafeMutablePointer<Float>? = step == 1 ? nil : .allocate(capacity: k)
        defer { contiguous?.deallocate() }
        if let contiguous { for p in 0..<k { contiguous[p] = vector[p * step] } }
        let x = contiguous.map { UnsafePointer($0) } ?? vector
        split(m: 1, n: outputs, k: k) { _, block in
            if rowsLayout {
                ck_gemv_rows_f32(block.count, k, alpha, matrix + block.lowerBound * ld, ld, x, beta, c + block.lowerBound * incy, incy)
            } else if incy == 1 {
                ck_gemv_columns_f32(block.count, k, alpha, matrix + block.lowerBound, ld, x, beta, c + block.lowerBound)
            } else {
                // A strided output: computed contiguously, then scaled in and stored.
                let column = UnsafeMutablePointer<Float>.allocate(capacity: block.count)
                defer { column.deallocate() }
                ck_gemv_columns_f32(block.count, k, alpha, matrix + block.lowerBound, ld, x, 0, column)
                for (i, j) in block.enumerated() {
                    c[j * incy] = beta == 0 ? column[i] : column[i] + beta * c[j * incy]
                }
            }
        }
    }

    static func dgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int, beta: Double,
        c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 { return scale(c, m: m, n: n, ldc: ldc, by: beta) }
        split(m: m, n: n, k: k) { rows, columns in
            let aBlock = transA ? a + rows.lowerBound : a + rows.lowerBound * lda
            let bBlock = transB ? b + columns.lowerBound * ldb : b + columns.lowerBound
            cblas_dgemm(
                CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                blasint(rows.count), blasint(columns.count), blasint(k), alpha, aBlock, blasint(lda), bBlock, blasint(ldb),
                beta, c + rows.lowerBound * ldc + columns.lowerBound, blasint(ldc))
        }
    }

    /// C = beta · C (an empty product); beta 0 clears C even where it held NaN.
    private static func scale<T: FloatingPoint>(_ c: UnsafeMutablePointer<T>, m: Int, n: Int, ldc: Int, by beta: T) {
        for i in 0..<m {
            for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : c[i * ldc + j] * beta }
        }
    }

    /// The same product for integer types, wrapping on overflow, by a plain loop.
    static func integerGemm<T: FixedWidthInteger>(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: T,
        a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int, beta: T,
        c: UnsafeMutablePointer<T>, ldc: Int
    ) {
        for i in 0..<m {
            let row = c + i * ldc
            if beta == 0 {
                for j in 0..<n { row[j] = 0 }
            } else if beta != 1 {
                for j in 0..<n { row[j] = row[j] &* beta }
            }
            for p in 0..<k {
                let av = (transA ? a[p * lda + i] : a[i * lda + p]) &* alpha
                if av == 0 { continue }
                if transB {
                    for j in 0..<n { row[j] = row[j] &+ av &* b[j * ldb + p] }
                } else {
                    let bRow = b + p * ldb
                    for j in 0..<n { row[j] = row[j] &+ av &* bRow[j] }
                }
            }
        }
    }
}

/// Which element type a product is computed in, and how results get back to the input type.
private enum ProductType {
    case float, double, integer
    /// float16/bfloat16 compute in float and convert back.
    case widened(DataType)

    init(_ type: DataType, op: String) throws {
        switch type {
        case .float: self = .float
        case .double: self = .double
        case .float16, .bfloat16: self = .widened(type)
        case .int32, .int64, .uint32, .uint64: self = .integer
        default: throw ONNXRunError(.unsupportedType, "\(op) of \(type) is not supported")
        }
    }
}

/// MatMul: numpy.matmul semantics.
struct MatMulKernel: TensorKernel {
    init(_ context: KernelContext) throws {
        try context.expectInputs(2)
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let a = inputs[0], let b = inputs[1] else { throw ONNXRunError(.invalidInput, "both inputs are required") }
        guard a.dataType == b.dataType else {
            throw ONNXRunError(.invalidInput, "operand types differ: \(a.dataType) and \(b.dataType)")
        }
        return [try Self.multiply(a, b)]
    }

    static func multiply(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.rank >= 1, b.rank >= 1 else {
            throw ONNXRunError(.shapeMismatch, "MatMul operands must have rank 1 or more, got \(a.shape) and \(b.shape)")
        }
        if case .widened(let type) = try ProductType(a.dataType, op: "MatMul") {
            let product = try multiply(Conversion.cast(a, to: .float), Conversion.cast(b, to: .float))
            return try Conversion.cast(product, to: type)
        }
        // Promote 1-D operands to matrices; the added axis is dropped from the result.
        let aShape = a.rank == 1 ? [1, a.shape[0]] : a.shape
        let bShape = b.rank == 1 ? [b.shape[0], 1] : b.shape
        let m = aShape[aShape.count - 2], k = aShape[aShape.count - 1]
        let k2 = bShape[bShape.count - 2], n = bShape[bShape.count - 1]
        guard k == k2 else {
            throw ONNXRunError(.shapeMismatch, "MatMul inner dimensions differ: \(a.shape) × \(b.shape)")
        }
        let (batch, offsets) = try batchOffsets([aShape, bShape], matrixSizes: [m * k, k * n])
        var outShape = batch
        if a.rank > 1 { outShape.append(m) }
        if b.rank > 1 { outShape.append(n) }
        let out = try Tensor(uninitialized: a.dataType, shape: outShape)
        let batchCount = offsets[0].count
        if out.count == 0 { return out }
        let aOffsets = offsets[0], bOffsets = offsets[1]
        let aBatch = aShape.dropLast(2), bBatch = bShape.dropLast(2)
        // A stack of matrices times one shared B is a single tall product.
        let foldBatch = bBatch.reduce(1, *) == 1 && aBatch.count == batch.count && batchCount > 1
        let calls = foldBatch ? 1 : batchCount
        let rows = foldBatch ? m * batchCount : m

        func run<T>(_: T.Type, _ gemm: (UnsafePointer<T>, UnsafePointer<T>, UnsafeMutablePointer<T>) -> Void) {
            let pa = a.pointer(as: T.self), pb = b.pointer(as: T.self), po = out.pointer(as: T.self)
            for i in 0..<calls { gemm(pa + aOffsets[i], pb + bOffsets[i], po + i * m * n) }
        }
        switch try ProductType(a.dataType, op: "MatMul") {
        case .float:
            if FusedGEMM.isAvailable && calls == 1 && rows >= 8 && n >= 16 {
                // One product (a language model's head, a stack of rows times shared weights).
                FusedGEMM.run(m: rows, n: n, k: k, a: a.pointer(as: Float.self), lda: k, b: b.pointer(as: Float.self), ldb: n,
                              bias: nil, activation: nil, c: out.pointer(as: Float.self), ldc: n, threads: BLAS.threads)
                break
            }
            run(Float.self) { BLAS.sgemm(m: rows, n: n, k: k, alpha: 1, a: $0, lda: k, b: $1, ldb: n, beta: 0, c: $2, ldc: n) }
        case .double:
            run(Double.self) { BLAS.dgemm(m: rows, n: n, k: k, alpha: 1, a: $0, lda: k, b: $1, ldb: n, beta: 0, c: $2, ldc: n) }
        case .integer:
            func integer<T: FixedWidthInteger>(_: T.Type) {
                run(T.self) { BLAS.integerGemm(m: rows, n: n, k: k, alpha: 1, a: $0, lda: k, b: $1, ldb: n, beta: 0, c: $2, ldc: n) }
            }
            switch a.dataType {
            case .int32: integer(Int32.self)
            case .int64: integer(Int64.self)
            case .uint32: integer(UInt32.self)
            default: integer(UInt64.self)
            }
        case .widened: break  // handled above
        }
        return out
    }
}

/// Gemm: Y = alpha · A' · B' + beta · C, with A' = transA ? Aᵀ : A (likewise B), C broadcast to [M, N].
struct GemmKernel: TensorKernel {
    let transA: Bool, transB: Bool
    let alpha: Float, beta: Float

    init(_ context: KernelContext) throws {
        try context.expectInputs(context.opsetVersion < 11 ? 3 : 2, 3)
        transA = try context.int("transA", default: 0) != 0
        transB = try context.int("transB", default: 0) != 0
        alpha = try context.float("alpha", default: 1)
        beta = try context.float("beta", default: 1)
        // Opset < 7 `broadcast`: C is broadcast either way here, after checking it fits [M, N].
        _ = try context.int("broadcast")
    }

    func compute(_ inputs: [Tensor?], _ context: RunContext) throws -> [Tensor] {
        guard let a = inputs[0], let b = inputs[1] else { throw ONNXRunError(.invalidInput, "A and B are required") }
        let c = inputs.count > 2 ? inputs[2] : nil
        guard a.dataType == b.dataType, c == nil || c!.dataType == a.dataType else {
            throw ONNXRunError(.invalidInput, "operand types differ: \(a.dataType), \(b.dataType)\(c.map { ", \($0.dataType)" } ?? "")")
        }
        guard a.rank == 2, b.rank == 2 else {
            throw ONNXRunError(.shapeMismatch, "Gemm operands must be matrices, got \(a.shape) and \(b.shape)")
        }
        let productType = try ProductType(a.dataType, op: "Gemm")
        if case .widened(let type) = productType {
            let wide = try [a, b, c].map { try $0.map { try Conversion.cast($0, to: .float) } }
            return [try Conversion.cast(try compute(wide, context)[0], to: type)]
        }
        let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
        let kb = transB ? b.shape[1] : b.shape[0], n = transB ? b.shape[0] : b.shape[1]
        guard k == kb else {
            throw ONNXRunError(.shapeMismatch, "Gemm inner dimensions differ: A \(a.shape) (transA=\(transA)) and B \(b.shape) (transB=\(transB))")
        }
        let out = try Tensor(uninitialized: a.dataType, shape: [m, n])
        if let c, c.shape != [m, n] {
            guard (try? Broadcast.shape(c.shape, [m, n])) == [m, n] else {
                throw ONNXRunError(.shapeMismatch, "C of shape \(c.shape) cannot be broadcast to [\(m), \(n)]")
            }
        }
        // Fill Y with C broadcast to [M, N], then accumulate the product into it.
        func fill<T>(_: T.Type, zero: T) {
            let po = out.pointer(as: T.self)
            guard let c else {
                po.update(repeating: zero, count: m * n)
                return
            }
            let pc = c.pointer(as: T.self)
            if c.count == m * n {
                po.update(from: pc, count: m * n)
                return
            }
            let strides = Broadcast.strides(of: c.shape, in: [m, n])
            for i in 0..<m {
                for j in 0..<n { po[i * n + j] = pc[i * strides[0] + j * strides[1]] }
            }
        }
        let hasC = c != nil && beta != 0
        let lda = a.shape[1], ldb = b.shape[1]
        switch productType {
        case .float:
            fill(Float.self, zero: 0)
            BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.pointer(as: Float.self), lda: lda,
                       b: b.pointer(as: Float.self), ldb: ldb, beta: hasC ? beta : 0, c: out.pointer(as: Float.self), ldc: n)
        case .double:
            fill(Double.self, zero: 0)
            BLAS.dgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: Double(alpha), a: a.pointer(as: Double.self), lda: lda,
                       b: b.pointer(as: Double.self), ldb: ldb, beta: hasC ? Double(beta) : 0, c: out.pointer(as: Double.self), ldc: n)
        case .integer:
            func integer<T: FixedWidthInteger>(_: T.Type) {
                fill(T.self, zero: 0)
                BLAS.integerGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: T(truncatingIfNeeded: Int64(alpha)),
                                 a: a.pointer(as: T.self), lda: lda, b: b.pointer(as: T.self), ldb: ldb,
                                 beta: hasC ? T(truncatingIfNeeded: Int64(beta)) : 0, c: out.pointer(as: T.self), ldc: n)
            }
            switch a.dataType {
            case .int32: integer(Int32.self)
            case .int64: integer(Int64.self)
            case .uint32: integer(UInt32.self)
            default: integer(UInt64.self)
            }
        case .widened: break  // handled above
        }
        return [out]
    }
}

extension KernelRegistry {
    static func registerMatrixMultiply(_ r: inout KernelRegistry) {
        r.register("MatMul", since: 1, 9, 13) { try MatMulKernel($0) }
        r.register("Gemm", since: 1, 6, 7, 9, 11, 13) { try GemmKernel($0) }
    }
}

/// Element offsets of each matrix in a batched product whose batch dimensions broadcast, per operand.
func batchOffsets(_ shapes: [[Int]], matrixSizes: [Int]) throws -> (batch: [Int], offsets: [[Int]]) {
    let batches = shapes.map { Array($0.dropLast(2)) }
    let batch = try batches.dropFirst().reduce(batches[0]) { try Broadcast.shape($0, $1) }
    let count = batch.reduce(1, *)
    var offsets = [[Int]](repeating: [], count: shapes.count)
    let strides = batches.map { Broadcast.strides(of: $0, in: batch) }
    var index = [Int](repeating: 0, count: batch.count)
    for _ in 0..<count {
        for o in shapes.indices {
            var offset = 0
            for axis in batch.indices { offset += index[axis] * strides[o][axis] }
            offsets[o].append(offset * matrixSizes[o])
        }
        var axis = batch.count - 1
        while axis >= 0 {
            index[axis] += 1
            if index[axis] < batch[axis] { break }
            index[axis] = 0
            axis -= 1
        }
    }
    return (batch, offsets)
}
