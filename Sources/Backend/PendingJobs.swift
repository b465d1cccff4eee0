/// What ``JobBackend/cancel(queue:id:)`` did.
public enum CancelOutcome: Sendable, Equatable {
    /// The job was ready or scheduled and is gone, its unique key free again.
    case cancelled
    /// The job is running: refused, since its handler may be halfway through; it settles as usual.
    case running
    /// No job with this id in the queue.
    case notFound
    /// The job is done or dead: nothing to cancel (a dead job is discarded instead).
    case settled(JobState)
}

/// Which pending jobs a bulk discard picks.
public struct PendingSelection: Sendable, Equatable {
    /// `.ready` or `.scheduled`; any other state is refused with `.invalid`.
    public var state: JobState
    /// Only jobs enqueued at least this long ago (the backend's clock); nil for any age.
    public var olderThan: Duration?
    /// Only jobs of this handler; nil for any.
    public var handler: String?

    public init(state: JobState, olderThan: Duration? = nil, handler: String? = nil) {
        self.state = state
        self.olderThan = olderThan
        self.handler = handler
    }

    /// The states a bulk discard may pick: running jobs are never discarded, done ones are pruned,
    /// dead ones have their own discard.
    public static let states: [JobState] = [.ready, .scheduled]
}

/// Where a bulk discard goes on: opaque to callers, each backend keeps its own position in it.
public struct PendingCursor: Sendable, Equatable {
    public let position: Int

    public init(position: Int) { self.position = position }

    public static let start = PendingCursor(position: 0)
}

/// One batch of a bulk discard.
public struct PendingDiscardBatch: Sendable, Equatable {
    public var discarded: Int
    /// Where to go on; nil once every pending job of the state was looked at.
    public var next: PendingCursor?

    public init(discarded: Int, next: PendingCursor?) {
        self.discarded = discarded
        self.next = next
    }
}

/// What ``JobBackend/search(queue:text:limit:)`` found.
public struct JobSearchResult: Sendable, Equatable {
    /// Newest enqueued first.
    public var jobs: [JobInfo]
    /// The backend looked at only part of the queue (a bounded scan) and may have missed matches.
    public var truncated: Bool

    public init(jobs: [JobInfo], truncated: Bool) {
        self.jobs = jobs
        self.truncated = truncated
    }
}

extension JobBackend {
    /// Discards every pending job `selection` picks, batch after batch.
    /// - Parameter progress: after each batch, with how many were discarded so far.
    /// - Returns: how many were discarded.
    public func discardAllPending(
        queue: String, _ selection: PendingSelection, batch: Int = 500, progress: (_ discarded: Int) -> Void = { _ in }
    ) throws(BackendError) -> Int {
        var total = 0
        var cursor: PendingCursor? = .start
        while let from = cursor {
            let answer = try discardPending(queue: queue, selection, from: from, limit: batch)
            total += answer.discarded
            cursor = answer.next
            progress(total)
        }
        return total
    }
}

extension PendingSelection {
    /// Throws `.invalid` unless the state is one a bulk discard may pick and the age is not negative.
    public func check() throws(BackendError) {
        guard Self.states.contains(state) else {
            throw BackendError(
                .invalid, "only ready or scheduled jobs can be discarded in bulk, not \(state.rawValue) ones")
        }
        if let olderThan, olderThan < .zero { throw BackendError(.invalid, "the age of jobs to discard must not be negative") }
    }
}
