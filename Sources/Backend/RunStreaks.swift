import Foundation

/// What a run streak is kept for: the jobs of one handler, or the jobs one schedule fired, on one queue.
public enum RunStreakSubject: Sendable, Hashable {
    case handler(String)
    case schedule(String)

    /// `handler` or `schedule`, as the backends store it.
    public var kind: String {
        switch self {
        case .handler: "handler"
        case .schedule: "schedule"
        }
    }

    public var name: String {
        switch self {
        case .handler(let name), .schedule(let name): name
        }
    }

    public init?(kind: String, name: String) {
        switch kind {
        case "handler": self = .handler(name)
        case "schedule": self = .schedule(name)
        default: return nil
        }
    }
}

/// One entry of a queue's run-alert outbox, written by the backend in the same atomic step that
/// ended a run (docs/redis.md, docs/postgres.md and docs/sqlite.md describe where).
public struct RunAlertEntry: Sendable, Equatable {
    public enum Event: String, Sendable {
        /// A run ended dead: the subject's streak grew to ``RunAlertEntry/failures``.
        case failed
        /// A run ended done while the subject had a streak of ``RunAlertEntry/failures``: the streak is over.
        case ended
    }

    public var event: Event
    public var subject: RunStreakSubject
    public var queue: String
    /// Failed runs in a row, this one included (``Event/failed``), or the streak that ended (``Event/ended``).
    public var failures: Int
    /// The job that died (``Event/failed`` only).
    public var jobID: String?
    /// That job's handler (for a schedule's streak, the handler its jobs run on).
    public var handler: String?
    /// That job's last error, cut to ``JobAttempt/errorLimit`` characters.
    public var error: String?
    /// When the run ended (the backend's clock).
    public var at: Date

    public init(
        event: Event, subject: RunStreakSubject, queue: String, failures: Int, jobID: String? = nil, handler: String? = nil,
        error: String? = nil, at: Date
    ) {
        self.event = event
        self.subject = subject
        self.queue = queue
        self.failures = failures
        self.jobID = jobID
        self.handler = handler
        self.error = error
        self.at = at
    }
}

/// A backend that counts failed runs in a row, per handler and per schedule, for every host sharing it.
///
/// A run is a job's whole way through, retries included: a job that ends dead (its attempts used up in
/// a settle or a lease rescue, a discard, a poison job) is one failed run and adds one to the streak of
/// its handler and, when a schedule fired it, of that schedule; a job that ends done ends both
/// streaks. Each change is written with the job's own change, atomically, together with an entry in
/// the queue's outbox, which ``takeRunAlerts(queue:limit:)`` hands out once. A done job of a queue
/// with no streak writes nothing more than it did before.
public protocol RunStreakStore: Sendable {
    /// Takes up to `limit` outbox entries of `queue`, oldest first, deleting them in the same step:
    /// of hosts taking at once, each entry goes to exactly one.
    func takeRunAlerts(queue: String, limit: Int) throws(BackendError) -> [RunAlertEntry]

    /// Failed runs in a row of `subject` on `queue` so far; 0 without a streak.
    func runStreak(queue: String, _ subject: RunStreakSubject) throws(BackendError) -> Int
}
