import Foundation

/// Time spent in each node over one or more runs, collected when a `RunProfile` is passed to
/// `InferenceSession.runOrdered(values:profile:)` (the CLI's `bench --profile`).
///
/// Each step is timed around its kernel call, so the times include the kernel's own allocations
/// but not the planner's bookkeeping between steps. Nodes inside subgraphs (If, Loop, Scan
/// bodies) are recorded under their own names as well as inside their parent's time.
public final class RunProfile: @unchecked Sendable {
    /// Accumulated time of one node.
    public struct NodeTime: Sendable {
        /// The node's name (its first output's name when it has none).
        public let node: String
        /// The node's operator type (fused operators keep their own names, e.g. `FusedConv`).
        public let opType: String
        /// Total time over all calls, in nanoseconds.
        public fileprivate(set) var nanoseconds: UInt64
        /// How many times the node ran.
        public fileprivate(set) var calls: Int
    }

    /// Accumulated time of all nodes of one operator type.
    public struct OperatorTime: Sendable {
        /// The operator type.
        public let opType: String
        /// Total time over all its nodes and calls, in nanoseconds.
        public let nanoseconds: UInt64
        /// Node executions counted.
        public let calls: Int
    }

    private let lock = NSLock()
    private var positions: [String: Int] = [:]
    private var entries: [NodeTime] = []

    /// An empty profile.
    public init() {}

    /// Node times in the order the nodes first ran.
    public var nodes: [NodeTime] { lock.withLock { entries } }

    /// Time per operator type, largest first.
    public var operators: [OperatorTime] {
        var totals: [String: (UInt64, Int)] = [:]
        for entry in nodes {
            let sum = totals[entry.opType, default: (0, 0)]
            totals[entry.opType] = (sum.0 + entry.nanoseconds, sum.1 + entry.calls)
        }
        return totals.map { OperatorTime(opType: $0.key, nanoseconds: $0.value.0, calls: $0.value.1) }
            .sorted { $0.nanoseconds > $1.nanoseconds }
    }

    /// Adds one execution of `node` that took `nanoseconds`.
    func record(_ node: Node, nanoseconds: UInt64) {
        let key = node.name.isEmpty ? node.outputs.first ?? "" : node.name
        lock.withLock {
            if let position = positions[key] {
                entries[position].nanoseconds += nanoseconds
                entries[position].calls += 1
            } else {
                positions[key] = entries.count
                entries.append(NodeTime(node: key, opType: node.opType, nanoseconds: nanoseconds, calls: 1))
            }
        }
    }
}
