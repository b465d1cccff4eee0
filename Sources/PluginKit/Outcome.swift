/// How a job ended, as a handler reports it.
public enum Outcome: Sendable, Equatable {
    /// The job is done.
    case success
    /// Failed this time; run it again after `delay`, or after the queue's backoff when `delay` is nil,
    /// until its attempts are used up.
    case retry(String, after: Duration? = nil)
    /// Failed for good (a bad payload, a record that no longer exists): the job goes to the dead set.
    case discard(String)
}

/// Thrown from a handler to end the job as ``Outcome/discard(_:)`` without writing the `return`.
///
/// Any other error a handler throws ends the attempt as ``Outcome/retry(_:after:)`` with the error's
/// description, because an unexpected error is more often passing (a timeout, a lost connection) than not.
public struct DiscardJob: Error, CustomStringConvertible, Sendable {
    /// Why the job can never succeed.
    public let reason: String

    /// Ends the job as discarded with `reason`.
    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}
