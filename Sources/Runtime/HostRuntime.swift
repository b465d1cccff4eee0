import Backend
import Foundation
import HostConfig
import HostDomain
import Logging
import PluginHost
import Threads
import Synchronization

/// Every queue of the config running on its backend: the runtime `host run` starts. The maintenance
/// chores of those queues are not part of it: ``Maintenance`` runs them beside it.
public final class HostRuntime: Sendable {
    public let config: HostConfiguration
    private let runners: [QueueRunner]
    private let logger: Logger

    /// - Parameters:
    ///   - backends: by backend name; every queue's backend must be there.
    ///   - grace: how long a handler may run past its deadline (cancel flag up) before it is written
    ///     off; nil when a supervisor kills the process instead.
    ///   - observer: told of every job's whereabouts (a worker process reports them to its supervisor).
    public init(
        config: HostConfiguration, backends: [String: any JobBackend], registry: HandlerRegistry, logger: Logger,
        grace: Duration? = .seconds(5), queues: [String]? = nil,
        observer: (any JobObserver)? = nil
    ) {
        self.config = config
        self.logger = logger
        let enqueuer = SubmittingEnqueuer(submitter: JobSubmitter(config: config, backends: backends))
        let selected = config.queues.filter { queues?.contains($0.name) ?? true }
        runners = selected.compactMap { queue in
            guard let backend = backends[queue.backend] else { return nil }
            return QueueRunner(
                queue: queue, config: config, backend: backend, registry: registry, enqueuer: enqueuer, logger: logger,
                grace: grace, observer: observer)
        }
    }

    public func start() {
        for runner in runners { runner.start() }
        logger.info("running", metadata: [
            "queues": "\(runners.map { "\($0.queue.name)×\($0.queue.concurrency)" }.joined(separator: ", "))",
        ])
    }

    /// Stops fetching on every queue, waits up to `timeout` for running jobs, hands back the rest
    /// without using an attempt. Blocks: call it from a thread of your own.
    /// - Returns: how many running jobs were handed back unfinished.
    @discardableResult
    public func shutdown(timeout: Duration) -> Int {
        let deadline = ContinuousClock.now + timeout
        logger.info("shutting down: no new jobs; waiting for running ones", metadata: ["timeout": "\(timeout.configText)"])
        let group = DispatchGroup()
        let handedBack = Counter()
        for runner in runners {
            group.enter()
            startThread(name: "jobhost.shutdown.\(runner.queue.name)") {
                handedBack.add(runner.shutdown(until: deadline))
                group.leave()
            }
        }
        group.wait()
        logger.info("stopped", metadata: ["handed_back": "\(handedBack.value)"])
        return handedBack.value
    }

    /// Stops fetching and starting jobs on every queue and hands back those not started; running
    /// ones go on until ``shutdown(timeout:)``. Returns at once.
    public func stopStartingJobs() {
        for runner in runners { runner.stopStartingJobs() }
    }

    /// Every job a handler runs now, across queues, with its deadline (the cancel flag goes up then).
    public func runningJobs() -> [(lease: Lease, deadline: ContinuousClock.Instant)] {
        runners.flatMap(\.runningJobs)
    }

    /// How many handlers run now, by queue.
    public func runningCounts() -> [String: Int] {
        Dictionary(runners.map { ($0.queue.name, $0.runningJobs.count) }, uniquingKeysWith: +)
    }

    /// Handlers given up on (written off, or handed back at shutdown) still running plugin code.
    public var abandonedHandlers: Int { runners.reduce(0) { $0 + $1.abandonedHandlers } }

    /// Jobs finished successfully by this runtime, across queues.
    public var succeeded: Int { runners.reduce(0) { $0 + $1.succeeded } }
}

private final class Counter: Sendable {
    private let total = Mutex(0)
    func add(_ amount: Int) { total.withLock { $0 += amount } }
    var value: Int { total.withLock { $0 } }
}
