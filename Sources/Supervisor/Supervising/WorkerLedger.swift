import Backend
import HostDomain

/// What one worker holds, as its reports say: every job it leased and not yet let go of, which of them
/// a handler is running and until when, and the jobs already found guilty of ending it.
struct WorkerLedger {
    struct Entry {
        var job: WorkerReport.HeldJob
        /// While a handler runs it: when the supervisor kills the worker.
        var killAt: ContinuousClock.Instant?
    }

    /// By the worker's number for the job.
    var held: [Int: Entry] = [:]
    /// Job number → why the worker's end is that job's fault.
    var culprits: [Int: String] = [:]
    /// Culprits the worker was killed for: their handler overran its deadline.
    var timedOut: Set<Int> = []
    var ready = false
    /// The plugin being loaded, until the worker is ready.
    var loading: String?
    /// Asked to drain (recycling or shutdown): a clean exit is expected.
    var draining = false
    /// Jobs let go of so far: finished, or handed back.
    var letGo = 0
    /// Resident memory past the queue's limit, when last measured.
    var residentPastLimit: Int?

    /// Applies one report. `grace`: how long past its deadline a handler may run before the kill.
    /// - Returns: the job whose outcome the report tells, if it does.
    @discardableResult
    mutating func apply(_ report: WorkerReport, grace: Duration, now: ContinuousClock.Instant) -> FinishedJob? {
        switch report {
        case .loading(let plugin): loading = plugin
        case .ready:
            ready = true
            loading = nil
        case .survey, .trial: break
        case .held(let job): held[job.number] = Entry(job: job)
        case .started(let number, let timeout): held[number]?.killAt = now + .milliseconds(timeout) + grace
        case .returned(let number): held[number]?.killAt = nil
        case .letGo(let number, let run):
            guard let entry = held.removeValue(forKey: number) else { return nil }
            letGo += 1
            guard let run else { return nil }
            let job = entry.job
            return run.finished(job)
        case .crashedBySignal(let signal, let id):
            blame(id, "worker crashed: \(signalName(signal))" + memoryNote)
        case .exitedInHandler(let status, let id):
            blame(id, "worker exited: the handler called exit(\(status))" + memoryNote)
        }
        return nil
    }

    /// Crash lines name the job by id (the reporter knows no numbers); they come once per worker.
    private mutating func blame(_ id: String, _ reason: String) {
        // The same job may be held twice for a moment (a run let go of, and its retry fetched again):
        // the one a handler runs is the culprit.
        let candidates = held.filter { $0.value.job.lease.jobID == id }
        if let number = (candidates.first { $0.value.killAt != nil } ?? candidates.first)?.key {
            culprits[number] = reason
        }
    }

    /// A crash of a worker past its memory limit is most likely an allocation that failed.
    private var memoryNote: String {
        residentPastLimit.map { " (the worker was past its memory limit, at \($0 >> 20) MiB resident)" } ?? ""
    }

    /// Running jobs whose time is up, not yet blamed.
    func overdue(at now: ContinuousClock.Instant) -> [Int] {
        held.compactMap { number, entry in
            guard let killAt = entry.killAt, now >= killAt, culprits[number] == nil else { return nil }
            return number
        }
    }
}
