/// What an operator does to dead jobs.
public enum DeadJobAction: String, Sendable, CaseIterable {
    /// Back to ready with fresh attempts.
    case retry
    /// Deleted for good.
    case discard

    /// The past tense, for messages: "retried", "discarded".
    public var done: String { self == .retry ? "retried" : "discarded" }
}

extension JobBackend {
    /// Applies `action` to one dead job; false when `id` is not a dead job of `queue`.
    public func apply(_ action: DeadJobAction, queue: String, id: String) throws(BackendError) -> Bool {
        switch action {
        case .retry: try retryDead(queue: queue, id: id)
        case .discard: try discardDead(queue: queue, id: id)
        }
    }

    /// Applies `action` to every dead job of `queue`. The ids are listed first, then changed one by one,
    /// so jobs that fail straight back into the dead set while hosts run are not taken again.
    /// - Parameter progress: after each job, with how many were handled and how many were listed.
    /// - Returns: how many were changed (a job retried or discarded meanwhile by someone else is not).
    public func applyToAllDead(
        _ action: DeadJobAction, queue: String, progress: (_ handled: Int, _ total: Int) -> Void = { _, _ in }
    ) throws(BackendError) -> Int {
        var ids: [String] = []
        while case let page = try list(queue: queue, state: .dead, offset: ids.count, limit: 500), !page.isEmpty {
            ids += page.map(\.id)
        }
        var changed = 0
        for (index, id) in ids.enumerated() {
            if try apply(action, queue: queue, id: id) { changed += 1 }
            progress(index + 1, ids.count)
        }
        return changed
    }
}
