internal import CKernels
import Dispatch
import Foundation

/// Splits loops across the session's threads. Every kernel uses it, and so does `BLAS`, which
/// splits products into single-threaded OpenBLAS calls: one pool of workers, no oversubscription.
/// The workers are the process-wide pool of `ck_pool_run` (Sources/CKernels/thread_pool.c).
enum Parallel {
    /// Calls `body` on disjoint chunks covering `0..<count`, on up to `threads` threads.
    /// Runs inline when there is one thread or too little work (`count * costPerItem` small).
    static func forEach(_ count: Int, threads: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        if Tuning.useDispatch { return dispatchForEach(count, threads: threads, costPerItem: costPerItem, body) }
        let chunks = chunkCount(count, threads: threads, costPerItem: costPerItem)
        if chunks <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            var loop = ChunkedLoop(count: count, chunks: chunks, body: body)
            withUnsafeMutablePointer(to: &loop) { loop in
                ck_pool_run(chunks, Int32(clamping: threads), loop) { context, chunk in
                    context!.assumingMemoryBound(to: ChunkedLoop.self).pointee.run(chunk: chunk)
                }
            }
        }
    }

    /// How many chunks to cut `0..<count` into: each worth at least `Tuning.minimumChunkCost`,
    /// at most `Tuning.chunksPerThread` per thread, and 1 (run inline) for small loops.
    static func chunkCount(_ count: Int, threads: Int, costPerItem: Int) -> Int {
        guard threads > 1, count > 1 else { return 1 }
        let (cost, overflow) = count.multipliedReportingOverflow(by: max(1, costPerItem))
        let worth = overflow ? Int.max : cost / Tuning.minimumChunkCost
        return max(1, min(count, threads * Tuning.chunksPerThread, worth))
    }

    /// The previous implementation, on `DispatchQueue.concurrentPerform` (ONNX_RUN_POOL=dispatch).
    private static func dispatchForEach(_ count: Int, threads: Int, costPerItem: Int, _ body: (Range<Int>) -> Void) {
        let workers = min(threads, count, max(1, count * costPerItem / 16_384))
        if workers <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            let chunk = (count + workers - 1) / workers
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let start = w * chunk
                if start < count { box.value(start..<min(count, start + chunk)) }
            }
        }
    }
}

/// Split parameters, read once from the environment while they are being measured.
private enum Tuning {
    static let useDispatch = ProcessInfo.processInfo.environment["ONNX_RUN_POOL"] == "dispatch"
    static let minimumChunkCost = Int(ProcessInfo.processInfo.environment["ONNX_RUN_POOL_GRAIN"] ?? "") ?? 16_384
    static let chunksPerThread = Int(ProcessInfo.processInfo.environment["ONNX_RUN_POOL_CHUNKS"] ?? "") ?? 1
}

/// A loop over `0..<count` cut into `chunks` near-equal ranges, run by chunk index from the pool.
private struct ChunkedLoop {
    let count: Int
    let chunks: Int
    let body: (Range<Int>) -> Void

    /// Runs the body on the range of chunk `chunk`.
    func run(chunk: Int) {
        body(chunk * count / chunks..<(chunk + 1) * count / chunks)
    }
}

/// Carries a non-Sendable closure into `concurrentPerform`. Safe here because the chunks it is
/// called with are disjoint and `concurrentPerform` returns only after every call finished.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
