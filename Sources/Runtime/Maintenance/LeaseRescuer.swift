import Backend
import Logging

/// Rescues jobs whose lease expired (the host holding them died or stalled): ready again, their
/// attempt counted, or dead when their attempts are used up.
public struct LeaseRescuer: MaintenanceChore {
    /// What one pass rescued.
    public struct Report: ChoreReport {
        /// Jobs ready again.
        public var rescued = 0
        /// Jobs dead because their attempts were used up.
        public var dead = 0
        public var failures: [QueueFailure] = []
    }

    /// How many jobs a pass rescues per queue, at most; the rest wait for the next pass.
    public static let defaultBatchSize = 1000

    public let queues: [String]
    private let backend: any JobBackend
    private let batchSize: Int
    private let logger: Logger

    public var name: String { "rescue" }

    public init(queues: [String], backend: any JobBackend, batchSize: Int = Self.defaultBatchSize, logger: Logger) {
        precondition(batchSize > 0, "a rescuer's batch size must be positive")
        self.queues = queues
        self.backend = backend
        self.batchSize = batchSize
        self.logger = logger
    }

    public func runOnce() -> Report {
        var report = Report()
        for queue in queues {
            do {
                let (rescued, dead) = try backend.rescueExpired(queue: queue, limit: batchSize)
                report.rescued += rescued
                report.dead += dead
                if rescued + dead > 0 {
                    logger.warning("rescued jobs whose lease expired", metadata: ["queue": "\(queue)", "ready_again": "\(rescued)", "dead": "\(dead)"])
                }
            } catch {
                report.failures.append(QueueFailure(queue: queue, error: error))
            }
        }
        return report
    }
}
