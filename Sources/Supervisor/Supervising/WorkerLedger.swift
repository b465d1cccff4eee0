import Backend
import HostDomain
import PluginHost

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
    /// Culprits whose handler crashed the worker by a signal: its name (`SIGSEGV`).
    var culpritSignals: [Int: String] = [:]
    var ready = false
    /// The plugin being loaded, until the worker is ready.
    var loading: String?
    /// The step of loading it under way, the file, and since when (the supervisor's clock).
    var loadStage: (stage: PluginLoadStage, path: String, since: ContinuousClock.Instant)?
    /// Why the supervisor killed the worker while it was loading a plugin.
    var loadKilled: PluginRefusal?
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
        case .loading(let plugin):
            loading = plugin
            loadStage = nil
        case .stage(let stage, let path): loadStage = (stage, path, now)
        case .ready:
            ready = true
            loading = nil
            loadStage = nil
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
            blame(id, "worker crashed: \(signalName(signal))" + memoryNote, signal: signalName(signal))
        case .exitedInHandler(let status, let id):
            blame(id, "worker exited: the handler called exit(\(status))" + memoryNote)
        }
        return nil
    }

    /// Crash lines name the job by id (the reporter knows no numbers); they come once per worker.
    private mutating func blame(_ id: String, _ reason: String, signal: String? = nil) {
        // The same job may be held twice for a moment (a run let go of, and its retry fetched again):
        // the one a handler runs is the culprit.
        let candidates = held.filter { $0.value.job.lease.jobID == id }
        if let number = (candidates.first { $0.value.killAt != nil } ?? candidates.first)?.key {
            culprits[number] = reason
            culpritSignals[number] = signal
        }
    }

    /// A crash of a worker past its memory limit is most likely an allocation that failed.
    private var memoryNote: String {
        residentPastLimit.map { " (the worker was past its memory limit, at \($0 >> 20) MiB resident)" } ?? ""
    }

    /// The refusal of the plugin being loaded if a step of it running plugin code has gone on for
    /// longer than `limit` (what follows the last plugin, starting the queues, is not bounded here).
    func loadOverdue(at now: ContinuousClock.Instant, limit: Duration) -> PluginRefusal? {
        guard !ready, loadKilled == nil, let plugin = loading, let current = loadStage, current.stage != .done,
            now - current.since >= limit
        else { return nil }
        return .loadingEnded(plugin: plugin, path: current.path.isEmpty ? nil : current.path, stage: current.stage, end: .hung(limit: limit))
    }

    /// What the plugin being loaded did, when the worker ended before it was ready; nil when it
    /// ended past the plugins' steps (a worker that found a plugin refused exits by itself, saying why).
    func loadEnded(_ exit: WorkerExit) -> PluginRefusal? {
        if let loadKilled { return loadKilled }
        guard !ready, let plugin = loading, loadStage?.stage != .done else { return nil }
        let stage = loadStage?.stage ?? .checks
        let path = loadStage.map(\.path).flatMap { $0.isEmpty ? nil : $0 }
        return .loadingEnded(plugin: plugin, path: path, stage: stage, end: exit.processEnd)
    }

    /// Running jobs whose time is up, not yet blamed.
    func overdue(at now: ContinuousClock.Instant) -> [Int] {
        held.compactMap { number, entry in
            guard let killAt = entry.killAt, now >= killAt, culprits[number] == nil else { return nil }
            return number
        }
    }
}
