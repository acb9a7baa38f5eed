import Foundation
import Synchronization
import Testing
@testable import ONNXRun

@Suite struct ParallelTests {
    /// Counts how often each index of `0..<count` is visited by `Parallel.forEach`.
    private static func visitCounts(_ count: Int, threads: Int, costPerItem: Int) -> [Int] {
        let visits = VisitCounter(count)
        Parallel.forEach(count, threads: threads, costPerItem: costPerItem) { range in
            visits.add(range)
        }
        return visits.counts
    }

    /// Every index is visited exactly once, whatever the count, threads and cost.
    @Test func everyIndexVisitedOnce() {
        for count in [0, 1, 2, 3, 7, 64, 1000, 100_003] {
            for threads in [1, 2, 3, 4, 8, 64] {
                for costPerItem in [1, 100, 1 << 20] {
                    let counts = Self.visitCounts(count, threads: threads, costPerItem: costPerItem)
                    #expect(counts == [Int](repeating: 1, count: count), "count \(count), threads \(threads), cost \(costPerItem)")
                }
            }
        }
    }

    /// A count of 0 visits nothing; a count of 1 calls the body once, with 0..<1.
    @Test func emptyAndSingleLoops() {
        let ranges = Mutex<[Range<Int>]>([])
        Parallel.forEach(0, threads: 4, costPerItem: 1 << 20) { range in
            if !range.isEmpty { ranges.withLock { $0.append(range) } }
        }
        #expect(ranges.withLock { $0 } == [])
        Parallel.forEach(1, threads: 4, costPerItem: 1 << 20) { range in ranges.withLock { $0.append(range) } }
        #expect(ranges.withLock { $0 } == [0..<1])
    }

    /// A forEach inside a chunk (as a GEMM inside a kernel's chunk) runs inline and completes.
    @Test func nestedLoopsComplete() {
        let visits = VisitCounter(64 * 64)
        Parallel.forEach(64, threads: 4, costPerItem: 1 << 20) { outer in
            for i in outer {
                Parallel.forEach(64, threads: 4, costPerItem: 1 << 20) { inner in
                    visits.add(i * 64 + inner.lowerBound..<i * 64 + inner.upperBound)
                }
            }
        }
        #expect(visits.counts == [Int](repeating: 1, count: 64 * 64))
    }

    /// Eight OS threads calling forEach over and over at once all get every index exactly once.
    @Test func concurrentCallersAllComplete() {
        final class Failures: Sendable { let count = Atomic<Int>(0) }
        let failures = Failures()
        let finished = DispatchGroup()
        for caller in 0..<8 {
            finished.enter()
            let thread = Thread {
                for round in 0..<200 {
                    let count = 1 + (caller * 37 + round * 11) % 300
                    let counts = Self.visitCounts(count, threads: 2 + caller % 3, costPerItem: 1 << 20)
                    if counts != [Int](repeating: 1, count: count) { failures.count.add(1, ordering: .relaxed) }
                }
                finished.leave()
            }
            thread.start()
        }
        finished.wait()
        #expect(failures.count.load(ordering: .relaxed) == 0)
    }
}

/// Per-index visit counts, bumped by chunks running on different threads at once.
private final class VisitCounter: Sendable {
    private let ranges = Mutex<[Range<Int>]>([])
    private let count: Int

    init(_ count: Int) {
        self.count = count
    }

    /// Records one visit of every index in `range`.
    func add(_ range: Range<Int>) {
        ranges.withLock { $0.append(range) }
    }

    /// The visits so far, by index.
    var counts: [Int] {
        var counts = [Int](repeating: 0, count: count)
        for range in ranges.withLock({ $0 }) {
            for index in range { counts[index] += 1 }
        }
        return counts
    }
}
