import Foundation
import Durations

/// The values a job's fields may hold when a backend hands the job out, the same on every backend.
///
/// Producers in any language write jobs straight into a backend (docs/redis.md, docs/postgres.md), and
/// operators edit them by hand, so a fetched job may hold anything. Each backend checks these ranges in
/// the script or statement that leases the job, and moves a job holding a value outside them to dead
/// with a reason naming the field and the value (``unusableReason(field:value:problem:)``) in the same
/// atomic step. The ranges keep every later computation with the value — the next attempt, one more
/// crash, a deadline, a date — free of overflow, in Swift and in the backends alike. The decoders clamp
/// into them once more (``clamped(_:to:)``), so a value a backend let through still cannot trap the host.
public enum JobFieldLimits {
    /// `attempt` as stored before a fetch: the fetch adds one, which must still fit a 32-bit integer.
    public static let storedAttempt: ClosedRange<Int> = 0...(Int(Int32.max) - 1)
    /// `attempt` of a fetched job (after the fetch counted it).
    public static let attempt: ClosedRange<Int> = 1...Int(Int32.max)
    public static let maxAttempts: ClosedRange<Int> = 1...Int(Int32.max)
    /// `crashes`: one more crash must still fit a 32-bit integer.
    public static let crashes: ClosedRange<Int> = 0...(Int(Int32.max) - 1)
    /// A job's own timeout, in milliseconds (about 24.8 days at most): any deadline computed from it
    /// fits every clock and unit the host uses. No timeout at all is the absence of a value.
    public static let timeoutMilliseconds: ClosedRange<Int> = 1...Int(Int32.max)
    /// Times (`enqueued_at`, `run_at`) in milliseconds since the epoch: from 0001-01-01 to
    /// 9999-12-31T23:59:59.999Z, UTC.
    public static let timestampMilliseconds: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    /// The reason a job that cannot be used goes to dead with: `unusable job: attempt = 2147483647 is
    /// out of range`. The backends' scripts and statements write the same words.
    public static func unusableReason(field: String, value: String, problem: String = "is out of range") -> String {
        "unusable job: \(field) = \(value) \(problem)"
    }

    /// `value` moved into `range`.
    public static func clamped<T: Comparable>(_ value: T, to range: ClosedRange<T>) -> T {
        min(max(value, range.lowerBound), range.upperBound)
    }

    /// A job's own timeout from milliseconds as stored: none for 0 or less, at most
    /// ``timeoutMilliseconds``'s upper bound.
    public static func timeout(milliseconds: Int) -> Duration? {
        milliseconds > 0 ? .milliseconds(clamped(milliseconds, to: timeoutMilliseconds)) : nil
    }

    /// A date from milliseconds since the epoch, within ``timestampMilliseconds``.
    public static func date(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(clamped(milliseconds, to: timestampMilliseconds)) / 1000)
    }

    /// A date from microseconds since the epoch, within ``timestampMilliseconds``.
    public static func date(microseconds: Int64) -> Date {
        let range = (timestampMilliseconds.lowerBound * 1000)...(timestampMilliseconds.upperBound * 1000 + 999)
        return Date(timeIntervalSince1970: Double(clamped(microseconds, to: range)) / 1_000_000)
    }
}

extension LeasedJob {
    /// A leased job from the values a backend's claim returned, each moved into ``JobFieldLimits``:
    /// the claim checked them already, and clamping again means nothing it let through can make the
    /// host's arithmetic trap later.
    public init(
        claimed lease: Lease, handler: String, payload: Data, attempt: Int, maxAttempts: Int, enqueuedAt: Date,
        timeoutMilliseconds: Int?, lastError: String?, crashes: Int
    ) {
        self.init(
            lease: lease, handler: handler, payload: payload, attempt: JobFieldLimits.clamped(attempt, to: JobFieldLimits.attempt),
            maxAttempts: JobFieldLimits.clamped(maxAttempts, to: JobFieldLimits.maxAttempts), enqueuedAt: enqueuedAt,
            timeout: timeoutMilliseconds.flatMap(JobFieldLimits.timeout(milliseconds:)), lastError: lastError,
            crashes: JobFieldLimits.clamped(crashes, to: JobFieldLimits.crashes))
    }
}

extension NewJob {
    /// Refuses, with `.invalid` naming the job, what no backend may store: an empty id or handler,
    /// `maxAttempts` or a timeout outside ``JobFieldLimits`` (a fetch would refuse them as unusable),
    /// a payload that is not JSON.
    public func checkStorable() throws(BackendError) {
        guard !id.isEmpty else { throw BackendError(.invalid, "a job of queue \(queue) has an empty id") }
        guard !handler.isEmpty else { throw BackendError(.invalid, "job \(id) names no handler") }
        guard JobFieldLimits.maxAttempts.contains(maxAttempts) else {
            throw BackendError(.invalid, "job \(id) has maxAttempts \(maxAttempts); it must be from 1 to \(JobFieldLimits.maxAttempts.upperBound)")
        }
        if let timeout, timeout.roundedUpMilliseconds > JobFieldLimits.timeoutMilliseconds.upperBound {
            throw BackendError(.invalid, "job \(id) has a timeout longer than \(JobFieldLimits.timeoutMilliseconds.upperBound) ms")
        }
        try concurrency?.check(job: id)
        guard (try? JSONSerialization.jsonObject(with: payload, options: [.fragmentsAllowed])) != nil else {
            throw BackendError(.invalid, "the payload of job \(id) (handler \(handler)) is not JSON")
        }
    }
}
