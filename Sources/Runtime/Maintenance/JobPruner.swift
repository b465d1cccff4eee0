import Backend
import Logging

/// Removes done jobs kept past their queue's retention.
public struct JobPruner: MaintenanceChore {
    /// What one pass pruned.
    public struct Report: ChoreReport {
        /// Done jobs removed.
        public var pruned = 0
        public var failures: [QueueFailure] = []
    }

    /// How many jobs a pass removes per queue, at most; the rest wait for the next pass.
    public static let defaultBatchSize = 1000

    /// Each queue with how long its done jobs are kept.
    public let retention: [(queue: String, retention: Duration)]
    private let backend: any JobBackend
    private let batchSize: Int

    public var name: String { "prune" }
    public var queues: [String] { retention.map(\.queue) }

    public init(retention: [(queue: String, retention: Duration)], backend: any JobBackend, batchSize: Int = Self.defaultBatchSize) {
        precondition(batchSize > 0, "a pruner's batch size must be positive")
        self.retention = retention
        self.backend = backend
        self.batchSize = batchSize
    }

    public func runOnce() -> Report {
        var report = Report()
        for (queue, retention) in retention {
            do {
                report.pruned += try backend.prune(queue: queue, retention: retention, limit: batchSize)
            } catch {
                report.failures.append(QueueFailure(queue: queue, error: error))
            }
        }
        return report
    }
}
