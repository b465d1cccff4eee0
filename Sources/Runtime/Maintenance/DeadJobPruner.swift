import Backend
import HostConfig
import Logging

/// Removes dead jobs kept past their queue's `dead_retention` (queues that keep them `forever` are not
/// served), with their attempt history and unique-key claims; logs how many went.
public struct DeadJobPruner: MaintenanceChore {
    /// What one pass pruned.
    public struct Report: ChoreReport {
        /// Dead jobs removed.
        public var pruned = 0
        public var failures: [QueueFailure] = []
    }

    /// How many jobs a pass removes per queue, at most; the rest wait for the next pass, so a first
    /// pass over a year of dead jobs never holds the backend for long.
    public static let defaultBatchSize = 1000

    /// Each queue with how long its dead jobs are kept.
    public let retention: [(queue: String, retention: Duration)]
    private let backend: any JobBackend
    private let batchSize: Int
    private let logger: Logger

    public var name: String { "prune-dead" }
    public var queues: [String] { retention.map(\.queue) }

    public init(
        retention: [(queue: String, retention: Duration)], backend: any JobBackend, batchSize: Int = Self.defaultBatchSize, logger: Logger
    ) {
        precondition(batchSize > 0, "a pruner's batch size must be positive")
        self.retention = retention
        self.backend = backend
        self.batchSize = batchSize
        self.logger = logger
    }

    public func runOnce() -> Report {
        var report = Report()
        for (queue, retention) in retention {
            do {
                let pruned = try backend.pruneDead(queue: queue, retention: retention, limit: batchSize)
                report.pruned += pruned
                if pruned > 0 {
                    logger.info(
                        "deleted dead jobs past their retention",
                        metadata: ["queue": "\(queue)", "deleted": "\(pruned)", "dead_retention": "\(retention.configText)"])
                }
            } catch {
                report.failures.append(QueueFailure(queue: queue, error: error))
            }
        }
        return report
    }
}
