import Dispatch

/// Splits loops across the session's threads. Every kernel uses it, and so does `BLAS`, which
/// splits products into single-threaded OpenBLAS calls: one pool of workers, no oversubscription.
enum Parallel {
    /// Calls `body` on disjoint chunks covering `0..<count`, on up to `threads` threads.
    /// Runs inline when there is one thread or too little work (`count * costPerItem` small).
    static func forEach(_ count: Int, threads: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
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

/// Carries a non-Sendable closure into `concurrentPerform`. Safe here because the chunks it is
/// called with are disjoint and `concurrentPerform` returns only after every call finished.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
