import Synchronization

/// A cap on the tensor memory one run may hold at once (`InferenceSession.Options.memoryLimit`).
///
/// Every tensor allocated while a run is in progress reserves its bytes here and returns them when
/// freed; an allocation that would pass the limit throws a `resourceLimit` error instead, so a
/// model that needs too much memory fails cleanly rather than exhausting the machine. The run's
/// budget travels as a task-local value, so concurrent runs each have their own.
final class MemoryBudget: Sendable {
    /// The limit in bytes.
    let limit: Int
    private let used = Atomic<Int>(0)

    /// The budget of the run in progress on this task, if it has one.
    @TaskLocal static var current: MemoryBudget?

    /// Creates a budget of `limit` bytes.
    init(limit: Int) { self.limit = limit }

    /// Bytes currently held.
    var inUse: Int { used.load(ordering: .relaxed) }

    /// Reserves `bytes`, or throws when that would pass the limit.
    func reserve(_ bytes: Int) throws {
        let total = used.add(bytes, ordering: .relaxed).newValue  // wrapping
        // total < bytes only when the sum wrapped past Int.max.
        if total > limit || total < bytes {
            used.subtract(bytes, ordering: .relaxed)
            throw ONNXRunError(
                .resourceLimit,
                "the run needs more than the memory limit of \(Self.mebibytes(limit)) (allocating \(Self.mebibytes(bytes)) with \(Self.mebibytes(total &- bytes)) in use)")
        }
    }

    /// Returns `bytes` reserved earlier.
    func release(_ bytes: Int) { used.subtract(bytes, ordering: .relaxed) }

    static func mebibytes(_ bytes: Int) -> String {
        let value = Double(bytes) / 1_048_576
        return value < 10 ? "\((value * 100).rounded() / 100) MiB" : "\(Int(value.rounded())) MiB"
    }
}
