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
/// Every job fetched is tracked by its lease from the fetch until the backend has taken its
/// outcome, so shutdown can hand back exactly what was not finished and nothing is settled twice.
/// Every thread here is one the runtime owns: handlers and backend clients block.
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
    private let state = Mutex(State())
    private let fetcherDone = Completion()
    private let settlerDone = Completion()
    private let keeperDone = Completion()
    private let renewerDone = Completion()
    let counters = RunnerCounters()

    /// Where a held job is between its fetch and the backend taking its outcome.
    private enum Phase {
        /// Fetched, waiting for a slot.
        case buffered
        /// A handler runs it.
        case running(InvocationContext, deadline: ContinuousClock.Instant)
        /// Its outcome (or its release) is queued for the settler. `ran`: how long its handler ran,
        /// when it returned.
        case settling(ran: Duration?, timedOut: Bool)
    }

    private struct State {
        var stopping = false
        var fetcherFinished = false
        var held: [Lease: (job: LeasedJob, phase: Phase)] = [:]
        /// Leases whose handler thread was given up on (written off, or handed back at shutdown):
        /// when that thread returns at last, it ends instead of taking more jobs.
        var abandoned: Set<Lease> = []
        var nextSlot = 0
    }

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
        // Fetch ahead by as many jobs as there are slots, so a batch is ready when slots free up.
        gate = CapacityGate(limit: queue.concurrency * 2)
    }

    func start() {
        for _ in 0..<queue.concurrency { startSlot() }
        startThread(name: "jobhost.fetch.\(queue.name)") { [self] in
            fetchLoop()
            state.withLock { $0.fetcherFinished = true }
            fetcherDone.finish()
        }
        startThread(name: "jobhost.settle.\(queue.name)") { [self] in settleLoop(); settlerDone.finish() }
        startThread(name: "jobhost.keep.\(queue.name)") { [self] in keepLoop(); keeperDone.finish() }
        startThread(name: "jobhost.renew.\(queue.name)") { [self] in renewLoop(); renewerDone.finish() }
    }

    // MARK: Fetching

    private func fetchLoop() {
        var failures = 0
        while !isStopping {
            let room = gate.waitForRoom()
            if room == 0 || isStopping { break }
            do {
                let jobs = try backend.fetch(queue: queue.name, limit: room, lease: queue.lease)
                failures = 0
                if jobs.isEmpty {
                    try backend.waitForWork(queue: queue.name, timeout: .seconds(1))
                    continue
                }
                gate.take(jobs.count)
                counters.fetched.add(jobs.count, ordering: .relaxed)
                observer?.held(jobs)
                // A fetch that returns after shutdown began hands its jobs straight back.
                let stopping = state.withLock { state -> Bool in
                    for job in jobs { state.held[job.lease] = (job, state.stopping ? .settling(ran: nil, timedOut: false) : .buffered) }
                    if state.stopping {
                        for job in jobs { outcomes.push((job.lease, .release)) }
                    }
                    return state.stopping
                }
                if !stopping { buffer.push(contentsOf: jobs) }
            } catch {
                failures += 1
                pauseAfterFailure(error, failures: failures, doing: "fetch")
            }
        }
    }

    // MARK: Worker slots

    private func startSlot() {
        let slot = state.withLock { state -> Int in
            state.nextSlot += 1
            return state.nextSlot
        }
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
            settle(job.lease, as: .retry(reason: "no loaded plugin registers handler '\(job.handler)'", delay: nil), job: job)
            return true
        }
        let timeout = router.timeout(for: job.handler, queue: queue, job: job.timeout, pluginDefault: handler.info.defaultTimeout)
        let invocation = JobInvocation(
            id: job.id, handler: job.handler, queue: job.queue, attempt: job.attempt, maxAttempts: job.maxAttempts,
            payload: job.payload, deadline: Date().addingTimeInterval(timeout.seconds), enqueuedAt: job.enqueuedAt)
        let context = InvocationContext(job: invocation, plugin: handler.plugin, logger: logger, enqueuer: enqueuer)
        // Start only a job still held and waiting: shutdown may have handed it back, or its lease may
        // have been lost, between the pop and here.
        let start = state.withLock { state -> Bool in
            guard let entry = state.held[job.lease], case .buffered = entry.phase else { return false }
            state.held[job.lease]?.phase = .running(context, deadline: .now + timeout)
            return true
        }
        guard start else { return true }
        observer?.willRun(job)
        let began = ContinuousClock.now
        let outcome = handler.invoke(context)
        let ran = ContinuousClock.now - began
        observer?.didRun(job)
        let settlement = self.settlement(for: outcome, job: job)
        // One lock for the check and the hand-over: ten slot threads meet on this mutex per job.
        let ours = state.withLock { state -> Bool? in
            if state.abandoned.remove(job.lease) != nil { return nil }
            guard let entry = state.held[job.lease], case .running = entry.phase else { return false }
            state.held[job.lease]?.phase = .settling(ran: ran, timedOut: false)
            outcomes.push((job.lease, settlement))
            return true
        }
        switch ours {
        case nil:
            logger.warning("a handler given up on returned at last; its outcome is ignored", metadata: jobMetadata(job))
            return false
        case false:
            return true  // lease lost meanwhile: another host owns the job now
        case true:
            count(settlement, job: job, discarded: outcome.isDiscard)
            return true
        }
    }

    /// Queues the settlement an outcome calls for, unless the job already has one.
    private func settle(_ lease: Lease, as outcome: HandlerOutcome, job: LeasedJob, timedOut: Bool = false) {
        let settlement = settlement(for: outcome, job: job)
        let queued = state.withLock { state -> Bool in
            guard let entry = state.held[lease] else { return false }
            if case .settling = entry.phase { return false }
            state.held[lease]?.phase = .settling(ran: nil, timedOut: timedOut)
            outcomes.push((lease, settlement))
            return true
        }
        if queued { count(settlement, job: job, discarded: outcome.isDiscard) }
    }

    private func settlement(for outcome: HandlerOutcome, job: LeasedJob) -> Settlement {
        switch outcome {
        case .success: .done(retention: queue.retention)
        case .retry(let reason, let delay): failure(job, reason: reason, delay: delay)
        case .discard(let reason): .dead(error: reason)
        }
    }

    /// Counts and logs a settlement once it is queued.
    private func count(_ settlement: Settlement, job: LeasedJob, discarded: Bool) {
        switch settlement {
        case .done:
            counters.succeeded.add(1, ordering: .relaxed)
        case .retry(let wait, let reason):
            counters.retried.add(1, ordering: .relaxed)
            logger.info("job failed; will retry", metadata: jobMetadata(job).merging(["error": "\(reason)", "retry_in": "\(wait.configText)"]) { $1 })
        case .dead(let reason) where discarded:
            counters.died.add(1, ordering: .relaxed)
            logger.warning("job discarded", metadata: jobMetadata(job).merging(["error": "\(reason)"]) { $1 })
        case .dead(let reason), .crashed(nil, let reason):
            counters.died.add(1, ordering: .relaxed)
            logger.error("job failed for good", metadata: jobMetadata(job).merging(["error": "\(reason)"]) { $1 })
        case .crashed, .release:
            break
        }
    }

    /// A failed attempt: retried after backoff, or dead once its attempts are used up.
    private func failure(_ job: LeasedJob, reason: String, delay: Duration?) -> Settlement {
        if job.attempt >= job.maxAttempts { return .dead(error: reason) }
        let policy = router.retryPolicy(for: job.handler, queue: queue.name)
        return .retry(after: delay ?? policy.delay(afterAttempt: job.attempt), error: reason)
    }

    // MARK: Settling

    private func settleLoop() {
        var failures = 0
        var pending: [(Lease, Settlement)] = []
        while true {
            if pending.isEmpty {
                pending = outcomes.popBatch(limit: 512, timeout: .milliseconds(100))
                if pending.isEmpty {
                    // Done only when nothing held can still produce an outcome.
                    if state.withLock({ $0.stopping && $0.fetcherFinished && $0.held.isEmpty }) { return }
                    continue
                }
            }
            do {
                let held = try backend.settle(pending)
                failures = 0
                var lost: [String] = []
                var letGo: [(lease: Lease, finished: FinishedJob?)] = []
                letGo.reserveCapacity(pending.count)
                state.withLock { state in
                    for ((lease, settlement), stillHeld) in zip(pending, held) {
                        let entry = state.held.removeValue(forKey: lease)
                        if !stillHeld { lost.append(lease.jobID) }
                        letGo.append((lease, stillHeld ? entry.flatMap { finished($0.job, settlement, phase: $0.phase) } : nil))
                    }
                }
                gate.give(pending.count)
                observer?.letGo(letGo)
                for id in lost {
                    logger.warning("lease lost before the outcome was recorded; another host will run the job again", metadata: ["job.id": "\(id)"])
                }
                pending = []
            } catch {
                // Outcomes are never dropped while the host runs: the batch is retried until the backend
                // takes it. At shutdown, after a few tries, the leases are left to expire instead.
                failures += 1
                pauseAfterFailure(error, failures: failures, doing: "record outcomes")
                if failures > 3 && isStopping && giveUpOnShutdown.load(ordering: .acquiring) {
                    logger.error("\(pending.count + outcomes.count) outcomes not recorded at shutdown; their leases will expire and the jobs run again")
                    return
                }
            }
        }
    }

    private let giveUpOnShutdown = Atomic<Bool>(false)

    // MARK: Deadlines

    private func keepLoop() {
        while !keeperStop.load(ordering: .acquiring) {
            Thread.sleep(forTimeInterval: tick.seconds)
            enforceDeadlines()
        }
    }

    private let keeperStop = Atomic<Bool>(false)

    private func enforceDeadlines() {
        let now = ContinuousClock.now
        var writeOffs: [LeasedJob] = []
        var replace = 0
        state.withLock { state in
            for (lease, entry) in state.held {
                guard case .running(let context, let deadline) = entry.phase else { continue }
                if let grace, now >= deadline + grace {
                    writeOffs.append(entry.job)
                    state.abandoned.insert(lease)
                    // A thread per handler that never returns: cap them, or hung handlers would
                    // exhaust the machine's threads.
                    if state.abandoned.count <= queue.concurrency { replace += 1 }
                } else if now >= deadline, !context.isCancelled {
                    context.cancel()
                }
            }
        }
        for job in writeOffs {
            counters.timedOut.add(1, ordering: .relaxed)
            logger.error("handler overran its timeout and ignored the cancel flag; written off", metadata: jobMetadata(job))
            settle(
                job.lease, as: .retry(reason: "timeout: the handler did not stop within \((grace ?? .zero).configText) of its deadline", delay: nil),
                job: job, timedOut: true)
        }
        for _ in 0..<replace { startSlot() }
        if writeOffs.count > replace {
            logger.critical("too many handlers ignore their timeout; their slots are not replaced until they return",
                metadata: ["stuck": "\(state.withLock { $0.abandoned.count })"])
        }
    }

    // MARK: Leases

    private func renewLoop() {
        let every = queue.lease / 3
        var failures = 0
        var next = ContinuousClock.now + every
        var nextPauseCheck = ContinuousClock.now + Self.pauseCheck
        while !(renewerStop.load(ordering: .acquiring)) {
            Thread.sleep(forTimeInterval: tick.seconds)
            if ContinuousClock.now >= nextPauseCheck {
                nextPauseCheck = .now + Self.pauseCheck
                handBackIfPaused()
            }
            guard ContinuousClock.now >= next else { continue }
            let leases = state.withLock { Array($0.held.keys) }
            guard !leases.isEmpty else {
                next = .now + every
                continue
            }
            do {
                let stillHeld = try backend.extend(leases, by: queue.lease)
                failures = 0
                next = .now + every
                let lost = zip(leases, stillHeld).filter { !$0.1 }.map(\.0)
                forget(lost)
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

    private let renewerStop = Atomic<Bool>(false)

    // MARK: Pause

    /// How often a runner holding fetched jobs asks whether its queue was paused.
    static let pauseCheck = Duration.seconds(1)

    /// A paused queue starts no more jobs here: the fetched ones not started yet go back, untouched,
    /// so a pause takes effect within a second however long the running jobs take.
    private func handBackIfPaused() {
        guard state.withLock({ state in state.held.values.contains { if case .buffered = $0.phase { true } else { false } } }),
            (try? backend.isPaused(queue: queue.name)) == true
        else { return }
        let handedBack = state.withLock { state -> Int in
            var count = 0
            for (lease, entry) in state.held {
                guard case .buffered = entry.phase else { continue }
                state.held[lease]?.phase = .settling(ran: nil, timedOut: false)
                outcomes.push((lease, .release))
                count += 1
            }
            // Under the lock, so no job is left in the buffer marked as waiting; a fetch pushing jobs
            // it marked before this lock pushes jobs no slot will start.
            _ = buffer.drain()
            return count
        }
        if handedBack > 0 {
            logger.notice("queue paused: fetched jobs handed back", metadata: ["jobs": "\(handedBack)"])
        }
    }

    /// Another host rescued these jobs: stop working on them and let go of them here.
    private func forget(_ lost: [Lease]) {
        guard !lost.isEmpty else { return }
        var released = 0
        state.withLock { state in
            for lease in lost {
                guard let entry = state.held.removeValue(forKey: lease) else { continue }
                released += 1
                if case .running(let context, _) = entry.phase { context.cancel() }
            }
        }
        gate.give(released)
        observer?.letGo(lost.map { ($0, nil) })
        for lease in lost {
            logger.warning("lease lost; another host may run the job now", metadata: ["job.id": "\(lease.jobID)"])
        }
    }

    // MARK: Shutdown

    private var isStopping: Bool { state.withLock { $0.stopping } }

    /// Stops fetching, hands back jobs not started, waits until `deadline` for running ones, then
    /// hands those back too (their attempt not counted) and flushes every outcome.
    /// - Returns: how many running jobs had to be handed back unfinished.
    func shutdown(until deadline: ContinuousClock.Instant) -> Int {
        state.withLock { state in
            state.stopping = true
            for (lease, entry) in state.held {
                guard case .buffered = entry.phase else { continue }
                state.held[lease]?.phase = .settling(ran: nil, timedOut: false)
                outcomes.push((lease, .release))
            }
        }
        gate.close()
        buffer.close()
        _ = buffer.drain()

        func someoneRunning() -> Bool {
            state.withLock { state in
                state.held.contains { lease, entry in
                    if case .running = entry.phase { return !state.abandoned.contains(lease) }
                    return false
                }
            }
        }
        while ContinuousClock.now < deadline, someoneRunning() {
            Thread.sleep(forTimeInterval: 0.01)
        }
        let unfinished = state.withLock { state -> Int in
            var count = 0
            for (lease, entry) in state.held {
                guard case .running(let context, _) = entry.phase else { continue }
                context.cancel()
                state.abandoned.insert(lease)
                state.held[lease]?.phase = .settling(ran: nil, timedOut: false)
                outcomes.push((lease, .release))
                count += 1
            }
            return count
        }
        giveUpOnShutdown.store(true, ordering: .releasing)
        if !settlerDone.wait(until: .now + .seconds(10)) {
            logger.error("outcomes still unrecorded after 10 s; their leases will expire and the jobs run again")
        }
        keeperStop.store(true, ordering: .releasing)
        renewerStop.store(true, ordering: .releasing)
        return unfinished
    }

    /// The jobs whose handlers run now, with their deadlines.
    var runningJobs: [(lease: Lease, deadline: ContinuousClock.Instant)] {
        state.withLock { state in
            state.held.compactMap { lease, entry in
                if case .running(_, let deadline) = entry.phase { (lease, deadline) } else { nil }
            }
        }
    }

    /// Handler threads given up on that have not returned yet: plugin code still running.
    var abandonedHandlers: Int { state.withLock { $0.abandoned.count } }

    // MARK: Helpers

    private func pauseAfterFailure(_ error: any Error, failures: Int, doing what: String) {
        let pause = min(0.05 * pow(2, Double(min(failures, 10))), 5)
        if failures == 1 || failures % 20 == 0 {
            logger.error("cannot \(what); retrying with backoff", metadata: ["error": "\(error)", "failures": "\(failures)"])
        }
        Thread.sleep(forTimeInterval: pause)
    }

    /// What a recorded settlement tells metrics and alerts.
    private func finished(_ job: LeasedJob, _ settlement: Settlement, phase: Phase) -> FinishedJob? {
        guard case .settling(let ran, let timedOut) = phase else { return nil }
        return FinishedJob(
            queue: job.queue, handler: job.handler, jobID: job.id, attempt: job.attempt, settlement: settlement, timedOut: timedOut, runTime: ran)
    }

    private func jobMetadata(_ job: LeasedJob) -> Logger.Metadata {
        ["job.id": "\(job.id)", "job.handler": "\(job.handler)", "job.queue": "\(job.queue)", "job.attempt": "\(job.attempt)"]
    }
}

private extension HandlerOutcome {
    var isDiscard: Bool { if case .discard = self { true } else { false } }
}

/// What a queue runner has done, for logs and benchmarks (metrics count finished jobs through the observer).
final class RunnerCounters: Sendable {
    let fetched = Atomic<Int>(0)
    let succeeded = Atomic<Int>(0)
    let retried = Atomic<Int>(0)
    let died = Atomic<Int>(0)
    let timedOut = Atomic<Int>(0)
}
