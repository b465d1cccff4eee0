import Backend
import HostDomain

/// The jobs a queue runner holds, each from its fetch until the backend has taken its outcome, and every
/// rule for moving between phases. A plain value the runner keeps under its mutex: no I/O, no threads,
/// no clock of its own (instants come in as arguments), so every transition is tested without a server.
///
/// ```
/// fetched ─▶ buffered ─start─▶ running ─returned─▶ settling ─recorded─▶ let go
///    │          │                 ├─written off (deadline + grace)─▶ settling, timed out; thread abandoned
///    │          │                 └─handed back (shutdown deadline)─▶ settling, release; thread abandoned
///    │          └─handed back (shutdown begins, queue paused)─▶ settling, release
///    └─(shutdown already begun)─▶ settling, release
/// any phase but settling ─lease lost on renewal─▶ let go (a running handler is told to stop)
/// ```
///
/// Each entry knows until when its lease is surely held: the moment the fetch or the last renewal that
/// confirmed it was asked for, plus the lease. A job is started only while that leaves room (a host that
/// stalled past its leases must not start jobs another host may have rescued), and a handler still
/// running past it is told to stop.
///
/// Each job is settled at most once: a job already settling refuses another settlement. `Run` is how a
/// running handler is reached (the runner's invocation context, whose cancel flag it raises).
struct HeldJobs<Run: Sendable>: Sendable {
    /// Where a held job is between its fetch and the backend taking its outcome.
    enum Phase: Sendable {
        /// Fetched, waiting for a slot.
        case buffered
        /// A handler runs it; `cancelled` once its cancel flag was raised.
        case running(Run, deadline: ContinuousClock.Instant, cancelled: Bool)
        /// Its outcome (or its release) is queued for the settler. `ran`: how long its handler ran, when
        /// it returned.
        case settling(ran: Duration?, timedOut: Bool)
    }

    struct Entry: Sendable {
        var job: LeasedJob
        var phase: Phase
        /// Until then the lease is surely this runner's (on this process's clock).
        var leaseHeldUntil: ContinuousClock.Instant
    }

    /// A settlement for the settler to record.
    typealias Outcome = (lease: Lease, settlement: Settlement)

    private(set) var entries: [Lease: Entry] = [:]
    /// Leases whose handler thread was given up on (written off, or handed back at shutdown): when that
    /// thread returns at last, it ends instead of taking more jobs.
    private(set) var abandoned: Set<Lease> = []
    private(set) var stopping = false
    private(set) var fetcherFinished = false

    // MARK: Fetching and starting

    /// Jobs just leased: they wait for a slot, or — once shutdown has begun — go straight back.
    /// - Parameter leaseHeldUntil: when the fetch was asked for, plus the lease.
    /// - Returns: the releases to queue (empty when the jobs wait for a slot).
    mutating func fetched(_ jobs: [LeasedJob], leaseHeldUntil: ContinuousClock.Instant) -> [Outcome] {
        for job in jobs {
            entries[job.lease] = Entry(
                job: job, phase: stopping ? .settling(ran: nil, timedOut: false) : .buffered, leaseHeldUntil: leaseHeldUntil)
        }
        return stopping ? jobs.map { ($0.lease, .release) } : []
    }

    /// The fetcher fetches no more.
    mutating func fetcherEnded() { fetcherFinished = true }

    /// Whether a slot may run a job now.
    enum Start: Sendable, Equatable {
        case started
        /// Not held and waiting any more: shutdown or a pause handed it back, or its lease was lost.
        case notHeld
        /// Held, but its lease may run out before the next renewal (or already has: the host stalled):
        /// confirm the lease with the backend first.
        case leaseUnsure
    }

    /// A slot is about to run `lease`'s handler until `deadline`, at `now`. Only a job still held and
    /// waiting starts, and only while its lease is surely held for `margin` more.
    mutating func start(
        _ lease: Lease, run: Run, deadline: ContinuousClock.Instant, now: ContinuousClock.Instant, margin: Duration = .zero
    ) -> Start {
        // By index: one lookup, and the entry is changed in place rather than copied (slots call this per job).
        guard let index = entries.index(forKey: lease), case .buffered = entries.values[index].phase else { return .notHeld }
        guard now + margin < entries.values[index].leaseHeldUntil else { return .leaseUnsure }
        entries.values[index].phase = .running(run, deadline: deadline, cancelled: false)
        return .started
    }

    // MARK: Outcomes

    /// What becomes of a handler's outcome once it returns.
    enum Return: Sendable, Equatable {
        /// Its settlement goes to the settler.
        case handOver
        /// The job is no longer held here (its lease was lost): the outcome is dropped, the slot goes on.
        case notHeld
        /// Its thread was given up on: the outcome is dropped and the thread ends.
        case abandoned
    }

    /// `lease`'s handler returned after running `ran`.
    mutating func returned(_ lease: Lease, ran: Duration) -> Return {
        if !abandoned.isEmpty, abandoned.remove(lease) != nil { return .abandoned }
        guard let index = entries.index(forKey: lease), case .running = entries.values[index].phase else { return .notHeld }
        entries.values[index].phase = .settling(ran: ran, timedOut: false)
        return .handOver
    }

    /// A settlement decided without the handler returning (an unknown handler, say).
    /// - Returns: false when the job is not held or already has one: each job is settled once.
    mutating func settle(_ lease: Lease, timedOut: Bool = false) -> Bool {
        guard let entry = entries[lease] else { return false }
        if case .settling = entry.phase { return false }
        entries[lease]?.phase = .settling(ran: nil, timedOut: timedOut)
        return true
    }

    /// What the backend's answer to a batch of settlements lets go of.
    struct Recorded: Sendable {
        /// Jobs no longer held, each with what its outcome tells (nil for a release or a lost lease).
        var letGo: [(lease: Lease, finished: FinishedJob?)] = []
        /// Jobs whose lease had been rescued before the outcome arrived: another host runs them again.
        var lost: [String] = []
    }

    /// The backend took `batch`; `stillHeld[i]` says whether item i's lease was still held. Items let go
    /// of meanwhile (their lease lost on renewal) are not let go again.
    mutating func recorded(_ batch: [Outcome], stillHeld: [Bool]) -> Recorded {
        var result = Recorded()
        result.letGo.reserveCapacity(batch.count)
        for ((lease, settlement), held) in zip(batch, stillHeld) {
            guard let entry = entries.removeValue(forKey: lease) else { continue }
            guard held else {
                result.lost.append(lease.jobID)
                result.letGo.append((lease, nil))
                continue
            }
            var finished: FinishedJob?
            if case .settling(let ran, let timedOut) = entry.phase {
                finished = FinishedJob(
                    queue: entry.job.queue, handler: entry.job.handler, jobID: entry.job.id, attempt: entry.job.attempt,
                    settlement: settlement, timedOut: timedOut, runTime: ran)
            }
            result.letGo.append((lease, finished))
        }
        return result
    }

    // MARK: Handing back

    /// Shutdown begins: nothing more starts, and the jobs waiting for a slot go back.
    /// - Returns: the releases to queue.
    mutating func beginShutdown() -> [Outcome] {
        stopping = true
        return handBackBuffered()
    }

    /// The jobs waiting for a slot go back untouched (shutdown, or the queue was paused).
    /// - Returns: the releases to queue.
    mutating func handBackBuffered() -> [Outcome] {
        var outcomes: [Outcome] = []
        for (lease, entry) in entries {
            guard case .buffered = entry.phase else { continue }
            entries[lease]?.phase = .settling(ran: nil, timedOut: false)
            outcomes.append((lease, .release))
        }
        return outcomes
    }

    /// The shutdown deadline passed: the jobs still running go back without using an attempt, their
    /// handlers are told to stop, and their threads are given up on.
    mutating func handBackRunning() -> (outcomes: [Outcome], cancel: [Run]) {
        var outcomes: [Outcome] = []
        var cancel: [Run] = []
        for (lease, entry) in entries {
            guard case .running(let run, _, _) = entry.phase else { continue }
            cancel.append(run)
            abandoned.insert(lease)
            entries[lease]?.phase = .settling(ran: nil, timedOut: false)
            outcomes.append((lease, .release))
        }
        return (outcomes, cancel)
    }

    /// A renewal asked for at `askedAt` answered, per lease, whether it is still held: the held ones
    /// are surely held until `askedAt + lease`; the others were rescued by another host and are let go
    /// of at once, the handlers running them told to stop. A job whose outcome is already on its way to
    /// the backend is left to that answer: its lease ended because it was settled, not rescued.
    /// - Returns: the leases lost here, and the handlers to cancel.
    mutating func renewed(
        _ leases: [Lease], stillHeld: [Bool], heldUntil: ContinuousClock.Instant
    ) -> (letGo: [Lease], cancel: [Run]) {
        var letGo: [Lease] = []
        var cancel: [Run] = []
        for (lease, held) in zip(leases, stillHeld) {
            guard let entry = entries[lease] else { continue }
            if held {
                entries[lease]?.leaseHeldUntil = max(entry.leaseHeldUntil, heldUntil)
                continue
            }
            if case .settling = entry.phase { continue }
            entries.removeValue(forKey: lease)
            letGo.append(lease)
            if case .running(let run, _, _) = entry.phase { cancel.append(run) }
        }
        return (letGo, cancel)
    }

    // MARK: Deadlines

    /// What passing deadlines call for.
    struct Overdue: Sendable {
        /// Handlers past their deadline: raise their cancel flag (once each).
        var cancel: [Run] = []
        /// Jobs whose handler ignored the cancel flag for `grace`: their settlements, to queue.
        var writtenOff: [(job: LeasedJob, settlement: Settlement)] = []
        /// Slots to start in place of written-off threads.
        var replacements = 0
        /// Jobs whose handlers were told to stop because they ran past their lease.
        var leaseOutlived: [LeasedJob] = []
    }

    /// At `now`: handlers past their deadline, or running past the moment their lease was surely held
    /// (the host stalled, or renewals fail), are told to stop; those still running `grace` after their
    /// deadline are written off — settled as `writeOff` says, their threads abandoned, and replaced while
    /// no more than `maxAbandoned` threads are abandoned (a thread per hung handler would exhaust the
    /// machine's).
    /// - Parameter grace: nil to never write off here (a supervisor kills the process instead).
    mutating func enforceDeadlines(
        now: ContinuousClock.Instant, grace: Duration?, maxAbandoned: Int, writeOff: (LeasedJob) -> Settlement
    ) -> Overdue {
        var overdue = Overdue()
        for (lease, entry) in entries {
            guard case .running(let run, let deadline, let cancelled) = entry.phase else { continue }
            if now >= entry.leaseHeldUntil, !cancelled {
                overdue.cancel.append(run)
                overdue.leaseOutlived.append(entry.job)
                entries[lease]?.phase = .running(run, deadline: deadline, cancelled: true)
                continue
            }
            guard now >= deadline else { continue }
            if !cancelled { overdue.cancel.append(run) }
            if let grace, now >= deadline + grace {
                abandoned.insert(lease)
                if abandoned.count <= maxAbandoned { overdue.replacements += 1 }
                entries[lease]?.phase = .settling(ran: nil, timedOut: true)
                overdue.writtenOff.append((entry.job, writeOff(entry.job)))
            } else if !cancelled {
                entries[lease]?.phase = .running(run, deadline: deadline, cancelled: true)
            }
        }
        return overdue
    }

    // MARK: Queries

    /// The jobs whose handlers run now, with their deadlines.
    var runningJobs: [(lease: Lease, deadline: ContinuousClock.Instant)] {
        entries.compactMap { lease, entry in
            if case .running(_, let deadline, _) = entry.phase { (lease, deadline) } else { nil }
        }
    }

    /// The jobs whose handlers run now, with how to reach each handler.
    var runs: [(lease: Lease, run: Run)] {
        entries.compactMap { lease, entry in
            if case .running(let run, _, _) = entry.phase { (lease, run) } else { nil }
        }
    }

    /// Whether a handler still runs a held job: shutdown waits for those. (A handler given up on runs
    /// no held job: its job is settling.)
    var anyRunning: Bool {
        entries.values.contains { if case .running = $0.phase { true } else { false } }
    }

    /// Whether some fetched job waits for a slot.
    var anyBuffered: Bool {
        entries.values.contains { if case .buffered = $0.phase { true } else { false } }
    }

    /// Every lease held: what renewal extends.
    var leases: [Lease] { Array(entries.keys) }

    /// The settler may end: shutdown began, the fetcher ended, and nothing held can produce an outcome.
    var settlerMayFinish: Bool { stopping && fetcherFinished && entries.isEmpty }
}
