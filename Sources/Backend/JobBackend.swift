import Foundation

/// Where jobs live: the verbs every backend offers. All calls block the calling thread (they talk to
/// a server): call them from threads the runtime owns, never from Swift's cooperative pool. All are
/// safe to call from several threads at once.
///
/// Every time that matters — lease deadlines, run times, retention — is taken from the backend's own
/// clock, never the host's, so hosts with skewed clocks agree.
public protocol JobBackend: Sendable {
    /// Adds jobs; returns the id each one has (for a `uniqueKey` already live: the existing job's id).
    func enqueue(_ jobs: [NewJob]) throws(BackendError) -> [String]

    /// Leases up to `limit` ready jobs of `queue` for `lease`, oldest first. Due scheduled jobs are
    /// made ready first. Each fetch counts an attempt. A job whose concurrency key is at its limit is
    /// passed over, uncounted, for the jobs behind it (see ``ConcurrencyLimit``).
    func fetch(queue: String, limit: Int, lease: Duration) throws(BackendError) -> [LeasedJob]

    /// Blocks up to `timeout` until `queue` may have work (a job enqueued, or a scheduled one due).
    /// May return early; the caller fetches and waits again. Never the only way work is found.
    func waitForWork(queue: String, timeout: Duration) throws(BackendError)

    /// Settles leased jobs. Returns, per item, whether the lease was still held: a `false` means the
    /// lease had been rescued and the settlement was ignored. A failed attempt that is retried (a
    /// ``Settlement/retry(after:error:)``, or a ``Settlement/crashed(retryAfter:error:)`` with a delay)
    /// joins the line where `retryPosition` says; every other item ignores it.
    func settle(_ settlements: [(Lease, Settlement)], retryPosition: RetryPosition) throws(BackendError) -> [Bool]

    /// Pushes the lease deadlines of running jobs to now + `lease`. Returns, per lease, whether it was
    /// still held.
    func extend(_ leases: [Lease], by lease: Duration) throws(BackendError) -> [Bool]

    /// Records how far running jobs got (their handlers' heartbeats), for operators. Returns, per
    /// item, whether the lease was still held (nothing is written for one that was not).
    func recordProgress(_ items: [(Lease, JobProgress)]) throws(BackendError) -> [Bool]

    /// Makes jobs whose lease expired ready again (their attempt stays counted), or dead when their
    /// attempts are used up. Returns how many were rescued and how many went dead.
    func rescueExpired(queue: String, limit: Int) throws(BackendError) -> (rescued: Int, dead: Int)

    /// Removes done jobs that finished before now − `retention`; returns how many.
    func prune(queue: String, retention: Duration, limit: Int) throws(BackendError) -> Int

    /// Removes up to `limit` dead jobs that died before now − `retention` (the backend's clock), each
    /// with its attempt history and whatever unique-key claim it still held; returns how many.
    func pruneDead(queue: String, retention: Duration, limit: Int) throws(BackendError) -> Int

    func stats(queue: String) throws(BackendError) -> QueueStats

    /// Pauses or resumes `queue` for every host on this backend; the state persists until changed.
    /// While a queue is paused, ``fetch(queue:limit:lease:)`` returns no jobs (from the next call of
    /// any host on) and ``waitForWork(queue:timeout:)`` does not count its jobs as work, so an idle
    /// host sleeps rather than polls. Everything else goes on: enqueues land and jobs pile up as
    /// ready, leased jobs run to the end and settle, leases are extended and expired ones rescued.
    /// Setting the state the queue already has changes nothing. ``QueueStats/paused`` shows it.
    func setPaused(queue: String, _ paused: Bool) throws(BackendError)

    /// Whether `queue` is paused: one cheap read, for runners holding fetched jobs to hand them back.
    func isPaused(queue: String) throws(BackendError) -> Bool

    /// Jobs of `queue` in `state`, newest first. Their ``JobInfo/attempts`` are left empty (and
    /// ``JobInfo/uniqueKey`` may be nil), so listings stay cheap.
    func list(queue: String, state: JobState, offset: Int, limit: Int) throws(BackendError) -> [JobInfo]

    /// One job, wherever it is, with its attempt history and unique key.
    func job(queue: String, id: String) throws(BackendError) -> JobInfo?

    /// Moves a dead job back to ready with fresh attempts. False if it is not dead.
    func retryDead(queue: String, id: String) throws(BackendError) -> Bool

    /// Deletes a dead job. False if it is not dead.
    func discardDead(queue: String, id: String) throws(BackendError) -> Bool

    /// Deletes one ready or scheduled job, with its unique-key claim, in one atomic step; a running job
    /// is never deleted (see ``CancelOutcome``).
    func cancel(queue: String, id: String) throws(BackendError) -> CancelOutcome

    /// Deletes ready or scheduled jobs of `queue` that `selection` picks, looking at a bounded batch per
    /// call; running jobs are never touched. Start with ``PendingCursor/start`` and pass each answer's
    /// `next` until it is nil (see ``JobBackend/discardAllPending(queue:_:batch:progress:)``).
    func discardPending(
        queue: String, _ selection: PendingSelection, from cursor: PendingCursor, limit: Int
    ) throws(BackendError) -> PendingDiscardBatch

    /// Jobs of `queue` in any state whose id or handler equals `text`, or whose payload (its JSON text)
    /// contains it, case-sensitively; newest enqueued first, at most `limit`.
    func search(queue: String, text: String, limit: Int) throws(BackendError) -> JobSearchResult

    /// Checks the backend answers; throws why not.
    func ping() throws(BackendError)
}

extension JobBackend {
    /// Settles with retries at the front of the line (see ``RetryPosition``).
    public func settle(_ settlements: [(Lease, Settlement)]) throws(BackendError) -> [Bool] {
        try settle(settlements, retryPosition: .front)
    }
}

/// Why a backend call failed.
public struct BackendError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The server cannot be reached or the connection broke: retry with backoff.
        case unavailable
        /// The server answered with an error.
        case server
        /// Data in the backend is not what the host wrote (a key of the wrong type, a job missing
        /// fields): an operator must look.
        case corrupt
        /// The request itself is wrong (a payload that is not JSON, an unknown queue).
        case invalid
    }

    public var code: Code
    /// What happened, secrets masked.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// Worth retrying after a pause.
    public var isTransient: Bool { code == .unavailable }
}

/// A backend that records schedule fires, so one fire time enqueues one job however many hosts run
/// the scheduler, and a paused or lagging host cannot fire again what another already fired.
public protocol ScheduleStore: Sendable {
    /// The backend's clock. Fire times are judged by it, never by the host's, so a host whose clock
    /// runs ahead cannot fire early.
    func now() throws(BackendError) -> Date

    /// Enqueues `job` as the fire of `schedule` at `fireTime` — atomically with recording the fire —
    /// unless that fire or a later one was already recorded. Fire times only move forward.
    /// - Returns: the job's id when this call fired it; nil when another host already had.
    /// - Throws: `.invalid` for a fire time later than the backend's clock.
    /// Like ``claimFire(schedule:at:job:)``, and with `overlap` ``FireOverlap/skip`` a fire time whose
    /// previous run (the job of the schedule's last fire) is still ready, scheduled or running is
    /// recorded as skipped instead — the fire time claimed, the skip kept in ``recentFires`` naming the
    /// run that was still live, and no job enqueued — in the same atomic step.
    func claimFire(schedule: String, at fireTime: Date, job: NewJob, overlap: FireOverlap) throws(BackendError) -> FireClaim

    /// The latest fire of `schedule` recorded with `queue` (the queue its jobs go to), and its job's id.
    func lastFire(schedule: String, queue: String) throws(BackendError) -> (fireTime: Date, jobID: String)?

    /// The latest fires of `schedule` recorded with `queue`, newest first, at most `limit` of the last
    /// ``ScheduleFire/kept``: recorded by ``claimFire(schedule:at:job:)`` in its atomic step.
    func recentFires(schedule: String, queue: String, limit: Int) throws(BackendError) -> [ScheduleFire]

    /// Switches `schedule` (whose jobs go to `queue`) off or on for every host on this backend; the
    /// switch persists until changed. While it is off, ``claimFire(schedule:at:job:)`` fires nothing
    /// (returns nil). Fire times that passed while it was off are never fired, not even as a
    /// catch-up: once it is on again, a fire time not later than that moment is refused as if fired.
    /// Setting the state it already has changes nothing, not even ``ScheduleSwitch/changedAt``.
    func setDisabled(schedule: String, queue: String, _ disabled: Bool) throws(BackendError)

    /// Whether an operator switched `schedule` (whose jobs go to `queue`) off, and when it last changed.
    func scheduleSwitch(schedule: String, queue: String) throws(BackendError) -> ScheduleSwitch
}

extension ScheduleStore {
    public func claimFire(schedule: String, at fireTime: Date, job: NewJob) throws(BackendError) -> String? {
        try claimFire(schedule: schedule, at: fireTime, job: job, overlap: .allow).firedJobID
    }
}

/// An operator's switch on one schedule, kept in the backend beside its fires (the config's
/// `enabled: false` is another matter: such a schedule is not run at all).
public struct ScheduleSwitch: Sendable, Equatable {
    /// Off: the schedule fires nothing.
    public var disabled: Bool
    /// When it was last switched off or on (the backend's clock); nil if it never was.
    public var changedAt: Date?

    public init(disabled: Bool = false, changedAt: Date? = nil) {
        self.disabled = disabled
        self.changedAt = changedAt
    }
}
