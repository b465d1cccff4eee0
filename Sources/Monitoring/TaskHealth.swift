import Foundation
import Runtime
import Synchronization

/// How each handler (task) fares on this host: its last success, its last failure and why, and how
/// many runs in a row failed. What `/health/tasks` shows.
public final class TaskHealth: Sendable {
    public struct Task: Sendable, Encodable {
        public var handler: String
        public var queue: String
        public var succeeded: Int = 0
        public var failed: Int = 0
        public var consecutiveFailures: Int = 0
        public var lastSuccessAt: Date?
        public var lastFailureAt: Date?
        public var lastError: String?
    }

    private let tasks = Mutex<[String: Task]>([:])

    public init() {}

    public func record(_ jobs: [FinishedJob]) {
        let now = Date()
        tasks.withLock { tasks in
            for job in jobs {
                let key = job.handler
                var task = tasks[key] ?? Task(handler: job.handler, queue: job.queue)
                if job.outcome.result == .succeeded {
                    task.succeeded += 1
                    task.consecutiveFailures = 0
                    task.lastSuccessAt = now
                } else {
                    task.failed += 1
                    task.consecutiveFailures += 1
                    task.lastFailureAt = now
                    task.lastError = job.outcome.error
                }
                tasks[key] = task
            }
        }
    }

    /// Every handler that ran since the host started, by name.
    public var all: [Task] { tasks.withLock { Array($0.values) }.sorted { $0.handler < $1.handler } }
}
