import Foundation
import Synchronization

/// Large buffers a session keeps between runs, so that a model's tensors and kernel scratch space
/// come from memory that is already mapped instead of fresh pages.
///
/// glibc's `malloc` serves large requests with `mmap` and gives them back with `munmap`, so every
/// run of a model would fault in (and have the kernel zero) its big tensors again: a thousand
/// page faults per ShuffleNet run, a quarter of its time. Each session owns one cache; while a run
/// is in progress it is `BufferCache.current`, and `TensorStorage` and `withScratch` take buffers
/// from it. A freed buffer goes back to the cache (from whichever thread frees it, even after the
/// session is gone: a buffer holds on to its cache).
///
/// Requests are rounded up to size classes four per power of two (at most 25% larger), so a
/// buffer serves every request of its class, and a request whose class has none cached takes a
/// cached buffer up to twice its size before it maps a new one. Buffers in use plus buffers cached stay within a
/// `footprint` a little above the most the session has had in use at once: a new buffer that
/// would pass it first frees cached buffers of other classes, so peak memory stays near the live
/// peak while every run that asks for the same sizes gets them all from the cache.
final class BufferCache: Sendable {
    /// The cache of the run in progress on this task, if any.
    @TaskLocal static var current: BufferCache?

    /// Requests below this many bytes go to `malloc` directly: it serves them from its own
    /// free lists without page faults.
    static let minimumBytes = 64 << 10

    private struct State {
        /// Free buffers by size class, as addresses (so the state is plain, sendable data).
        var free: [Int: [UInt]] = [:]
        var cachedBytes = 0
        var inUseBytes = 0
        var mostInUseBytes = 0
        /// Buffers in use that came from a larger class than their request's, by address.
        var borrowed: [UInt: Int] = [:]

        /// Counts `bytes` more in use, and the live peak with them.
        mutating func use(_ bytes: Int) {
            inUseBytes += bytes
            mostInUseBytes = max(mostInUseBytes, inUseBytes)
        }
    }
    private let state = Mutex(State())

    /// Bytes the cache may hold beyond the live peak: a quarter of it, and at least this much
    /// (small models use many sizes, each needed only briefly).
    static let minimumSlack = 24 << 20

    /// The most bytes in use and cached together, for a session whose live peak is `mostInUse`.
    static func footprint(mostInUse: Int) -> Int { mostInUse + max(mostInUse / 4, minimumSlack) }

    /// Creates an empty cache.
    init() {}

    deinit {
        state.withLock { state in
            for buffers in state.free.values { for address in buffers { free(UnsafeMutableRawPointer(bitPattern: address)) } }
        }
    }

    /// The size class of a request of `bytes` (≥ `minimumBytes`): `bytes` rounded up to a
    /// multiple of a quarter of the largest power of two not above it.
    static func sizeClass(_ bytes: Int) -> Int {
        let power = 1 << (Int.bitWidth - 1 - bytes.leadingZeroBitCount)
        let step = max(power / 4, 4096)
        return (bytes + step - 1) / step * step
    }

    /// A 64-byte aligned buffer of `sizeClass(bytes)` bytes, cached or new; nil when memory is
    /// exhausted. Give it back with `give(_:bytes:)` and the same `bytes`.
    func take(_ bytes: Int) -> UnsafeMutableRawPointer? {
        let size = Self.sizeClass(bytes)
        var evicted: [UInt] = []
        let cached: UInt? = state.withLock { state in
            if let address = state.free[size]?.popLast() {
                state.cachedBytes -= size
                state.use(size)
                return address
            }
            // A cached buffer of a larger class (at most twice the size) rather than a new one: a
            // run's last, differently sized tensors would otherwise evict buffers its next run
            // needs first (YOLO faulted in 5.6 MB per run that way).
            if let larger = state.free.keys.filter({ $0 > size && $0 <= 2 * size && !(state.free[$0]?.isEmpty ?? true) }).min(),
               let address = state.free[larger]?.popLast() {
                state.cachedBytes -= larger
                state.use(larger)
                state.borrowed[address] = larger
                return address
            }
            state.use(size)
            // A new buffer: make room by freeing cached ones of other classes, largest first.
            let limit = Self.footprint(mostInUse: state.mostInUseBytes)
            while state.inUseBytes + state.cachedBytes > limit,
                  let largest = state.free.filter({ !$0.value.isEmpty }).keys.max() {
                evicted.append(state.free[largest]!.removeLast())
                state.cachedBytes -= largest
            }
            return nil
        }
        for address in evicted { free(UnsafeMutableRawPointer(bitPattern: address)) }
        if let cached, let buffer = UnsafeMutableRawPointer(bitPattern: cached) { return buffer }
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, 64, size) == 0, let pointer else {
            state.withLock { $0.inUseBytes -= size }
            return nil
        }
        return pointer
    }

    /// Returns a buffer from `take(bytes)`: kept for the next request of its class, or freed when
    /// keeping it would pass the footprint.
    func give(_ buffer: UnsafeMutableRawPointer, bytes: Int) {
        let address = UInt(bitPattern: buffer)
        let kept = state.withLock { state in
            let size = state.borrowed.removeValue(forKey: address) ?? Self.sizeClass(bytes)
            state.inUseBytes -= size
            guard state.inUseBytes + state.cachedBytes + size <= Self.footprint(mostInUse: state.mostInUseBytes) else { return false }
            state.free[size, default: []].append(address)
            state.cachedBytes += size
            return true
        }
        if !kept { free(buffer) }
    }

    /// Bytes held for reuse (not in use).
    var cachedBytes: Int { state.withLock { $0.cachedBytes } }

    /// Runs `body` with `count` uninitialized floats of scratch space: from the current cache
    /// when there is one and the request is large, else from `malloc`.
    static func withScratch<Result>(floats count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> Result) rethrows -> Result {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if bytes >= minimumBytes, let cache = current, let buffer = cache.take(bytes) {
            defer { cache.give(buffer, bytes: bytes) }
            return try body(buffer.bindMemory(to: Float.self, capacity: max(count, 1)))
        }
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        defer { buffer.deallocate() }
        return try body(buffer)
    }
}
