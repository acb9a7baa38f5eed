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
/// buffer serves every request of its class. The cache holds at most as many bytes as the session
/// has had in use at once, or `minimumCapacity` if that is more, so a large model's peak memory
/// at most doubles in the worst case and stays near the live peak in the usual one, where every
/// run asks for the same sizes.
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
    }
    private let state = Mutex(State())

    /// Bytes the cache may hold even when the session has never had that much in use at once:
    /// small models use many sizes, each needed only briefly.
    static let minimumCapacity = 32 << 20

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
        let cached: UInt? = state.withLock { state in
            state.inUseBytes += size
            state.mostInUseBytes = max(state.mostInUseBytes, state.inUseBytes)
            guard let address = state.free[size]?.popLast() else { return nil }
            state.cachedBytes -= size
            return address
        }
        if let cached, let buffer = UnsafeMutableRawPointer(bitPattern: cached) { return buffer }
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, 64, size) == 0, let pointer else {
            state.withLock { $0.inUseBytes -= size }
            return nil
        }
        return pointer
    }

    /// Returns a buffer from `take(bytes)`: kept for the next request of its class, or freed when
    /// the cache already holds as many bytes as the session has ever had in use.
    func give(_ buffer: UnsafeMutableRawPointer, bytes: Int) {
        let size = Self.sizeClass(bytes)
        let address = UInt(bitPattern: buffer)
        let kept = state.withLock { state in
            state.inUseBytes -= size
            guard state.cachedBytes + size <= max(state.mostInUseBytes, Self.minimumCapacity) else { return false }
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
