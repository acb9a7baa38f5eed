import Foundation
internal import CKernels

/// C = f(A · B + bias) on the register-tiled AVX-512 kernel of `CKernels/gemm.c`: only B's
/// panels are copied (into scratch space, one at a time), and the bias and activation are applied
/// to each tile before it is stored, so a transformer layer's output is written once. Used for products whose right-hand side is shared (a layer's weights).
enum FusedGEMM {
    /// True when the kernel runs on this CPU (AVX-512), unless ONNX_RUN_GEMM=openblas asks for
    /// the OpenBLAS path instead (to compare the two).
    static let isAvailable: Bool = ck_gemm_available() != 0 && ProcessInfo.processInfo.environment["ONNX_RUN_GEMM"] != "openblas"

    /// True when a convolution's product (m output channels, reduction k, n positions) should run
    /// on this kernel rather than OpenBLAS: measured faster for wide outputs with enough channels
    /// and a long enough reduction. Up to `CK_GEMM_DOT_COLUMNS` columns past the last whole
    /// vector of 16 are dot products; more take a whole vector, which must not waste much (a 7×7
    /// map's 49 columns are 48 + 1 dot product: 88 → 112 GFLOP/s for MobileNetV2's 320 → 1280
    /// layer, against OpenBLAS's 91). With 64 to 127 channels only small maps (up to 32×32): on
    /// MobileNetV2's 14×14 projections to 64 and 96 channels it is 10–15% faster than OpenBLAS,
    /// while YOLO's larger maps with few channels were slower on it.
    static func suitsConvolution(m: Int, n: Int, k: Int) -> Bool {
        let lastColumns = n % 16
        let fewWasted = lastColumns <= Int(CK_GEMM_DOT_COLUMNS) || ((n + 15) / 16 * 16) * 100 <= n * 140
        let enoughChannels = (m >= 128 || (m >= 64 && n <= 1024)) && k >= 64
        let largeMap = m >= 16 && k >= 16 && n >= 1600
        return isAvailable && (enoughChannels || largeMap) && n >= 16 && fewWasted
    }

    /// Computes the m × n product into `c`: f(A·B + bias[j] + rowBias[i] + addend[i·ldc + j]) (each
    /// term when given), split across threads by column panels (and by rows when there are too few
    /// panels to go round). Every output is computed the same way wherever it lies, so the result
    /// does not depend on the thread count.
    static func run(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                    bias: [Float]?, rowBias: UnsafePointer<Float>? = nil, addend: UnsafePointer<Float>? = nil,
                    activation: FusedActivation?, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
        let function = activation.kernelParameters
        (bias ?? []).withUnsafeBufferPointer { biasValues in
            let epilogue = ck_gemm_epilogue(
                bias: bias == nil ? nil : biasValues.baseAddress, row_bias: nil, addend: nil, ld_addend: ldc,
                has_activation: function.present, activation: function.kind, a: function.a, b: function.b)
            forEachBlock(m: m, panels: ck_gemm_panel_count(n), k: k, threads: threads, scratchFloats: scratchFloats(k: k)) { rows, panel, scratch in
                var blockEpilogue = epilogue
                blockEpilogue.row_bias = rowBias.map { $0 + rows.lowerBound }
                blockEpilogue.addend = addend.map { $0 + rows.lowerBound * ldc }
                withUnsafePointer(to: blockEpilogue) { e in
                    ck_gemm_f32(rows.count, n, k, a + rows.lowerBound * lda, lda, b, ldb, e, c + rows.lowerBound * ldc, ldc,
                                panel, panel + 1, scratch)
                }
            }
        }
    }

    /// Floats of scratch space `ck_gemm_f32` needs for a reduction of length k.
    static func scratchFloats(k: Int) -> Int { k * Int(CK_GEMM_SCRATCH_COLUMNS) }

    /// Splits an m-row product of `panels` column panels into blocks of rows (whole 8-row tiles)
    /// by panels, enough for every thread to have several, and calls `body(rows, panel, scratch)`
    /// for each on up to `threads` threads, with `scratchFloats` floats of scratch space per
    /// thread (nil for 0).
    private static func forEachBlock(
        m: Int, panels: Int, k: Int, threads: Int, scratchFloats: Int,
        _ body: (_ rows: Range<Int>, _ panel: Int, _ scratch: UnsafeMutablePointer<Float>?) -> Void
    ) {
        guard m > 0, panels > 0 else { return }
        let panelWidth = Int(CK_GEMM_PANEL)
        let tiles = (m + 7) / 8
        let rowChunks = max(1, min(tiles, (threads * 4 + panels - 1) / panels))
        let rowsPerChunk = (tiles + rowChunks - 1) / rowChunks * 8
        Parallel.forEach(panels * rowChunks, threads: threads, costPerItem: rowsPerChunk * k * panelWidth) { items in
            func runItems(_ scratch: UnsafeMutablePointer<Float>?) {
                for item in items {
                    let first = item / panels * rowsPerChunk
                    guard first < m else { continue }
                    body(first..<min(m, first + rowsPerChunk), item % panels, scratch)
                }
            }
            if scratchFloats > 0 {
                BufferCache.withScratch(floats: scratchFloats) { runItems($0) }
            } else {
                runItems(nil)
            }
        }
    }

    /// The epilogue that adds and applies nothing.
    private static var noEpilogue: ck_gemm_epilogue {
        ck_gemm_epilogue(bias: nil, row_bias: nil, addend: nil, ld_addend: 0, has_activation: 0, activation: CK_ACT_RELU, a: 0, b: 0)
    }

    /// C = A·B (m × n, reduction k) on the calling thread, with no epilogue: for callers that split
    /// their work themselves into many small products (attention's two per head), where an
    /// OpenBLAS call costs much of the product. `scratch` holds `scratchFloats(k:)` floats.
    static func multiply(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                         c: UnsafeMutablePointer<Float>, ldc: Int, scratch: UnsafeMutablePointer<Float>) {
        guard m > 0, n > 0 else { return }
        var epilogue = noEpilogue
        ck_gemm_f32(m, n, k, a, lda, b, ldb, &epilogue, c, ldc, 0, ck_gemm_panel_count(n), scratch)
    }

    /// A constant k × n matrix B in the kernel's panel layout: panel p holds columns [48p, 48p + 48)
    /// as k contiguous rows of 48 floats (zero-padded). `PackMatMulWeights` stores weights this
    /// way in the optimized graph. Run-time packing copies 48-column strips of B's rows, each
    /// row from a different page: BERT-base took 240 ms at 1 thread that way, 215 ms from panels
    /// laid out once, and a language model's head (768 × 50257) about 15% longer.
    struct PackedMatrix: Sendable {
        /// The panels as the graph holds them (what the kernel is then given for B).
        let panels: Tensor
        /// B's rows (the reduction) and columns.
        let k: Int
        let n: Int

        /// Wraps panels already laid out ([⌈n/48⌉, k, 48] floats) without a copy; nil when the
        /// kernel is unavailable or the shape does not match `columns`.
        init?(packed: Tensor, columns: Int) {
            let width = Int(CK_GEMM_PANEL)
            guard FusedGEMM.isAvailable, packed.dataType == .float, packed.rank == 3, packed.shape[2] == width, columns > 0,
                  packed.shape[0] == (columns + width - 1) / width else { return nil }
            (panels, k, n) = (packed, packed.shape[1], columns)
        }

        /// `b` (float, k × n) as panels [⌈n/48⌉, k, 48], zero-padded; nil when `b` is not a float matrix.
        static func panels(of b: Tensor) -> Tensor? {
            guard b.dataType == .float, b.rank == 2 else { return nil }
            let (k, n) = (b.shape[0], b.shape[1])
            let width = Int(CK_GEMM_PANEL), count = (n + width - 1) / width
            guard let panels = try? Tensor(zeros: .float, shape: [count, k, width]) else { return nil }
            let from = b.pointer(as: Float.self), into = panels.pointer(as: Float.self)
            for p in 0..<count {
                let columns = min(width, n - p * width)
                for row in 0..<k {
                    (into + (p * k + row) * width).update(from: from + row * n + p * width, count: columns)
                }
            }
            return panels
        }

        /// True when `b` is the tensor this wraps.
        func packs(_ b: Tensor) -> Bool { b.storage === panels.storage && b.shape == panels.shape }

        /// C (m × n, row stride ldc) = f(A (m × k, row stride lda) · B + bias[j]) (bias and f when
        /// given), split across threads like `run`.
        func multiply(m: Int, a: UnsafePointer<Float>, lda: Int, bias: UnsafePointer<Float>? = nil, activation: FusedActivation? = nil,
                      c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
            let width = Int(CK_GEMM_PANEL), (k, n) = (k, n)
            let base = UnsafePointer(panels.pointer(as: Float.self))
            let function = activation.kernelParameters
            FusedGEMM.forEachBlock(m: m, panels: (n + width - 1) / width, k: k, threads: threads, scratchFloats: 0) { rows, panel, _ in
                var epilogue = ck_gemm_epilogue(
                    bias: bias.map { $0 + panel * width }, row_bias: nil, addend: nil, ld_addend: 0,
                    has_activation: function.present, activation: function.kind, a: function.a, b: function.b)
                ck_gemm_f32(rows.count, min(width, n - panel * width), k, a + rows.lowerBound * lda, lda,
                            base + panel * k * width, width, &epilogue, c + rows.lowerBound * ldc + panel * width, ldc, 0, 1, nil)
            }
        }
    }
}
