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
/// any phase ─lease lost on renewal─▶ let go (a running handler is told to stop)
/// ```
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
    /// - Returns: the releases to queue (empty when the jobs wait for a slot).
    mutating func fetched(_ jobs: [LeasedJob]) -> [Outcome] {
        for job in jobs {
            entries[job.lease] = Entry(job: job, phase: stopping ? .settling(ran: nil, timedOut: false) : .buffered)
        }
        return stopping ? jobs.map { ($0.lease, .release) } : []
    }

    /// The fetcher fetches no more.
    mutating func fetcherEnded() { fetcherFinished = true }

    /// A slot is about to run `lease`'s handler until `deadline`. Only a job still held and waiting
    /// starts: shutdown or a pause may have handed it back, or its lease may have been lost, meanwhile.
    /// - Returns: whether to run it.
    mutating func start(_ lease: Lease, run: Run, deadline: ContinuousClock.Instant) -> Bool {
        guard case .buffered = entries[lease]?.phase else { return false }
        entries[lease]?.phase = .running(run, deadline: deadline, cancelled: false)
        return true
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
        if abandoned.remove(lease) != nil { return .abandoned }
        guard case .running = entries[lease]?.phase else { return .notHeld }
        entries[lease]?.phase = .settling(ran: ran, timedOut: false)
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

    /// Renewal found these leases lost (another host rescued the jobs): they are let go of at once, and
    /// the handlers running them are told to stop.
    /// - Returns: the leases that were held, and the handlers to cancel.
    mutating func leasesLost(_ leases: [Lease]) -> (letGo: [Lease], cancel: [Run]) {
        var letGo: [Lease] = []
        var cancel: [Run] = []
        for lease in leases {
            guard let entry = entries.removeValue(forKey: lease) else { continue }
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
    }

    /// At `now`: handlers past their deadline are told to stop; those still running `grace` later are
    /// written off — settled as `writeOff` says, their threads abandoned, and replaced while no more than
    /// `maxAbandoned` threads are abandoned (a thread per hung handler would exhaust the machine's).
    /// - Parameter grace: nil to never write off here (a supervisor kills the process instead).
    mutating func enforceDeadlines(
        now: ContinuousClock.Instant, grace: Duration?, maxAbandoned: Int, writeOff: (LeasedJob) -> Settlement
    ) -> Overdue {
        var overdue = Overdue()
        for (lease, entry) in entries {
            guard case .running(let run, let deadline, let cancelled) = entry.phase, now >= deadline else { continue }
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
