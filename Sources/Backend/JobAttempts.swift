import Foundation

/// One run of a job, as the job's attempt history keeps it: the backend appends one when a run ends
/// (settled, rescued after its lease expired, or taken back from a holder that is gone), in the same
/// atomic step, and keeps the last ``JobAttempt/limit`` with the job.
public struct JobAttempt: Sendable, Codable, Equatable {
    /// How a run ended.
    public enum Outcome: String, Sendable, Codable, CaseIterable {
        /// The handler succeeded.
        case done
        /// The handler failed; the job runs again after backoff.
        case retry
        /// The job went dead: the handler discarded it, or it failed its last attempt.
        case dead
        /// The handler overran its timeout: written off, or its worker killed for it.
        case timeout
        /// The worker process running it died (``JobAttempt/signal`` says how, when known).
        case crashed
        /// Its lease expired (the host stalled or died) and the job was rescued.
        case leaseLost = "lease_lost"
        /// Handed back without using the attempt: at shutdown, on a pause, or sharing a dead worker.
        case released
    }

    /// The job's attempt count during this run: 1 for its first. A released run gives its attempt
    /// back, so the next run has the same number.
    public var number: Int
    /// The `host.name` of the host that ran it, from its lease owner id; nil when the backend that
    /// leased it was given no lease owner (then nothing tells the host).
    public var host: String?
    /// Which holder in that host ran it: `host` for the host's own threads, `<worker name>-<pid>` for
    /// a worker process; nil with no lease owner.
    public var worker: String?
    /// The lease owner id as recorded (`<host name>#<instance>/<holder>/<fetch call>`).
    public var leaseOwner: String?
    /// When it was leased (the backend's clock).
    public var startedAt: Date
    /// When it ended (the backend's clock).
    public var endedAt: Date
    /// `endedAt − startedAt`, in seconds: lease to settlement, so it includes the wait for a slot.
    public var runSeconds: Double
    public var outcome: Outcome
    /// The signal that ended the worker, for ``Outcome/crashed``, when known (`SIGSEGV`).
    public var signal: String?
    /// Why it failed, at most ``errorLimit`` characters; nil for done and released runs.
    public var error: String?

    /// How many runs a job keeps: the latest ones.
    public static let limit = 25
    /// Characters of an error a run keeps (the job's `lastError` keeps the whole of the latest).
    public static let errorLimit = 2_000

    public init(
        number: Int, leaseOwner: String?, startedAt: Date, endedAt: Date, outcome: Outcome, signal: String? = nil, error: String? = nil
    ) {
        self.number = number
        let owner = leaseOwner.flatMap { $0.isEmpty ? nil : $0 }
        self.leaseOwner = owner
        (host, worker) = owner.map(Self.holder(of:)) ?? (nil, nil)
        self.startedAt = startedAt
        self.endedAt = endedAt
        runSeconds = max(0, endedAt.timeIntervalSince(startedAt))
        self.outcome = outcome
        self.signal = signal
        self.error = error
    }

    /// The outcome as operators read it: `crashed (SIGSEGV)`.
    public var outcomeText: String {
        signal.map { "\(outcome.rawValue) (\($0))" } ?? outcome.rawValue
    }

    /// Host name and holder from an owner id `<host name>#<instance>/<holder>/<n>`. An id of another
    /// shape (a producer's own) is the host, with no holder.
    static func holder(of owner: String) -> (host: String, worker: String?) {
        let parts = owner.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, let mark = parts[0].firstIndex(of: "#") else { return (owner, nil) }
        let worker = parts[1..<(parts.count - 1)].joined(separator: "/")
        return (String(parts[0][..<mark]), worker.isEmpty ? nil : worker)
    }

    /// The history as a backend stores it: a JSON array of objects `{"n": 3, "owner": "…", "start": ms,
    /// "end": ms, "outcome": "retry", "signal": "SIGSEGV", "error": "…"}` (times in milliseconds since
    /// the epoch, the backend's clock; `signal` and `error` may be missing or null), oldest first.
    /// Entries that are not such objects (an edit) are skipped, and unreadable text is no history: a
    /// damaged history must not hide the job.
    public static func stored(_ json: Data?) -> [JobAttempt] {
        guard let json, !json.isEmpty, let array = try? JSONSerialization.jsonObject(with: json) as? [Any] else { return [] }
        return array.compactMap { item in
            guard let entry = item as? [String: Any], let number = integer(entry["n"]), let start = integer(entry["start"]),
                let end = integer(entry["end"]), let outcomeText = entry["outcome"] as? String,
                let outcome = Outcome(rawValue: outcomeText)
            else { return nil }
            return JobAttempt(
                number: number, leaseOwner: entry["owner"] as? String,
                startedAt: JobFieldLimits.date(milliseconds: Int64(start)), endedAt: JobFieldLimits.date(milliseconds: Int64(end)),
                outcome: outcome, signal: (entry["signal"] as? String).flatMap { $0.isEmpty ? nil : $0 },
                error: (entry["error"] as? String).flatMap { $0.isEmpty ? nil : $0 })
        }
    }

    private static func integer(_ value: Any?) -> Int? {
        guard let number = value as? NSNumber else { return nil }
        let double = number.doubleValue
        guard double.isFinite, abs(double) < 1e15 else { return nil }
        return Int(double)
    }
}

/// Why the runtime itself ended an attempt: what ``Settlement/ended(_:_:)`` adds to a settlement for
/// the job's attempt history.
public enum AttemptCause: Sendable, Equatable {
    /// The handler overran its timeout (written off, or its worker killed).
    case timeout
    /// The worker process running it died; `signal` is the signal's name when one ended it.
    case crash(signal: String?)
}

extension Settlement {
    /// The write the backend makes: the settlement itself, or the one ``ended(_:_:)`` wraps.
    public var write: Settlement {
        if case .ended(let settlement, _) = self { return settlement.write }
        return self
    }

    /// What the job's attempt history records for the run this settles.
    public var attemptOutcome: (outcome: JobAttempt.Outcome, signal: String?) {
        switch self {
        case .done: (.done, nil)
        case .retry: (.retry, nil)
        case .dead: (.dead, nil)
        case .release: (.released, nil)
        case .crashed: (.crashed, nil)
        case .ended(_, .timeout): (.timeout, nil)
        case .ended(_, .crash(let signal)): (.crashed, signal)
        }
    }
}
