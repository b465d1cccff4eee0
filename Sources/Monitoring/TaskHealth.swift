import Foundation
import HostDomain
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
        public var consecutiveSuccesses: Int = 0
        public var lastSuccessAt: Date?
        public var lastFailureAt: Date?
        public var lastError: String?

        var lastRunAt: Date? { [lastSuccessAt, lastFailureAt].compactMap { $0 }.max() }
    }

    private let tasks = Mutex<[TaskKey: Task]>([:])

    private struct TaskKey: Hashable {
        var queue: String
        var handler: String
    }

    /// Handlers tracked at most (their names come with the jobs); later ones are not tracked.
    static let limit = 500
    /// Characters of an error kept.
    static let errorLimit = 500

    public init() {}

    public func record(_ jobs: [FinishedJob]) {
        let now = Date()
        tasks.withLock { tasks in
            for job in jobs {
                let key = TaskKey(queue: job.queue, handler: job.handler)
                guard tasks[key] != nil || tasks.count < Self.limit else { continue }
                var task = tasks[key] ?? Task(handler: job.handler, queue: job.queue)
                if job.result == .succeeded {
                    task.succeeded += 1
                    task.consecutiveFailures = 0
                    task.consecutiveSuccesses += 1
                    task.lastSuccessAt = now
                } else {
                    task.failed += 1
                    task.consecutiveFailures += 1
                    task.consecutiveSuccesses = 0
                    task.lastFailureAt = now
                    task.lastError = job.error.map { String($0.prefix(Self.errorLimit)) }
                }
                tasks[key] = task
            }
        }
    }

    /// How a handler's latest runs went: the runs in a row that succeeded or failed (one of the two
    /// is 0), its last error, and when it last ran.
    public struct Streak: Sendable, Encodable, Equatable {
        public var successes = 0
        public var failures = 0
        public var lastError: String?
        public var lastRunAt: Date?

        public init(successes: Int = 0, failures: Int = 0, lastError: String? = nil, lastRunAt: Date? = nil) {
            self.successes = successes
            self.failures = failures
            self.lastError = lastError
            self.lastRunAt = lastRunAt
        }
    }

    /// The streak of `handler` on this host, from the queue it ran on last (a handler routed to several
    /// queues shows its latest); zeros when it has not run.
    public func streak(handler: String) -> Streak {
        let latest = tasks.withLock { tasks in
            tasks.values.filter { $0.handler == handler }.max { ($0.lastRunAt ?? .distantPast) < ($1.lastRunAt ?? .distantPast) }
        }
        guard let latest else { return Streak() }
        return Streak(
            successes: latest.consecutiveSuccesses, failures: latest.consecutiveFailures, lastError: latest.lastError, lastRunAt: latest.lastRunAt)
    }

    /// Every handler that ran since the host started, by name.
    public var all: [Task] { tasks.withLock { Array($0.values) }.sorted { ($0.handler, $0.queue) < ($1.handler, $1.queue) } }
}
