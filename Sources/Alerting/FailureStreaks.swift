import Synchronization

/// Counts failures in a row per subject, in this host's memory, and says when a streak should raise
/// an alert or has ended: for the scheduler's failures to enqueue, which are this host's own (runs are
/// counted by the backend, for every host).
///
/// Called on every scheduler pass, so a success of a subject with no streak costs a lock and at most
/// one dictionary lookup, and writes nothing.
public final class FailureStreaks: Sendable {
    /// Failures in a row that raise an alert.
    public let threshold: Int
    /// Subjects tracked at once, so the table cannot grow without bound; past this, new subjects are
    /// not counted.
    public let capacity: Int
    /// Failures in a row, by subject; a subject is here only while its streak lasts.
    private let streaks = Mutex<[AlertSubject: Int]>([:])

    /// - Parameter threshold: failures in a row that raise an alert, at least 1.
    public init(threshold: Int, capacity: Int = 10_000) {
        precondition(threshold >= 1, "an alert needs at least one failure")
        self.threshold = threshold
        self.capacity = capacity
    }

    /// Records one outcome of `subject`.
    ///
    /// - Returns: `.raised` exactly when this failure brings the streak to ``threshold`` (further
    ///   failures of the same streak return nil); `.recovered` for the first success after that;
    ///   nil otherwise.
    public func record(subject: AlertSubject, succeeded: Bool, detail: String = "") -> AlertEvent? {
        if succeeded {
            let ended = streaks.withLock { streaks -> Int? in
                guard !streaks.isEmpty, let index = streaks.index(forKey: subject) else { return nil }
                return streaks.remove(at: index).value
            }
            guard let ended, ended >= threshold else { return nil }
            return .recovered(subject, afterFailures: ended)
        }
        let failures = streaks.withLock { streaks -> Int in
            if let index = streaks.index(forKey: subject) {
                streaks.values[index] += 1
                return streaks.values[index]
            }
            guard streaks.count < capacity else { return 0 }
            streaks[subject] = 1
            return 1
        }
        return failures == threshold ? .raised(subject, failures: failures, lastError: detail) : nil
    }

    /// Failures in a row of `subject` so far; 0 when it has no streak.
    public func failures(of subject: AlertSubject) -> Int {
        streaks.withLock { $0[subject] ?? 0 }
    }
}
