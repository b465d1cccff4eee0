import Backend
import Foundation
import Glibc
import HostConfig
import HostDomain
import Logging
import PluginHost
import Runtime
import Synchronization
import Threads

/// One worker process kept alive by the supervisor: started, watched through its reports, settled
/// for when it ends, and started again (at once after a clean recycle, with backoff after crashes).
final class SupervisedWorker: Sendable {
    let name: String
    /// The queue it serves.
    let queue: String
    private let launch: WorkerLaunch
    private let assignment: WorkerAssignment
    private let settlement: CrashSettlement
    private let backends: [String: any JobBackend]
    private let grace: Duration
    private let logger: Logger
    private let memoryLimit: Int?
    private let events: (any JobEventSink)?
    private let state = Mutex(State())
    private let finished = Completion()
    let restarts = Atomic<Int>(0)

    private struct State {
        var process: WorkerProcess?
        var ledger = WorkerLedger()
        var stopping = false
        var exited = false
        /// Jobs let go of by earlier workers of this slot.
        var letGoBefore = 0
        /// When the current worker process started, and the runs it reported finished since.
        var startedAt: Date?
        var jobsRun = 0
    }

    init(
        name: String, queue: String, launch: WorkerLaunch, assignment: WorkerAssignment, settlement: CrashSettlement, backends: [String: any JobBackend],
        memoryLimit: Int?, events: (any JobEventSink)?, logger: Logger
    ) {
        self.name = name
        self.queue = queue
        self.launch = launch
        self.assignment = assignment
        self.settlement = settlement
        self.backends = backends
        self.grace = settlement.config.host.timeoutGrace
        self.memoryLimit = memoryLimit
        self.events = events
        var logger = logger
        logger[metadataKey: "worker"] = "\(name)"
        self.logger = logger
    }

    func start() {
        startThread(name: "jobhost.supervise.\(name)") { [self] in
            superviseLoop()
            finished.finish()
        }
    }

    var pid: pid_t? { state.withLock { $0.process?.pid } }

    /// Jobs the worker holds now, how many of them a handler is running, and how many jobs workers
    /// of this slot have let go of (finished or handed back) since the supervisor started.
    var holding: (held: Int, running: Int, letGo: Int) {
        state.withLock { state in
            (state.ledger.held.count, state.ledger.held.values.count { $0.killAt != nil }, state.letGoBefore + state.ledger.letGo)
        }
    }

    /// The current worker process: when it started and how many job runs it finished; nil between
    /// two lives of the worker.
    var life: (pid: pid_t, startedAt: Date, jobsRun: Int)? {
        state.withLock { state in
            guard let pid = state.process?.pid, let startedAt = state.startedAt else { return nil }
            return (pid, startedAt, state.jobsRun)
        }
    }

    // MARK: Life cycle

    private func superviseLoop() {
        var failures = 0
        while !state.withLock({ $0.stopping }) {
            let startedAt = ContinuousClock.now
            let outcome = runOnce()
            guard let outcome else {
                failures += 1
                pause(failures: failures)
                continue
            }
            if state.withLock({ $0.stopping }) { break }
            restarts.add(1, ordering: .relaxed)
            // A worker a job ended (or that was recycled) is sound: start the next one at once. Back off
            // only from workers that die on their own, again and again.
            if outcome.exit.isClean || outcome.blamedJob || ContinuousClock.now - startedAt > .seconds(30) {
                failures = 0
            } else {
                failures += 1
            }
            pause(failures: failures)
        }
    }

    /// The first restart after a crash is immediate: the jobs the worker held are already back and
    /// its queue should be served again within the second. Repeated crashes back off up to 30 s.
    private func pause(failures: Int) {
        restarting.sleep(Self.restartBackoff.delay(afterFailures: failures - 1))
    }

    private static let restartBackoff = Backoff(first: .milliseconds(250), max: .seconds(30))
    /// Between attempts to record a dead worker's jobs while the backend fails.
    private static let settleBackoff = Backoff(first: .milliseconds(50), max: .milliseconds(500))
    /// Ends a restart's backoff as soon as shutdown begins.
    private let restarting = Ticker()

    /// Starts the worker and returns how it ended (and whether a job was to blame), once its jobs are
    /// settled; nil if it could not start.
    private func runOnce() -> (exit: WorkerExit, blamedJob: Bool)? {
        let process: WorkerProcess
        do {
            process = try WorkerProcess(executable: launch.executable, assignment: assignment, configText: launch.configText)
        } catch {
            logger.error("cannot start a worker process", metadata: ["error": "\(error)"])
            return nil
        }
        let lateStop = state.withLock { state -> Bool in
            state.process = process
            state.ledger = WorkerLedger()
            state.exited = false
            state.startedAt = Date()
            state.jobsRun = 0
            return state.stopping
        }
        if lateStop { process.drain() }
        logger.info("worker started", metadata: ["pid": "\(process.pid)", "plugins": "\(assignment.plugins?.joined(separator: ", ") ?? "all")"])

        let readerDone = Completion()
        startThread(name: "jobhost.reports.\(name)") { [self] in
            readReports(from: process)
            readerDone.finish()
        }

        let exit = WorkerExit(waitStatus: process.waitForExit())
        state.withLock { $0.exited = true }
        readerDone.wait()
        process.closePipes()
        let (ledger, stopping) = state.withLock { state in
            defer {
                state.process = nil
                state.letGoBefore += state.ledger.letGo
                state.ledger = WorkerLedger()
            }
            return (state.ledger, state.stopping)
        }
        report(exit, ledger: ledger, pid: process.pid)
        let settlements = settlement.settlements(for: ledger, exit: exit, shuttingDown: stopping && ledger.culprits.isEmpty)
        tellEvents(settle(settlements), ledger: ledger)
        // A worker that exited 0 drained: it handed back everything it had leased itself.
        if !exit.isClean { takeBackUnreported(pid: process.pid) }
        return (exit, !ledger.culprits.isEmpty)
    }

    /// Jobs the worker leased but died before reporting (between a fetch and its report line): only the
    /// backend knows them, by the worker's lease owner id. They were never started: released at once,
    /// their attempt not counted, rather than left to wait for their leases to run out.
    private func takeBackUnreported(pid: pid_t) {
        let owner = assignment.leaseOwner(pid: pid)
        guard !owner.isEmpty else { return }
        let router = JobRouter(settlement.config)
        for queueName in assignment.slots.keys {
            guard let queue = router.queue(named: queueName), let reclaimer = backends[queue.backend] as? any LeaseReclaimer else { continue }
            do {
                let taken = try reclaimer.reclaim(queue: queueName, leasedBy: owner + "/", .release)
                if taken.ready + taken.dead > 0 {
                    logger.warning(
                        "took back jobs the dead worker had leased but not reported", metadata: ["pid": "\(pid)", "jobs": "\(taken.ready + taken.dead)"])
                }
            } catch {
                logger.warning(
                    "cannot take back the dead worker's unreported jobs now; they come back when their leases run out",
                    metadata: ["pid": "\(pid)", "error": "\(error)"])
            }
        }
    }

    private func report(_ exit: WorkerExit, ledger: WorkerLedger, pid: pid_t) {
        var metadata: Logger.Metadata = ["pid": "\(pid)", "exit": "\(exit.description)", "held": "\(ledger.held.count)"]
        if exit.isClean {
            logger.info("worker exited", metadata: metadata)
        } else if !ledger.ready {
            if let refusal = ledger.loadEnded(exit) {
                metadata["plugin"] = "\(refusal.plugin)"
                logger.critical("worker died before it was ready: \(refusal)", metadata: metadata)
            } else {
                logger.critical("worker died before it was ready", metadata: metadata)
            }
        } else {
            for (number, reason) in ledger.culprits.sorted(by: { $0.key < $1.key }) {
                guard let job = ledger.held[number]?.job else { continue }
                logger.error("worker ended by a job; the job counts a failed attempt", metadata: [
                    "job.id": "\(job.lease.jobID)", "job.handler": "\(job.handler)", "reason": "\(reason)", "pid": "\(pid)",
                ])
            }
            logger.error("worker died; the jobs it held are back in their queue", metadata: metadata)
        }
    }

    /// Records the outcome of every job the dead worker held. Retried until the backend takes them:
    /// these jobs are leased, and nothing else would free them before their lease runs out.
    /// - Returns: the settlements the backend accepted (a lease already settled by the worker, or
    ///   rescued elsewhere, is refused: that run's outcome is not this one).
    private func settle(_ settlements: [(Lease, Settlement)]) -> [(Lease, Settlement)] {
        var accepted: [(Lease, Settlement)] = []
        let byQueue = Dictionary(grouping: settlements) { $0.0.queue }
        for (queueName, items) in byQueue {
            guard let queue = JobRouter(settlement.config).queue(named: queueName), let backend = backends[queue.backend]
            else { continue }
            var failures = 0
            while true {
                do {
                    let held = try backend.settle(items, retryPosition: queue.backendRetryPosition)
                    accepted += zip(items, held).filter(\.1).map(\.0)
                    break
                } catch {
                    failures += 1
                    if failures == 1 || failures % 20 == 0 {
                        logger.error("cannot record the jobs of a dead worker; retrying", metadata: ["error": "\(error)", "jobs": "\(items.count)"])
                    }
                    // At shutdown, give up after a while: the leases expire and the jobs are rescued.
                    if failures > 20, state.withLock({ $0.stopping }) { break }
                    Thread.sleep(forTimeInterval: Self.settleBackoff.delay(afterFailures: failures).seconds)
                }
            }
        }
        return accepted
    }

    /// The jobs of a dead worker that count toward their handler's failures, for metrics and task health: the
    /// job the crash is blamed on (named by the crash reporter, or killed for overrunning its timeout),
    /// and any job the crash leaves dead. The other jobs a worker killed from outside was running are
    /// suspects, retried at once: one kill is not a failure of each of their handlers.
    private func tellEvents(_ settlements: [(Lease, Settlement)], ledger: WorkerLedger) {
        guard let events else { return }
        let jobs = Dictionary(uniqueKeysWithValues: ledger.held.map { ($0.value.job.lease, $0) })
        let finished = settlements.compactMap { lease, settlement -> FinishedJob? in
            guard let (number, entry) = jobs[lease] else { return nil }
            let endsDead = if case .crashed(nil, _) = settlement.write { true } else { false }
            guard ledger.culprits[number] != nil || endsDead else { return nil }
            return FinishedJob(
                queue: lease.queue, handler: entry.job.handler, jobID: lease.jobID, attempt: entry.job.attempt, settlement: settlement,
                timedOut: ledger.timedOut.contains(number))
        }
        if !finished.isEmpty { events.finished(finished) }
    }

    // MARK: Reports

    private func readReports(from process: WorkerProcess) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var partial: [UInt8] = []
        while true {
            var poller = pollfd(fd: process.reports, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 100)
            if ready == 0 {
                // The worker is gone but something it started keeps the pipe open: stop listening.
                if state.withLock({ $0.exited }) { return }
                continue
            }
            if ready < 0 { if errno == EINTR { continue } else { return } }
            let count = process.readReports(into: &buffer)
            if count == 0 { return }
            partial.append(contentsOf: buffer[0..<count])
            guard let lastNewline = partial.lastIndex(of: UInt8(ascii: "\n")) else { continue }
            let complete = partial[...lastNewline]
            let now = ContinuousClock.now
            let reports = complete.split(separator: UInt8(ascii: "\n")).compactMap { line -> WorkerReport? in
                guard let report = WorkerReport(line: line) else {
                    logger.warning("unreadable report line from a worker", metadata: ["line": "\(String(decoding: line.prefix(200), as: UTF8.self))"])
                    return nil
                }
                return report
            }
            let finished = state.withLock { state in
                let finished = reports.compactMap { state.ledger.apply($0, grace: grace, now: now) }
                state.jobsRun += finished.count
                return finished
            }
            if !finished.isEmpty { events?.finished(finished) }
            partial.removeSubrange(...lastNewline)
        }
    }

    // MARK: Watching

    /// Kills the worker if a handler overran its deadline plus grace, or a step of loading a plugin
    /// ran past `host.plugin_load_timeout` (the survey loaded it in time, but a worker must not wait
    /// forever on it either: its queue would stall with nothing said).
    func enforceLimits(now: ContinuousClock.Instant) {
        let loadLimit = settlement.config.host.pluginLoadTimeout
        let (hungLoad, loadingProcess) = state.withLock { state -> (PluginRefusal?, WorkerProcess?) in
            guard let refusal = state.ledger.loadOverdue(at: now, limit: loadLimit) else { return (nil, nil) }
            state.ledger.loadKilled = refusal
            return (refusal, state.process)
        }
        if let hungLoad, let loadingProcess {
            logger.critical("killing a worker stuck loading a plugin: \(hungLoad)", metadata: ["pid": "\(loadingProcess.pid)"])
            loadingProcess.kill()
            return
        }
        let (overdue, process) = state.withLock { state -> ([WorkerLedger.Entry], WorkerProcess?) in
            let numbers = state.ledger.overdue(at: now)
            for number in numbers {
                state.ledger.culprits[number] = "timeout: the handler did not stop within \(grace.configText) of its deadline; its worker was killed"
                state.ledger.timedOut.insert(number)
            }
            return (numbers.compactMap { state.ledger.held[$0] }, state.process)
        }
        guard let process else { return }
        if !overdue.isEmpty {
            for entry in overdue {
                logger.error("handler overran its timeout; killing its worker", metadata: [
                    "job.id": "\(entry.job.lease.jobID)", "job.handler": "\(entry.job.handler)", "pid": "\(process.pid)",
                ])
            }
            process.kill()
        }
    }

    /// Reads the worker's resident memory and drains it (a recycle) once past the limit.
    func checkMemory() {
        guard let memoryLimit, let process = state.withLock({ $0.ledger.draining ? nil : $0.process }) else { return }
        guard let resident = residentBytes(of: process.pid), resident > memoryLimit else { return }
        state.withLock { state in
            state.ledger.draining = true
            state.ledger.residentPastLimit = resident
        }
        logger.warning("worker past its memory limit; recycling it", metadata: [
            "pid": "\(process.pid)", "resident_mib": "\(resident >> 20)", "limit_mib": "\(memoryLimit >> 20)",
        ])
        process.drain()
    }

    // MARK: Shutdown

    /// Asks the worker to finish or hand back its jobs and exit, and stops restarting it.
    func beginShutdown() {
        let process = state.withLock { state -> WorkerProcess? in
            state.stopping = true
            state.ledger.draining = true
            return state.process
        }
        restarting.stop()
        process?.drain()
    }

    /// Waits for the worker to be gone and its jobs settled; kills it at `deadline` if it is not.
    func finishShutdown(by deadline: ContinuousClock.Instant) {
        if !finished.wait(until: deadline) {
            logger.error("worker did not stop in time; killing it (its jobs go back to their queue)")
            state.withLock { $0.process }?.kill()
            finished.wait()
        }
    }
}

/// What every worker is started with.
struct WorkerLaunch: Sendable {
    /// The host executable; workers run its hidden `worker` command.
    var executable: String
    /// The config exactly as the supervisor read it: a worker restarted after an edit of the file
    /// still runs what the supervisor validated.
    var configText: String
}

/// Resident memory of `pid`, from `/proc/<pid>/statm`.
func residentBytes(of pid: pid_t) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return nil }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
