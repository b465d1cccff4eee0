import Backend
import Foundation
import Glibc
import HostConfig
import HostDomain
import Logging
import Logs
import Runtime
import Synchronization
import Threads

/// Runs the process-isolated queues of a host in worker processes it supervises: starts them,
/// knows from their reports which jobs each holds and runs, kills a worker whose handler overran
/// its deadline plus grace, recycles one past its memory limit, and when a worker ends settles
/// every job it held — the guilty job a failed attempt (dead as poison after `crash_limit` crashes),
/// the others back to ready at once — then starts it again. The maintenance chores of those queues
/// (lease rescue, pruning) run beside it, in the host's `Maintenance`.
public final class Supervisor: Sendable {
    private let workers: [SupervisedWorker]
    private let logger: Logger
    private let watching = Ticker()
    private let watcherDone = Completion()

    /// - Parameters:
    ///   - queues: the queues to run in workers (their `isolation` is `process`).
    ///   - executable: the host executable (workers run its hidden `worker` command).
    ///   - configText: the config file's text, handed to every worker.
    ///   - events: told of every job the workers finish.
    ///   - leaseOwnerPrefix: this host run's `HostIdentity.leasePrefix`: workers record their leases under
    ///     it, so the jobs a dead worker had leased but not reported come back at once.
    ///   - survey: the plugins' handlers, from ``PluginSurvey``: each worker then loads only the plugins
    ///     whose jobs its queue receives. Without it, every worker loads every plugin.
    public init(
        config: HostConfiguration, configText: String, queues: [QueueConfig], backends: [String: any JobBackend],
        executable: String, logger: Logger, events: (any JobEventSink)? = nil, leaseOwnerPrefix: String = "",
        survey: PluginSurveyReport? = nil
    ) {
        // A write to the pipe of a worker that just died must fail with EPIPE, not kill the host.
        signal(SIGPIPE, SIG_IGN)
        self.logger = logger
        let launch = WorkerLaunch(executable: executable, configText: configText)
        let settlement = CrashSettlement(config: config)
        let placement = survey.map { PluginPlacement(config: config, survey: $0, queues: queues) }
        if let unplaced = placement?.unplaced, !unplaced.isEmpty {
            logger.info(
                "no worker loads these plugins: no route or schedule sends their handlers' jobs to a queue run in a worker process",
                metadata: ["plugins": "\(unplaced.joined(separator: ", "))"])
        }
        workers = queues.flatMap { queue in
            Self.shares(of: queue).enumerated().map { index, slots in
                let name = "\(queue.name).\(index + 1)"
                let assignment = WorkerAssignment(
                    configFile: config.file, slots: [queue.name: slots], memoryLimit: queue.workerMemoryLimit, maxJobs: queue.workerMaxJobs,
                    name: name, logFormat: HostLogging.resolve(config.host.logFormat), leaseOwnerPrefix: leaseOwnerPrefix,
                    plugins: placement?.byQueue[queue.name], onDemand: placement?.onDemand(for: queue.name) ?? [:])
                return SupervisedWorker(
                    name: name, queue: queue.name, launch: launch, assignment: assignment, settlement: settlement,
                    backends: backends, memoryLimit: queue.workerMemoryLimit, events: events, logger: logger)
            }
        }
    }

    /// A queue's concurrency split among its workers, as evenly as it goes (no worker without a slot).
    static func shares(of queue: QueueConfig) -> [Int] {
        let count = min(queue.workers, queue.concurrency)
        return (0..<count).map { index in queue.concurrency / count + (index < queue.concurrency % count ? 1 : 0) }
    }

    public func start() {
        for worker in workers { worker.start() }
        startThread(name: "jobhost.supervisor.watch") { [self] in
            var lastMemoryCheck = ContinuousClock.now
            while watching.sleep(.milliseconds(50)) {
                let now = ContinuousClock.now
                for worker in workers { worker.enforceLimits(now: now) }
                if now - lastMemoryCheck >= .milliseconds(250) {
                    lastMemoryCheck = now
                    for worker in workers { worker.checkMemory() }
                }
            }
            watcherDone.finish()
        }
        logger.info("supervising workers", metadata: ["workers": "\(workers.map(\.name).joined(separator: ", "))"])
    }

    /// Drains every worker (each finishes its running jobs within `timeout`, hands back the rest, and
    /// exits), kills those still there after `timeout` plus grace, and settles what they held.
    /// Blocks: call it from a thread of your own.
    public func shutdown(timeout: Duration, grace: Duration) {
        for worker in workers { worker.beginShutdown() }
        let deadline = ContinuousClock.now + timeout + grace + .seconds(2)
        for worker in workers { worker.finishShutdown(by: deadline) }
        watching.stop()
        watcherDone.wait()
    }

    /// By worker name: its queue, its PID (nil between two lives), jobs held, jobs running, jobs let go
    /// of (finished or handed back) and restarts so far.
    /// The worker processes running now: their PID, queue, when each started and how many job runs
    /// it finished (a restarted worker counts afresh).
    public var processes: [(pid: pid_t, queue: String, startedAt: Date, jobsRun: Int)] {
        workers.compactMap { worker in worker.life.map { ($0.pid, worker.queue, $0.startedAt, $0.jobsRun) } }
    }

    public var status: [(name: String, queue: String, pid: pid_t?, held: Int, running: Int, letGo: Int, restarts: Int)] {
        workers.map { worker in
            let holding = worker.holding
            return (
                worker.name, worker.queue, worker.pid, holding.held, holding.running, holding.letGo, worker.restarts.load(ordering: .relaxed)
            )
        }
    }
}
