import Foundation

/// A job to enqueue.
public struct NewJob: Sendable, Equatable {
    /// Unique and sortable; ``JobID/generate()`` makes one.
    public var id: String
    public var queue: String
    /// e.g. `noctua.strategy_batch`.
    public var handler: String
    /// JSON bytes.
    public var payload: Data
    /// Runs before it goes to the dead set.
    public var maxAttempts: Int
    /// Run no earlier than now (the backend's clock) plus this.
    public var delay: Duration
    /// Overrides the queue's and handler's timeout for this job.
    public var timeout: Duration?
    /// While a job with this key is pending or running, another with the same key is not enqueued.
    public var uniqueKey: String?
    /// Where the job came from, for operators, when not a plain enqueue: `schedule <name> <fire time>`,
    /// `schedule <name> <fire time> (catch-up)`, `manual trigger of schedule <name>`.
    public var origin: String?
    /// At most ``ConcurrencyLimit/limit`` jobs of the queue with this key run at once, across every host
    /// of the backend; the others wait (see ``ConcurrencyLimit``). nil: no limit.
    public var concurrency: ConcurrencyLimit?

    public init(
        id: String = JobID.generate(), queue: String, handler: String, payload: Data, maxAttempts: Int,
        delay: Duration = .zero, timeout: Duration? = nil, uniqueKey: String? = nil, origin: String? = nil,
        concurrency: ConcurrencyLimit? = nil
    ) {
        self.id = id
        self.queue = queue
        self.handler = handler
        self.payload = payload
        self.maxAttempts = maxAttempts
        self.delay = delay
        self.timeout = timeout
        self.uniqueKey = uniqueKey
        self.origin = origin
        self.concurrency = concurrency
    }
}

/// The proof that a host holds a job: completing, failing or releasing it needs this token, and a
/// token goes stale once the lease is rescued, so a host that lost its lease cannot touch the job.
public struct Lease: Sendable, Hashable {
    public var queue: String
    public var jobID: String
    /// Changes every time the job is fetched.
    public var token: String

    public init(queue: String, jobID: String, token: String) {
        self.queue = queue
        self.jobID = jobID
        self.token = token
    }
}

/// A job fetched under a lease.
public struct LeasedJob: Sendable {
    public var lease: Lease
    public var handler: String
    public var payload: Data
    /// 1 on the first run; counts every fetch, including ones whose lease expired.
    public var attempt: Int
    public var maxAttempts: Int
    public var enqueuedAt: Date
    public var timeout: Duration?
    /// The error of the previous attempt, if any.
    public var lastError: String?
    /// How many times this job crashed (or hung) the worker process running it, before this fetch: a
    /// supervisor sends a job that keeps crashing workers to dead as poison.
    public var crashes: Int

    public init(
        lease: Lease, handler: String, payload: Data, attempt: Int, maxAttempts: Int, enqueuedAt: Date,
        timeout: Duration?, lastError: String?, crashes: Int = 0
    ) {
        self.lease = lease
        self.handler = handler
        self.payload = payload
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.enqueuedAt = enqueuedAt
        self.timeout = timeout
        self.lastError = lastError
        self.crashes = crashes
    }

    public var id: String { lease.jobID }
    public var queue: String { lease.queue }
}

/// What the runtime decided about a leased job.
public enum Settlement: Sendable, Equatable {
    /// Finished: kept as done for `retention`, then pruned, with the handler's `result` (JSON text) if
    /// it set one.
    case done(retention: Duration, result: String? = nil)
    /// Failed this attempt: ready again after `delay` (backend clock).
    case retry(after: Duration, error: String)
    /// Failed for good: into the dead set with `error`.
    case dead(error: String)
    /// Handed back untouched: ready again at once, the attempt not counted.
    case release
    /// Failed this attempt by crashing (or hanging) the worker process that ran it: counts one crash
    /// on the job, then like ``retry(after:error:)`` — or like ``dead(error:)`` when `retryAfter` is nil.
    case crashed(retryAfter: Duration?, error: String)
    /// `settlement` (a ``retry(after:error:)``, ``dead(error:)`` or ``crashed(retryAfter:error:)``) of a
    /// run the runtime ended itself, with why: the backend writes `settlement`, and the job's attempt
    /// history records the cause (a timeout, a crash by a signal) rather than a plain failure.
    indirect case ended(Settlement, AttemptCause)
}

/// How far a running job got, as its handler last said in a heartbeat.
public struct JobProgress: Sendable, Equatable {
    /// 0 to 1; nil when the handler did not say.
    public var fraction: Double?
    /// A short status, at most ``JobProgress/noteLimit`` characters; nil when none.
    public var note: String?

    public static let noteLimit = 500

    public init(fraction: Double?, note: String?) {
        self.fraction = fraction.flatMap { $0.isFinite && $0 >= 0 ? min($0, 1) : nil }
        self.note = note.map { String($0.prefix(Self.noteLimit)) }
    }
}

/// The states a job passes through.
public enum JobState: String, Sendable, Codable, CaseIterable {
    /// Waiting to be fetched.
    case ready
    /// Leased by a host.
    case running
    /// Waiting for its run time (delayed, or a retry after backoff).
    case scheduled
    /// Finished, kept for the retention period.
    case done
    /// Failed for good or discarded; stays until an operator acts.
    case dead
}

/// One job as an operator sees it.
public struct JobInfo: Sendable, Codable, Equatable {
    public var id: String
    public var queue: String
    public var handler: String
    public var state: JobState
    public var payload: String
    public var attempt: Int
    public var maxAttempts: Int
    public var enqueuedAt: Date
    public var lastError: String?
    /// When the job last changed state (finished, died, or became due).
    public var updatedAt: Date?
    /// Where it came from when not a plain enqueue (see ``NewJob/origin``).
    public var origin: String?
    /// Worker processes it crashed, ever (see ``LeasedJob/crashes``).
    public var crashes: Int
    /// What its handler reported it produced (JSON text), once it is done.
    public var result: String?
    /// How far its handler said it got, 0 to 1 (heartbeat), while it runs and after.
    public var progress: Double?
    /// The handler's last status note (heartbeat).
    public var note: String?
    /// The key that keeps a second live job with the same key out (see ``NewJob/uniqueKey``), if any.
    /// Filled by ``JobBackend/job(queue:id:)``; listings may leave it nil.
    public var uniqueKey: String?
    /// The job's last runs, oldest first, at most ``JobAttempt/limit``; kept with the job (a retry
    /// from dead keeps them) and gone with it. Filled by ``JobBackend/job(queue:id:)``; listings leave
    /// it empty, to stay cheap.
    public var attempts: [JobAttempt]

    public init(
        id: String, queue: String, handler: String, state: JobState, payload: String, attempt: Int, maxAttempts: Int,
        enqueuedAt: Date, lastError: String?, updatedAt: Date?, origin: String? = nil, crashes: Int = 0, result: String? = nil,
        progress: Double? = nil, note: String? = nil, uniqueKey: String? = nil, attempts: [JobAttempt] = []
    ) {
        self.id = id
        self.queue = queue
        self.handler = handler
        self.state = state
        self.payload = payload
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.enqueuedAt = enqueuedAt
        self.lastError = lastError
        self.updatedAt = updatedAt
        self.origin = origin
        self.crashes = crashes
        self.result = result
        self.progress = progress
        self.note = note
        self.uniqueKey = uniqueKey
        self.attempts = attempts
    }
}

/// Counts for one queue.
public struct QueueStats: Sendable, Codable, Equatable {
    public var queue: String
    public var ready: Int
    public var running: Int
    public var scheduled: Int
    public var dead: Int
    /// Finished jobs still kept (within retention).
    public var done: Int
    /// Jobs finished successfully, ever.
    public var processed: Int
    /// Failed attempts, ever (retries and deaths).
    public var failed: Int
    /// How long the oldest ready job has waited, if any is waiting.
    public var oldestReadyAge: Duration?
    /// Hosts take none of its jobs (see ``JobBackend/setPaused(queue:_:)``).
    public var paused: Bool

    public init(
        queue: String, ready: Int = 0, running: Int = 0, scheduled: Int = 0, dead: Int = 0, done: Int = 0, processed: Int = 0,
        failed: Int = 0, oldestReadyAge: Duration? = nil, paused: Bool = false
    ) {
        self.queue = queue
        self.ready = ready
        self.running = running
        self.scheduled = scheduled
        self.dead = dead
        self.done = done
        self.processed = processed
        self.failed = failed
        self.oldestReadyAge = oldestReadyAge
        self.paused = paused
    }
}

/// Job ids: 26 characters of Crockford base32, a millisecond timestamp then 80 random bits, so ids
/// sort by creation time (like ULIDs) and two hosts never make the same one.
public enum JobID {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    public static func generate(now: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        return generate(milliseconds: UInt64(max(0, now.timeIntervalSince1970 * 1000)), using: &generator)
    }

    static func generate(milliseconds: UInt64, using generator: inout some RandomNumberGenerator) -> String {
        var bytes = [UInt8](repeating: 0, count: 26)
        var time = milliseconds
        for index in stride(from: 9, through: 0, by: -1) {
            bytes[index] = alphabet[Int(time & 31)]
            time >>= 5
        }
        var random = (UInt128(generator.next()) << 64) | UInt128(generator.next())
        for index in 10..<26 {
            bytes[index] = alphabet[Int(random & 31)]
            random >>= 5
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
