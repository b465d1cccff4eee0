import Foundation

/// The job a handler is asked to run.
public struct JobInvocation: Sendable {
    public var id: String
    public var handler: String
    public var queue: String
    public var attempt: Int
    public var maxAttempts: Int
    public var payload: Data
    public var deadline: Date?
    public var enqueuedAt: Date

    public init(
        id: String, handler: String, queue: String, attempt: Int, maxAttempts: Int, payload: Data,
        deadline: Date? = nil, enqueuedAt: Date = Date()
    ) {
        self.id = id
        self.handler = handler
        self.queue = queue
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.payload = payload
        self.deadline = deadline
        self.enqueuedAt = enqueuedAt
    }
}

/// How a handler call ended.
public enum HandlerOutcome: Sendable, Equatable {
    case success
    /// Run again: after `delay` when the handler asked for one, else after the retry policy's backoff.
    case retry(reason: String, delay: Duration?)
    /// Dead, for good.
    case discard(reason: String)
}

/// A job a handler asks to enqueue (chaining).
public struct ChainedJob: Sendable, Equatable {
    public var handler: String
    public var payload: Data
    public var queue: String?
    public var delay: Duration
    public var uniqueKey: String?
    public var maxAttempts: Int?
    /// The job whose handler asked.
    public var parentID: String
}

/// Where chained jobs go. The runtime gives a backend-backed one; commands that only inspect plugins
/// give one that refuses.
public protocol JobEnqueuer: Sendable {
    /// Enqueues the job and returns its id, or throws with a reason the handler will see.
    func enqueue(_ job: ChainedJob) throws -> String
}

/// An enqueuer for contexts that have no backend: every call is refused with `reason`.
public struct RefusingEnqueuer: JobEnqueuer {
    public let reason: String
    public init(reason: String) { self.reason = reason }

    public func enqueue(_ job: ChainedJob) throws -> String {
        throw EnqueueRefused(reason: reason)
    }

    struct EnqueueRefused: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }
}
