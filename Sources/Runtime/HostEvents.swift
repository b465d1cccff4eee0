import Backend
import Foundation

/// How one run of a job ended, once the backend recorded it.
public struct RunOutcome: Sendable, Equatable {
    public enum Result: Sendable, Equatable {
        case succeeded
        /// Failed this attempt; it runs again after backoff.
        case retried
        /// Failed for good (attempts used up, discarded by its handler, or a poison job).
        case dead
    }

    public var result: Result
    /// The handler overran its deadline and was written off, or its worker killed for it.
    public var timedOut: Bool
    /// The worker process running it died.
    public var crashed: Bool
    /// How long the handler ran; nil when it never returned.
    public var runTime: Duration?
    /// Why it failed; nil on success.
    public var error: String?

    public init(result: Result, timedOut: Bool = false, crashed: Bool = false, runTime: Duration? = nil, error: String? = nil) {
        self.result = result
        self.timedOut = timedOut
        self.crashed = crashed
        self.runTime = runTime
        self.error = error
    }

    /// The outcome a settlement records; nil for a job handed back untouched.
    public init?(_ settlement: Settlement, timedOut: Bool = false, runTime: Duration? = nil) {
        switch settlement {
        case .done: self.init(result: .succeeded, runTime: runTime)
        case .retry(_, let error): self.init(result: .retried, timedOut: timedOut, runTime: runTime, error: error)
        case .dead(let error): self.init(result: .dead, timedOut: timedOut, runTime: runTime, error: error)
        case .crashed(let retryAfter, let error):
            self.init(result: retryAfter == nil ? .dead : .retried, timedOut: timedOut, crashed: true, runTime: runTime, error: error)
        case .release: return nil
        }
    }
}

/// One job run whose outcome the backend took: what metrics count and alerts watch.
public struct FinishedJob: Sendable, Equatable {
    public var queue: String
    public var handler: String
    public var jobID: String
    public var attempt: Int
    public var outcome: RunOutcome

    public init(queue: String, handler: String, jobID: String, attempt: Int, outcome: RunOutcome) {
        self.queue = queue
        self.handler = handler
        self.jobID = jobID
        self.attempt = attempt
        self.outcome = outcome
    }
}

/// Told of every finished job of the host, whichever process ran it.
public protocol JobEventSink: Sendable {
    /// Called in batches from the threads that record outcomes: must return quickly and never block
    /// on a server.
    func finished(_ jobs: [FinishedJob])
}

/// Told of every pass of the scheduler over each schedule, and of every fire.
public protocol ScheduleEventSink: Sendable {
    /// A pass over `schedule` ended: fired what was due (`error` nil), or could not (the backend
    /// unreachable, say).
    func passed(schedule: String, error: String?)
    /// `schedule` fired: the job of `fireTime` was enqueued `lag` after that time.
    func fired(schedule: String, at fireTime: Date, lag: Duration)
}

/// Hands the finished jobs of an in-process runtime to a sink.
public struct SinkObserver: JobObserver {
    let sink: any JobEventSink

    public init(sink: any JobEventSink) { self.sink = sink }

    public func threadWillRunHandlers() {}
    public func held(_ jobs: [LeasedJob]) {}
    public func willRun(_ job: LeasedJob) {}
    public func didRun(_ job: LeasedJob) {}
    public func letGo(_ jobs: [(lease: Lease, finished: FinishedJob?)]) {
        let finished = jobs.compactMap(\.finished)
        if !finished.isEmpty { sink.finished(finished) }
    }
}
