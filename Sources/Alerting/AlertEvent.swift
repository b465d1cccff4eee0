import Foundation

/// What can fail repeatedly and so raise an alert.
public enum AlertSubject: Sendable, Hashable, CustomStringConvertible {
    /// The runs of a handler's jobs on one queue: the same handler routed elsewhere is a separate streak.
    case handler(String, queue: String)
    /// The runs of the jobs a schedule fires (to `queue`).
    case schedule(String, queue: String)
    /// The scheduler enqueueing a schedule's jobs: a backend that refuses the fire, not a run that failed.
    case scheduleEnqueue(String)

    /// `handler noctua.plan`, `schedule worlds-sync`, `enqueueing schedule worlds-sync`, as log lines
    /// and messages name it.
    public var description: String {
        switch self {
        case .handler(let name, _): "handler \(name)"
        case .schedule(let name, _): "schedule \(name)"
        case .scheduleEnqueue(let name): "enqueueing schedule \(name)"
        }
    }

    /// `handler`, `schedule` or `schedule_enqueue`: the alert JSON's `subject` and the metrics' `about`.
    public var kind: String {
        switch self {
        case .handler: "handler"
        case .schedule: "schedule"
        case .scheduleEnqueue: "schedule_enqueue"
        }
    }

    public var name: String {
        switch self {
        case .handler(let name, _), .schedule(let name, _), .scheduleEnqueue(let name): name
        }
    }

    public var queue: String? {
        switch self {
        case .handler(_, let queue), .schedule(_, let queue): queue
        case .scheduleEnqueue: nil
        }
    }

    /// Whether its failures are runs (jobs that ended dead) rather than attempts to enqueue.
    var countsRuns: Bool {
        if case .scheduleEnqueue = self { return false }
        return true
    }
}

/// The job an alert is about.
public struct AlertJob: Sendable, Equatable {
    public var id: String
    public var handler: String
    public var error: String

    public init(id: String, handler: String, error: String) {
        self.id = id
        self.handler = handler
        self.error = error
    }
}

/// A change worth telling someone about: a streak of failures reached the threshold, a job of a
/// critical handler ended dead, or a streak that had alerted ended.
public enum AlertEvent: Sendable, Equatable {
    /// The streak has just reached `failures` (the threshold); `lastError` is the detail of that
    /// failure and, for runs, `lastJob` the job that ended dead.
    case raised(AlertSubject, failures: Int, lastError: String, lastJob: AlertJob? = nil)
    /// A job of a handler marked critical ended dead; `subject` is its handler on its queue and
    /// `failures` the handler's streak with it.
    case jobDead(AlertSubject, job: AlertJob, failures: Int)
    /// The first success after an alert; `afterFailures` counts the whole streak.
    case recovered(AlertSubject, afterFailures: Int)

    public var subject: AlertSubject {
        switch self {
        case .raised(let subject, _, _, _), .jobDead(let subject, _, _), .recovered(let subject, _): subject
        }
    }

    /// The alert JSON's `alert`: `failed_runs`, `schedule_enqueue_failed`, `job_dead` or `recovered`.
    public var kind: String {
        switch self {
        case .raised(let subject, _, _, _): subject.countsRuns ? "failed_runs" : "schedule_enqueue_failed"
        case .jobDead: "job_dead"
        case .recovered: "recovered"
        }
    }

    /// The event as one JSON object, as the alert command reads it on stdin (docs/alerts.md).
    public func json(hostName: String, message: String, time: Date = Date()) -> [String: Any] {
        var object: [String: Any] = [
            "alert": kind, "host": hostName, "subject": subject.kind, "name": subject.name, "message": message,
            "time": ISO8601DateFormatter().string(from: time),
        ]
        if let queue = subject.queue { object["queue"] = queue }
        switch self {
        case .raised(_, let failures, let lastError, let job):
            object["failures"] = failures
            object["last_error"] = lastError
            if let job {
                object["job_id"] = job.id
                object["handler"] = job.handler
            }
        case .jobDead(_, let job, let failures):
            object["failures"] = failures
            object["last_error"] = job.error
            object["job_id"] = job.id
            object["handler"] = job.handler
        case .recovered(_, let failures):
            object["failures"] = failures
        }
        return object
    }
}
