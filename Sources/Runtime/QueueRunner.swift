import Backend
import Foundation
import HostConfig
import Logging
import PluginHost
import Synchronization

/// Runs one queue: a fetcher that leases jobs in batches, `concurrency` worker slots that call
/// handlers, a settler that reports outcomes in batches, and a keeper that raises cancel flags at
/// deadlines, writes off handlers that ignore them, and renews the leases of jobs still running.
///
/// Every thread here is one the runtime owns: handlers and backend clients block.
final class QueueRunner: Sendable {
    let queue: QueueConfig
    private let config: HostConfiguration
    private let backend: any JobBackend
    private let registry: HandlerRegistry
    private let enqueuer: any JobEnqueuer
    private let logger: Logger
    private let grace: Duration
    private let tick: Duration

    private let buffer = BlockingQueue<LeasedJob>()
    private let outcomes = BlockingQueue<(Lease, Settlement)>()
    private let gate: CapacityGate
    private let state = Mutex(State())
    private let fetcherDone = Completion()
    private let settlerDone = Completion()
    private let keeperDone = Completion()
    let counters = RunnerCounters()

    private struct State {
        var stopping = false
        /// Jobs fetched and not yet settled, by id: their leases are renewed together.
        var held: [String: Lease] = [:]
        var running: [String: Running] = [:]
        var nextSlot = 0
    }

    private struct Running {
        let job: LeasedJob
        let context: InvocationContext
        let deadline: ContinuousClock.Instant
        var writtenOff = false
    }

    init(
        queue: QueueConfig, config: HostConfiguration, backend: any JobBackend, registry: HandlerRegistry,
        enqueuer: any JobEnqueuer, logger: Logger, grace: Duration, tick: Duration = .milliseconds(50)
    ) {
        self.queue = queue
        self.config = config
        self.backend = backend
        self.registry = registry
        self.enqueuer = enqueuer
        var logger = logger
        logger[metadataKey: "queue"] = "\(queue.name)"
        self.logger = logger
        self.grace = grace
        self.tick = tick
        // Fetch ahead by as many jobs as there are slots, so a batch is ready when slots free up.
        gate = CapacityGate(limit: queue.concurrency * 2)
    }

    func start() {
        for _ in 0..<queue.concurrency { startSlot() }
        startThread(name: "jobhost.fetch.\(queue.name)") { [self] in fetchLoop(); fetcherDone.finish() }
        startThread(name: "jobhost.settle.\(queue.name)") { [self] in settleLoop(); settlerDone.finish() }
        startThread(name: "jobhost.keep.\(queue.name)") { [self] in keepLoop(); keeperDone.finish() }
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
                state.withLock { state in
                    for job in jobs { state.held[job.id] = job.lease }
                }
                buffer.push(contentsOf: jobs)
                counters.fetched.add(jobs.count, ordering: .relaxed)
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
            while let job = buffer.pop() {
                if !run(job) { return }  // written off: a replacement slot took over
            }
        }
    }

    /// Runs one job; false when the keeper wrote it off meanwhile (this thread then ends).
    private func run(_ job: LeasedJob) -> Bool {
        guard let handler = registry[job.handler] else {
            finish(job, .retry(reason: "no loaded plugin registers handler '\(job.handler)'", delay: nil))
            return true
        }
        let timeout = job.timeout ?? config.route(for: job.handler)?.timeout ?? handler.info.defaultTimeout ?? queue.timeout
        let now = Date()
        let invocation = JobInvocation(
            id: job.id, handler: job.handler, queue: job.queue, attempt: job.attempt, maxAttempts: job.maxAttempts,
            payload: job.payload, deadline: now.addingTimeInterval(timeout.seconds), enqueuedAt: job.enqueuedAt)
        let context = InvocationContext(job: invocation, plugin: handler.plugin, logger: logger, enqueuer: enqueuer)
        state.withLock { $0.running[job.id] = Running(job: job, context: context, deadline: .now + timeout) }
        let outcome = handler.invoke(context)
        let writtenOff = state.withLock { state -> Bool in
            let entry = state.running.removeValue(forKey: job.id)
            return entry?.writtenOff ?? true
        }
        if writtenOff {
            logger.warning("a written-off handler returned at last; its outcome is ignored", metadata: jobMetadata(job))
            return false
        }
        finish(job, outcome)
        return true
    }

    private func finish(_ job: LeasedJob, _ outcome: HandlerOutcome) {
        let settlement: Settlement
        switch outcome {
        case .success:
            settlement = .done(retention: queue.retention)
            counters.succeeded.add(1, ordering: .relaxed)
        case .retry(let reason, let delay):
            settlement = failure(job, reason: reason, delay: delay)
        case .discard(let reason):
            settlement = .dead(error: reason)
            counters.died.add(1, ordering: .relaxed)
            logger.warning("job discarded", metadata: jobMetadata(job).merging(["error": "\(reason)"]) { $1 })
        }
        outcomes.push((job.lease, settlement))
    }

    /// A failed attempt: retried after backoff, or dead once its attempts are used up.
    private func failure(_ job: LeasedJob, reason: String, delay: Duration?) -> Settlement {
        if job.attempt >= job.maxAttempts {
            counters.died.add(1, ordering: .relaxed)
            logger.error("job failed for good", metadata: jobMetadata(job).merging(["error": "\(reason)"]) { $1 })
            return .dead(error: reason)
        }
        let policy = config.route(for: job.handler)?.retry ?? queue.retry
        let wait = delay ?? policy.delay(afterAttempt: job.attempt)
        counters.retried.add(1, ordering: .relaxed)
        logger.info("job failed; will retry", metadata: jobMetadata(job).merging(["error": "\(reason)", "retry_in": "\(wait.configText)"]) { $1 })
        return .retry(after: wait, error: reason)
    }

    // MARK: Settling

    private func settleLoop() {
        var failures = 0
        var pending: [(Lease, Settlement)] = []
        while true {
            if pending.isEmpty {
                pending = outcomes.popBatch(limit: 512, timeout: .milliseconds(200))
                if pending.isEmpty {
                    if outcomesClosed.load(ordering: .acquiring) && outcomes.count == 0 { return }
                    continue
                }
            }
            do {
                let held = try backend.settle(pending)
                failures = 0
                var lost: [String] = []
                state.withLock { state in
                    for ((lease, _), stillHeld) in zip(pending, held) {
                        state.held.removeValue(forKey: lease.jobID)
                        if !stillHeld { lost.append(lease.jobID) }
                    }
                }
                gate.give(pending.count)
                for id in lost {
                    logger.warning("lease lost before the outcome was recorded; another host will run the job again", metadata: ["job.id": "\(id)"])
                }
                pending = []
            } catch {
                // Outcomes are never dropped: the batch is retried until the backend takes it.
                failures += 1
                pauseAfterFailure(error, failures: failures, doing: "record outcomes")
                if failures > 3 && isStopping && outcomesClosed.load(ordering: .acquiring) && abandonOnShutdown.load(ordering: .acquiring) {
                    logger.error("giving up on \(pending.count) outcomes at shutdown; their leases will expire and the jobs run again")
                    return
                }
            }
        }
    }

    private let outcomesClosed = Atomic<Bool>(false)
    private let abandonOnShutdown = Atomic<Bool>(false)

    // MARK: Deadlines and leases

    private func keepLoop() {
        var lastRenewal = ContinuousClock.now
        let renewEvery = queue.lease / 3
        while !(isStopping && state.withLock({ $0.running.isEmpty && $0.held.isEmpty })) {
            Thread.sleep(forTimeInterval: tick.seconds)
            enforceDeadlines()
            if ContinuousClock.now - lastRenewal >= renewEvery {
                lastRenewal = .now
                renewLeases()
            }
            if keeperStop.load(ordering: .acquiring) { return }
        }
    }

    private let keeperStop = Atomic<Bool>(false)

    private func enforceDeadlines() {
        let now = ContinuousClock.now
        var writeOffs: [LeasedJob] = []
        state.withLock { state in
            for (id, entry) in state.running where !entry.writtenOff {
                if now >= entry.deadline + grace {
                    state.running[id]?.writtenOff = true
                    writeOffs.append(entry.job)
                } else if now >= entry.deadline, !entry.context.isCancelled {
                    entry.context.cancel()
                }
            }
        }
        for job in writeOffs {
            counters.timedOut.add(1, ordering: .relaxed)
            logger.error("handler overran its timeout and ignored the cancel flag; written off and its slot replaced", metadata: jobMetadata(job))
            finish(job, .retry(reason: "timeout: the handler did not stop within \(grace.configText) of its deadline", delay: nil))
            startSlot()
        }
    }

    private func renewLeases() {
        let leases = state.withLock { Array($0.held.values) }
        guard !leases.isEmpty else { return }
        do {
            let held = try backend.extend(leases, by: queue.lease)
            for (lease, stillHeld) in zip(leases, held) where !stillHeld {
                // Another host rescued it: stop working on it; its outcome will be refused.
                state.withLock { $0.running[lease.jobID]?.context.cancel() }
                logger.warning("lease lost while running; asking the handler to stop", metadata: ["job.id": "\(lease.jobID)"])
            }
        } catch {
            logger.warning("could not renew leases; will try again", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Shutdown

    private var isStopping: Bool { state.withLock { $0.stopping } }

    /// Stops fetching, hands back jobs not started, waits until `deadline` for running ones, then
    /// hands those back too (their attempt not counted) and flushes every outcome.
    /// - Returns: how many running jobs had to be handed back unfinished.
    func shutdown(until deadline: ContinuousClock.Instant) -> Int {
        state.withLock { $0.stopping = true }
        gate.close()
        _ = fetcherDone.wait(until: .now + .seconds(3))
        let notStarted = buffer.drain()
        buffer.close()
        for job in notStarted { outcomes.push((job.lease, .release)) }

        while ContinuousClock.now < deadline, state.withLock({ !$0.running.isEmpty }) {
            Thread.sleep(forTimeInterval: 0.01)
        }
        let unfinished = state.withLock { state -> [LeasedJob] in
            var jobs: [LeasedJob] = []
            for (id, entry) in state.running where !entry.writtenOff {
                state.running[id]?.writtenOff = true
                entry.context.cancel()
                jobs.append(entry.job)
            }
            return jobs
        }
        for job in unfinished { outcomes.push((job.lease, .release)) }
        outcomesClosed.store(true, ordering: .releasing)
        abandonOnShutdown.store(true, ordering: .releasing)
        _ = settlerDone.wait(until: .now + .seconds(5))
        keeperStop.store(true, ordering: .releasing)
        return unfinished.count
    }

    // MARK: Helpers

    private func pauseAfterFailure(_ error: any Error, failures: Int, doing what: String) {
        let pause = min(0.05 * pow(2, Double(min(failures, 10))), 5)
        if failures == 1 || failures % 20 == 0 {
            logger.error("cannot \(what); retrying with backoff", metadata: ["error": "\(error)", "failures": "\(failures)"])
        }
        Thread.sleep(forTimeInterval: pause)
    }

    private func jobMetadata(_ job: LeasedJob) -> Logger.Metadata {
        ["job.id": "\(job.id)", "job.handler": "\(job.handler)", "job.attempt": "\(job.attempt)"]
    }
}

/// What a queue runner has done, for logs, benchmarks and (later) metrics.
final class RunnerCounters: Sendable {
    let fetched = Atomic<Int>(0)
    let succeeded = Atomic<Int>(0)
    let retried = Atomic<Int>(0)
    let died = Atomic<Int>(0)
    let timedOut = Atomic<Int>(0)
}
