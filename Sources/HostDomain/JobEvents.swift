import Backend
import Foundation

/// One run of a job whose outcome the backend took: what metrics and task health count and the
/// operator sees. A handler's own verdict (`HandlerOutcome`) becomes a write to the backend
/// (`Settlement`); once the backend took it, the run is told as this.
public struct FinishedJob: Sendable, Equatable {
    public enum Result: Sendable, Equatable {
        case succeeded
        /// Failed this attempt; it runs again after backoff.
        case retried
        /// Failed for good (attempts used up, discarded by its handler, or a poison job).
        case dead
    }

    public var queue: String
    public var handler: String
    public var jobID: String
    public var attempt: Int
    public var result: Result
    /// The handler overran its deadline and was written off, or its worker killed for it.
    public var timedOut: Bool
    /// The worker process running it died.
    public var crashed: Bool
    /// How long the handler ran; nil when it never returned.
    public var runTime: Duration?
    /// Why it failed; nil on success.
    public var error: String?

    public init(
        queue: String, handler: String, jobID: String, attempt: Int, result: Result, timedOut: Bool = false, crashed: Bool = false,
        runTime: Duration? = nil, error: String? = nil
    ) {
        self.queue = queue
        self.handler = handler
        self.jobID = jobID
        self.attempt = attempt
        self.result = result
        self.timedOut = timedOut
        self.crashed = crashed
        self.runTime = runTime
        self.error = error
    }

    /// The run a settlement records; nil for a job handed back untouched.
    public init?(
        queue: String, handler: String, jobID: String, attempt: Int, settlement: Settlement, timedOut: Bool = false,
        runTime: Duration? = nil
    ) {
        let result: Result
        var error: String?
        var crashed = false
        switch settlement {
        case .done: result = .succeeded
        case .retry(_, let reason): (result, error) = (.retried, reason)
        case .dead(let reason): (result, error) = (.dead, reason)
        case .crashed(let retryAfter, let reason): (result, error, crashed) = (retryAfter == nil ? .dead : .retried, reason, true)
        case .release: return nil
        case .ended(let settlement, let cause):
            self.init(
                queue: queue, handler: handler, jobID: jobID, attempt: attempt, settlement: settlement,
                timedOut: timedOut || cause == .timeout, runTime: runTime)
            return
        }
        self.init(
            queue: queue, handler: handler, jobID: jobID, attempt: attempt, result: result, timedOut: result == .succeeded ? false : timedOut,
            crashed: crashed, runTime: runTime, error: error)
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
    /// `schedule` skipped `fireTime`: its previous run was still pending or running (`overlap: skip`).
    func skipped(schedule: String, at fireTime: Date)
}

extension ScheduleEventSink {
    public func skipped(schedule: String, at fireTime: Date) {}
}
