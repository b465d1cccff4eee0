/// What can fail repeatedly and so raise an alert.
public enum AlertSubject: Sendable, Hashable, CustomStringConvertible {
    /// Jobs of a handler on one queue: the same handler routed elsewhere is a separate streak.
    case handler(String, queue: String)
    /// The jobs a schedule fires.
    case schedule(String)

    /// `handler noctua.plan` or `schedule worlds-sync`, as log lines and messages name it.
    public var description: String {
        switch self {
        case .handler(let name, _): "handler \(name)"
        case .schedule(let name): "schedule \(name)"
        }
    }
}

/// A change worth telling someone about: a streak of failures reached the threshold, or it ended.
public enum AlertEvent: Sendable, Equatable {
    /// The streak has just reached `failures` (the threshold); `lastError` is the detail of that failure.
    case raised(AlertSubject, failures: Int, lastError: String)
    /// The first success after a raised alert; `afterFailures` counts the whole streak.
    case recovered(AlertSubject, afterFailures: Int)

    public var subject: AlertSubject {
        switch self {
        case .raised(let subject, _, _), .recovered(let subject, _): subject
        }
    }
}
