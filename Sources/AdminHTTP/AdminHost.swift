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

    /// What the API changes, through the same actions as the `host` commands.
    var actions: OperatorActions { OperatorActions(config: config, backends: backends) }

    public init(
        config: HostConfiguration, backends: [String: any JobBackend], probe: HostProbe, metrics: HostMetrics, tasks: TaskHealth, scheduler: Scheduler,
        readiness: Readiness, pluginsJSON: [UInt8], logger: Logger
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
