import Backend
import Foundation
import HostConfig
import HostDomain
import Logging
import Monitoring
import Scheduler
import Synchronization

/// Everything of a running host the admin server shows or acts on.
public struct AdminHost: Sendable {
    public var config: HostConfiguration
    public var backends: [String: any JobBackend]
    public var probe: HostProbe
    public var metrics: HostMetrics
    public var tasks: TaskHealth
    public var scheduler: Scheduler
    public var readiness: Readiness
    /// What loading the plugins found, as `host list-plugins --json` prints it.
    public var pluginsJSON: [UInt8]
    /// Where the API logs what it changes.
    public var logger: Logger
    /// Each queue's jobs processed and failed per interval; nil when not sampled.
    public var throughput: ThroughputSampler?
    /// This host's worker processes now (none when every queue runs in threads).
    public var workers: @Sendable () -> [Worker]

    /// One worker process of this host, as `/api/v1/hosts` shows it.
    public struct Worker: Sendable, Encodable {
        public var pid: Int32
        public var queues: [String]
        public var startedAt: Date
        /// Job runs this process finished (a restarted worker counts afresh).
        public var jobsRun: Int

        public init(pid: Int32, queues: [String], startedAt: Date, jobsRun: Int) {
            self.pid = pid
            self.queues = queues
            self.startedAt = startedAt
            self.jobsRun = jobsRun
        }
    }

    /// What the API changes, through the same actions as the `host` commands.
    var actions: OperatorActions { OperatorActions(config: config, backends: backends) }

    public init(
        config: HostConfiguration, backends: [String: any JobBackend], probe: HostProbe, metrics: HostMetrics, tasks: TaskHealth, scheduler: Scheduler,
        readiness: Readiness, pluginsJSON: [UInt8], logger: Logger, throughput: ThroughputSampler? = nil,
        workers: @escaping @Sendable () -> [Worker] = { [] }
    ) {
        self.config = config
        self.backends = backends
        self.probe = probe
        self.metrics = metrics
        self.tasks = tasks
        self.scheduler = scheduler
        self.readiness = readiness
        self.pluginsJSON = pluginsJSON
        self.logger = logger
        self.throughput = throughput
        self.workers = workers
    }
}

/// Whether the host takes work: false until its services run, false again once it drains.
public final class Readiness: Sendable {
    private let state = Mutex<State>(.starting)

    public enum State: String, Sendable, Encodable {
        case starting, serving, draining
    }

    public init() {}

    public var current: State { state.withLock { $0 } }

    public func serving() { state.withLock { if $0 == .starting { $0 = .serving } } }
    public func draining() { state.withLock { $0 = .draining } }
}
