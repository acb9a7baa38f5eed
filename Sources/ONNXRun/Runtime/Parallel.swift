internal import CKernels

/// Splits loops across the session's threads. Every kernel uses it, and so does `BLAS`, which
/// splits products into single-threaded OpenBLAS calls: one pool of workers, no oversubscription.
/// The workers are the process-wide pool of `ck_pool_run` (Sources/CKernels/thread_pool.c).
enum Parallel {
    /// Calls `body` on disjoint chunks covering `0..<count`, on up to `threads` threads.
    /// Runs inline when there is one thread or too little work (`count * costPerItem` small).
    static func forEach(_ count: Int, threads: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = chunkCount(count, threads: threads, costPerItem: costPerItem)
        if chunks <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            var loop = ChunkedLoop(count: count, chunks: chunks, buffers: BufferCache.current, body: body)
            withUnsafeMutablePointer(to: &loop) { loop in
                ck_pool_run(chunks, Int32(clamping: threads), loop) { context, chunk in
                    context!.assumingMemoryBound(to: ChunkedLoop.self).pointee.run(chunk: chunk)
                }
            }
        }
    }

    /// Work (`count * costPerItem`) a chunk must have to be worth handing to another thread.
    static let minimumChunkCost = 16_384

    /// Chunks per thread for large loops: more than one, so that when a worker is late (asleep,
    /// or its core taken by another process) the caller and the other workers take its share.
    static let chunksPerThread = 4

    /// How many chunks to cut `0..<count` into: each worth at least `minimumChunkCost`, at most
    /// `chunksPerThread` per thread, and 1 (run inline) for small loops.
    static func chunkCount(_ count: Int, threads: Int, costPerItem: Int) -> Int {
        guard threads > 1, count > 1 else { return 1 }
        let (cost, overflow) = count.multipliedReportingOverflow(by: max(1, costPerItem))
        let worth = overflow ? Int.max : cost / minimumChunkCost
        return max(1, min(count, threads * chunksPerThread, worth))
    }
}

/// A loop over `0..<count` cut into `chunks` near-equal ranges, run by chunk index from the pool.
private struct ChunkedLoop {
    let count: Int
    let chunks: Int
    /// The caller's buffer cache, which the workers' scratch space comes from too.
    let buffers: BufferCache?
    let body: (Range<Int>) -> Void

    /// Runs the body on the range of chunk `chunk`. Products the body starts are not split
    /// further (`BLAS.threads` is 1 inside every chunk, on the caller's thread as on the
    /// workers'), so a result never depends on which thread happened to run which chunk.
    func run(chunk: Int) {
        BufferCache.$current.withValue(buffers) {
            BLAS.$threads.withValue(1) {
                body(chunk * count / chunks..<(chunk + 1) * count / chunks)
            }
        }
    }
}
