import Backend
import Foundation
import HostConfig
import HostDomain
import Logging
import PluginHost
import Synchronization
import Threads

/// Runs one queue: a fetcher that leases jobs in batches, `concurrency` worker slots that call
/// handlers, a settler that reports outcomes in batches, a keeper that raises cancel flags at
/// deadlines and writes off handlers that ignore them, and a renewer that keeps the leases of held
/// jobs alive.
///
/// Every job fetched is tracked by its lease, in ``HeldJobs``, from the fetch until the backend has
/// taken its outcome, so shutdown can hand back exactly what was not finished and nothing is settled
/// twice. The rules live there; this type owns the threads, the backend calls, the logs and the
/// observer. Every thread here is one the runtime owns: handlers and backend clients block.
final class QueueRunner: Sendable {
    let queue: QueueConfig
    private let router: JobRouter
    private let backend: any JobBackend
    private let registry: HandlerRegistry
    private let enqueuer: any JobEnqueuer
    private let logger: Logger
    /// nil: handlers that overrun are never written off here (a supervisor kills their process instead).
    private let grace: Duration?
    private let observer: (any JobObserver)?
    private let tick: Duration

    private let buffer = BlockingQueue<LeasedJob>()
    private let outcomes = BlockingQueue<(Lease, Settlement)>()
    private let gate: CapacityGate
    private let fetchAhead: Mutex<FetchAhead>
    private let state = Mutex(HeldJobs<InvocationContext>())
    private let slots = Atomic<Int>(0)
    /// Paces the fetcher's pauses after failures; stopped when shutdown begins.
    private let fetchPace = Ticker()
    /// Paces the keeper and the renewer; stopped once outcomes are flushed at shutdown.
    private let pace = Ticker()
    private let fetcherDone = Completion()
    private let settlerDone = Completion()
    private let giveUpOnShutdown = Atomic<Bool>(false)
    private let succeededJobs = Atomic<Int>(0)

    /// Pauses between tries of a backend call that failed.
    static let failureBackoff = Backoff(first: .milliseconds(100), max: .seconds(5))
    /// How often a runner holding fetched jobs asks whether its queue was paused.
    static let pauseCheck = Duration.seconds(1)

    init(
        queue: QueueConfig, config: HostConfiguration, backend: any JobBackend, registry: HandlerRegistry,
        enqueuer: any JobEnqueuer, logger: Logger, grace: Duration?, observer: (any JobObserver)? = nil,
        tick: Duration = .milliseconds(50)
    ) {
        self.queue = queue
        router = JobRouter(config)
        self.backend = backend
        self.registry = registry
        self.enqueuer = enqueuer
        var logger = logger
        logger[metadataKey: "queue"] = "\(queue.name)"
        self.logger = logger
        self.grace = grace
        self.observer = observer
        self.tick = tick
        let fetchAhead = FetchAhead(concurrency: queue.concurrency)
        gate = CapacityGate(limit: fetchAhead.limit)
        self.fetchAhead = Mutex(fetchAhead)
    }

    func start() {
        for _ in 0..<queue.concurrency { startSlot() }
        startThread(name: "jobhost.fetch.\(queue.name)") { [self] in
            fetchLoop()
            state.withLock { $0.fetcherEnded() }
            fetcherDone.finish()
        }
        startThread(name: "jobhost.settle.\(queue.name)") { [self] in settleLoop(); settlerDone.finish() }
        startThread(name: "jobhost.keep.\(queue.name)") { [self] in
            while pace.sleep(tick) { enforceDeadlines() }
        }
        startThread(name: "jobhost.renew.\(queue.name)") { [self] in renewLoop() }
    }

    // MARK: Fetching

    private func fetchLoop() {
        var failures = 0
        while !isStopping {
            let room = gate.waitForRoom()
            if room == 0 || isStopping { break }
            do {
                let askedAt = ContinuousClock.now
                let jobs = try backend.fetch(queue: queue.name, limit: room, lease: queue.lease)
                failures = 0
                if jobs.isEmpty {
                    try backend.waitForWork(queue: queue.name, timeout: .seconds(1))
                    continue
                }
                gate.take(jobs.count)
                let took = ContinuousClock.now - askedAt
                fetchAhead.withLock { $0.fetched(took: took) }
                observer?.held(jobs)
                // A fetch that returns after shutdown began hands its jobs straight back.
                let handedBack = state.withLock { state -> Bool in
                    let releases = state.fetched(jobs, leaseHeldUntil: askedAt + queue.lease)
                    for release in releases { outcomes.push(release) }
                    return !releases.isEmpty
                }
                if !handedBack { buffer.push(contentsOf: jobs) }
            } catch {
                failures += 1
                logFailure(error, failures: failures, doing: "fetch")
                fetchPace.sleep(Self.failureBackoff.delay(afterFailures: failures))
            }
        }
    }

    // MARK: Worker slots

    private func startSlot() {
        let slot = slots.add(1, ordering: .relaxed).newValue
        startThread(name: "jobhost.slot.\(queue.name).\(slot)") { [self] in
            observer?.threadWillRunHandlers()
            while let job = buffer.pop() {
                if !run(job) { return }
            }
        }
    }

    /// Runs one job; false when this thread was given up on meanwhile (it then ends).
    private func run(_ job: LeasedJob) -> Bool {
        guard let handler = registry[job.handler] else {
            settle(job, as: .retry(reason: "no loaded plugin registers handler '\(job.handler)'", delay: nil))
            return true
        }
        let timeout = router.timeout(for: job.handler, queue: queue, job: job.timeout, pluginDefault: handler.info.defaultTimeout)
        let invocation = JobInvocation(
            id: job.id, handler: job.handler, queue: job.queue, attempt: job.attempt, maxAttempts: job.maxAttempts,
            payload: job.payload, deadline: Date().addingTimeInterval(timeout.seconds), enqueuedAt: job.enqueuedAt)
        let context = InvocationContext(job: invocation, plugin: handler.plugin, logger: logger, enqueuer: enqueuer)
        guard startable(job, context: context, timeout: timeout) else { return true }
        observer?.willRun(job)
        let began = ContinuousClock.now
        let outcome = handler.invoke(context)
        let ran = ContinuousClock.now - began
        observer?.didRun(job)
        let settlement = self.settlement(for: outcome, job: job, result: context.result)
        // One lock for the check and the hand-over: ten slot threads meet on this mutex per job.
        let verdict = state.withLock { state -> HeldJobs<InvocationContext>.Return in
            let verdict = state.returned(job.lease, ran: ran)
            if verdict == .handOver { outcomes.push((job.lease, settlement)) }
            return verdict
        }
        switch verdict {
        case .abandoned:
            logger.warning("a handler given up on returned at last; its outcome is ignored", metadata: jobMetadata(job))
            return false
        case .notHeld:
            return true  // lease lost meanwhile: another host owns the job now
        case .handOver:
            count(settlement, job: job, discarded: outcome.isDiscard, ran: ran)
            return true
        }
    }

    /// Marks `job` running, if it is still held and its lease surely stays held a third of the lease
    /// more (the next renewal comes before that). Otherwise — the host stalled past its leases, or
    /// renewals fail — the lease is confirmed with the backend first: a job another host has rescued
    /// meanwhile must not start here too.
    private func startable(_ job: LeasedJob, context: InvocationContext, timeout: Duration) -> Bool {
        func start(margin: Duration) -> HeldJobs<InvocationContext>.Start {
            state.withLock { $0.start(job.lease, run: context, deadline: .now + timeout, now: .now, margin: margin) }
        }
        switch start(margin: queue.lease / 3) {
        case .started: return true
        case .notHeld: return false
        case .leaseUnsure: break
        }
        let askedAt = ContinuousClock.now
        do {
            let held = try backend.extend([job.lease], by: queue.lease)
            renewed([job.lease], stillHeld: held, askedAt: askedAt)
            if start(margin: .zero) == .started { return true }
        } catch {
            logFailure(error, failures: 1, doing: "confirm a lease before starting its job")
        }
        // Lost, or the backend does not answer: hand it back rather than risk running it twice.
        settle(job, as: nil)
        return false
    }

    /// Queues the settlement an outcome calls for (nil: a release), unless the job already has one.
    private func settle(_ job: LeasedJob, as outcome: HandlerOutcome?) {
        let settlement = outcome.map { self.settlement(for: $0, job: job) } ?? .release
        let queued = state.withLock { state -> Bool in
            guard state.settle(job.lease) else { return false }
            outcomes.push((job.lease, settlement))
            return true
        }
        if queued { count(settlement, job: job, discarded: outcome?.isDiscard ?? false) }
    }

    private func settlement(for outcome: HandlerOutcome, job: LeasedJob, result: String? = nil) -> Settlement {
        switch outcome {
        case .success: .done(retention: queue.retention, result: result)
        case .retry(let reason, let delay): failure(job, reason: reason, delay: delay)
        case .discard(let reason): .dead(error: reason)
        }
    }

    /// A failed attempt: retried after backoff, or dead once its attempts are used up.
    private func failure(_ job: LeasedJob, reason: String, delay: Duration?) -> Settlement {
        if job.attempt >= job.maxAttempts { return .dead(error: reason) }
        let policy = router.retryPolicy(for: job.handler, queue: queue.name)
        return .retry(after: delay ?? policy.delay(afterAttempt: job.attempt), error: reason)
    }

    /// Counts and logs a settlement once it is queued. The lines are what operators grep for: `job done`,
    /// and every failure starts with `job failed`. `ran` is nil when the handler never returned.
    private func count(_ settlement: Settlement, job: LeasedJob, discarded: Bool, ran: Duration? = nil) {
        switch settlement {
        case .done:
            succeededJobs.add(1, ordering: .relaxed)
            if queue.jobLog == .all { logger.info("job done", metadata: jobMetadata(job, ran: ran)) }
        case .retry(let wait, let reason):
            guard queue.jobLog != .none else { return }
            logger.warning("job failed; will retry", metadata: jobMetadata(job, ran: ran, error: reason).merging(["retry_in": "\(wait.configText)"]) { $1 })
        case .dead(let reason) where discarded:
            guard queue.jobLog != .none else { return }
            logger.warning("job failed: discarded by its handler", metadata: jobMetadata(job, ran: ran, error: reason))
        case .dead(let reason), .crashed(nil, let reason):
            guard queue.jobLog != .none else { return }
            logger.error("job failed for good", metadata: jobMetadata(job, ran: ran, error: reason))
        case .crashed, .release:
            break
        case .ended(let settlement, _):
            count(settlement, job: job, discarded: discarded, ran: ran)
        }
    }

    // MARK: Settling

    private func settleLoop() {
        var failures = 0
        var pending: [(Lease, Settlement)] = []
        while true {
            if pending.isEmpty {
                pending = outcomes.popBatch(limit: 512, timeout: .milliseconds(100))
                if pending.isEmpty {
                    if state.withLock({ $0.settlerMayFinish }) { return }
                    continue
                }
            }
            do {
                let askedAt = ContinuousClock.now
                let held = try backend.settle(pending, retryPosition: queue.backendRetryPosition)
                let took = ContinuousClock.now - askedAt
                failures = 0
                let recorded = state.withLock { $0.recorded(pending.map { ($0.0, $0.1) }, stillHeld: held) }
                if let limit = fetchAhead.withLock({ $0.settled(recorded.letGo.count, took: took) }) { gate.setLimit(limit) }
                gate.give(recorded.letGo.count)
                observer?.letGo(recorded.letGo)
                for id in recorded.lost {
                    logger.warning(
                        "outcome not recorded: the job's lease had run out and the job was rescued (this host stalled, or could not reach the backend, for longer than the lease); it runs again",
                        metadata: ["job.id": "\(id)", "lease": "\(queue.lease.configText)"])
                }
                pending = []
            } catch {
                // Outcomes are never dropped while the host runs: the batch is retried until the backend
                // takes it. At shutdown, after a few tries, the leases are left to expire instead.
                failures += 1
                logFailure(error, failures: failures, doing: "record outcomes")
                Thread.sleep(forTimeInterval: Self.failureBackoff.delay(afterFailures: failures).seconds)
                if failures > 3 && isStopping && giveUpOnShutdown.load(ordering: .acquiring) {
                    logger.error("\(pending.count + outcomes.count) outcomes not recorded at shutdown; their leases will expire and the jobs run again")
                    return
                }
            }
        }
    }

    // MARK: Deadlines

    private func enforceDeadlines() {
        let overdue = state.withLock { state in
            let overdue = state.enforceDeadlines(now: .now, grace: grace, maxAbandoned: queue.concurrency) { job in
                .ended(failure(job, reason: "timeout: the handler did not stop within \((grace ?? .zero).configText) of its deadline", delay: nil), .timeout)
            }
            for (job, settlement) in overdue.writtenOff { outcomes.push((job.lease, settlement)) }
            return overdue
        }
        for context in overdue.cancel { context.cancel() }
        for job in overdue.leaseOutlived {
            logger.warning(
                "handler told to stop: its job's lease was not renewed in time (this host stalled, or could not reach the backend); another host may run the job",
                metadata: jobMetadata(job))
        }
        for (job, settlement) in overdue.writtenOff {
            logger.error("handler overran its timeout and ignored the cancel flag; written off", metadata: jobMetadata(job))
            count(settlement, job: job, discarded: false)
        }
        for _ in 0..<overdue.replacements { startSlot() }
        if overdue.writtenOff.count > overdue.replacements {
            logger.critical("too many handlers ignore their timeout; their slots are not replaced until they return",
                metadata: ["stuck": "\(abandonedHandlers)"])
        }
    }

    // MARK: Leases

    private func renewLoop() {
        let every = queue.lease / 3
        var failures = 0
        var next = ContinuousClock.now + every
        var nextPauseCheck = ContinuousClock.now + Self.pauseCheck
        while pace.sleep(tick) {
            if ContinuousClock.now >= nextPauseCheck {
                nextPauseCheck = .now + Self.pauseCheck
                handBackIfPaused()
            }
            guard ContinuousClock.now >= next else { continue }
            let leases = state.withLock { $0.leases }
            guard !leases.isEmpty else {
                next = .now + every
                continue
            }
            do {
                let askedAt = ContinuousClock.now
                let stillHeld = try backend.extend(leases, by: queue.lease)
                failures = 0
                next = .now + every
                renewed(leases, stillHeld: stillHeld, askedAt: askedAt)
                recordProgress()
            } catch {
                // Try again soon: the lease is running out while the backend is unreachable.
                failures += 1
                next = .now + min(.milliseconds(250) * failures, every)
                if failures == 1 || failures % 20 == 0 {
                    logger.warning("could not renew leases; trying again", metadata: ["error": "\(error)", "failures": "\(failures)"])
                }
            }
        }
    }

    /// Sends the heartbeats of running handlers that changed since the last renewal, for operators. A
    /// failure is only logged: progress is for show, and the next renewal sends it again.
    private func recordProgress() {
        let changed = state.withLock { $0.runs }.compactMap { lease, run in
            run.takeChangedProgress().map { (lease, JobProgress(fraction: $0.fraction, note: $0.note)) }
        }
        guard !changed.isEmpty else { return }
        do {
            _ = try backend.recordProgress(changed)
        } catch {
            logger.debug("could not record progress", metadata: ["error": "\(error)"])
        }
    }

    /// A paused queue starts no more jobs here: the fetched ones not started yet go back, untouched,
    /// so a pause takes effect within a second however long the running jobs take.
    private func handBackIfPaused() {
        guard state.withLock({ $0.anyBuffered }), (try? backend.isPaused(queue: queue.name)) == true else { return }
        let handedBack = state.withLock { state -> Int in
            let releases = state.handBackBuffered()
            for release in releases { outcomes.push(release) }
            // Under the lock, so no job is left in the buffer marked as waiting; a fetch pushing jobs
            // it marked before this lock pushes jobs no slot will start.
            _ = buffer.drain()
            return releases.count
        }
        if handedBack > 0 {
            logger.notice("queue paused: fetched jobs handed back", metadata: ["jobs": "\(handedBack)"])
        }
    }

    /// The backend's answer to a renewal asked for at `askedAt`: held leases are good for another lease
    /// from then; the jobs of lost ones were rescued by another host: stop working on them here.
    private func renewed(_ leases: [Lease], stillHeld: [Bool], askedAt: ContinuousClock.Instant) {
        let (letGo, cancel) = state.withLock { $0.renewed(leases, stillHeld: stillHeld, heldUntil: askedAt + queue.lease) }
        guard !letGo.isEmpty else { return }
        for context in cancel { context.cancel() }
        gate.give(letGo.count)
        observer?.letGo(letGo.map { ($0, nil) })
        for lease in letGo {
            logger.warning(
                "lease lost: the job was rescued after its lease ran out (this host stalled, or could not reach the backend, for longer than the lease); another host runs it",
                metadata: ["job.id": "\(lease.jobID)"])
        }
    }

    // MARK: Shutdown

    private var isStopping: Bool { state.withLock { $0.stopping } }

    /// Stops fetching and hands back the jobs not started; running ones go on. Returns at once, so a
    /// slot thread may call it (a worker at its job limit). Shutdown does the same first.
    func stopStartingJobs() {
        state.withLock { state in
            for release in state.beginShutdown() { outcomes.push(release) }
        }
        fetchPace.stop()
        gate.close()
        buffer.close()
        _ = buffer.drain()
    }

    /// Stops fetching, hands back jobs not started, waits until `deadline` for running ones, then
    /// hands those back too (their attempt not counted) and flushes every outcome.
    /// - Returns: how many running jobs had to be handed back unfinished.
    func shutdown(until deadline: ContinuousClock.Instant) -> Int {
        stopStartingJobs()
        while ContinuousClock.now < deadline, state.withLock({ $0.anyRunning }) {
            Thread.sleep(forTimeInterval: 0.01)
        }
        let unfinished = state.withLock { state -> [InvocationContext] in
            let (releases, cancel) = state.handBackRunning()
            for release in releases { outcomes.push(release) }
            return cancel
        }
        for context in unfinished { context.cancel() }
        giveUpOnShutdown.store(true, ordering: .releasing)
        if !settlerDone.wait(until: .now + .seconds(10)) {
            logger.error("outcomes still unrecorded after 10 s; their leases will expire and the jobs run again")
        }
        pace.stop()
        return unfinished.count
    }

    /// The jobs whose handlers run now, with their deadlines.
    var runningJobs: [(lease: Lease, deadline: ContinuousClock.Instant)] { state.withLock { $0.runningJobs } }

    /// Handler threads given up on that have not returned yet: plugin code still running.
    var abandonedHandlers: Int { state.withLock { $0.abandoned.count } }

    /// Jobs whose handler succeeded here (their outcome queued for the backend).
    var succeeded: Int { succeededJobs.load(ordering: .relaxed) }

    // MARK: Helpers

    /// Logs a failing backend call when the failures start and every 20 in a row.
    private func logFailure(_ error: any Error, failures: Int, doing what: String) {
        if failures == 1 || failures % 20 == 0 {
            logger.error("cannot \(what); retrying with backoff", metadata: ["error": "\(error)", "failures": "\(failures)"])
        }
    }

    private func jobMetadata(_ job: LeasedJob, capacity: Int = 4) -> Logger.Metadata {
        // Room for what the callers add, and the strings as they are: a `job done` line per job pays this.
        var metadata = Logger.Metadata(minimumCapacity: capacity)
        metadata["job.id"] = .string(job.id)
        metadata["job.handler"] = .string(job.handler)
        metadata["job.queue"] = .string(job.queue)
        metadata["job.attempt"] = .string(String(job.attempt))
        return metadata
    }

    /// A finished job's fields, with how long its handler ran (milliseconds, three decimals) and why it failed.
    private func jobMetadata(_ job: LeasedJob, ran: Duration?, error: String? = nil) -> Logger.Metadata {
        var metadata = jobMetadata(job, capacity: 7)
        if let ran {
            let micros = ran.components.seconds * 1_000_000 + ran.components.attoseconds / 1_000_000_000_000
            metadata["duration_ms"] = "\(Double(micros) / 1000)"
        }
        if let error { metadata["error"] = "\(error)" }
        return metadata
    }
}

private extension HandlerOutcome {
    var isDiscard: Bool { if case .discard = self { true } else { false } }
}
