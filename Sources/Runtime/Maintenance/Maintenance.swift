import Backend
import HostConfig
import Logging
import Threads

/// The maintenance chores of a set of queues, each on its backend, run every `interval`: the one place
/// that decides which chores a host runs. Every host runs them (a worker process does not: its
/// supervising host does); each chore is safe to run on many hosts at once.
public final class Maintenance: Sendable {
    /// How often each chore runs, unless told otherwise.
    public static let defaultInterval = Duration.seconds(1)

    /// Every chore, for the queues given.
    public let chores: [any MaintenanceChore]
    private let runners: [ChoreRunner]

    public init(queues: [QueueConfig], backends: [String: any JobBackend], interval: Duration = Maintenance.defaultInterval, logger: Logger) {
        chores = Self.chores(for: queues, backends: backends, logger: logger)
        runners = chores.map { ChoreRunner(chore: $0, interval: interval, logger: logger) }
    }

    /// A lease rescuer and a pruner per backend, each for that backend's queues (in config order), and
    /// a dead-job pruner for those of its queues that do not keep dead jobs forever.
    public static func chores(for queues: [QueueConfig], backends: [String: any JobBackend], logger: Logger) -> [any MaintenanceChore] {
        var byBackend: [(name: String, queues: [QueueConfig])] = []
        for queue in queues {
            if let index = byBackend.firstIndex(where: { $0.name == queue.backend }) {
                byBackend[index].queues.append(queue)
            } else {
                byBackend.append((queue.backend, [queue]))
            }
        }
        return byBackend.flatMap { name, queues -> [any MaintenanceChore] in
            guard let backend = backends[name] else { return [] }
            var chores: [any MaintenanceChore] = [
                LeaseRescuer(queues: queues.map(\.name), backend: backend, logger: logger),
                JobPruner(retention: queues.map { ($0.name, $0.retention) }, backend: backend),
            ]
            let deadRetention = queues.compactMap { queue in queue.deadRetention.map { (queue.name, $0) } }
            if !deadRetention.isEmpty { chores.append(DeadJobPruner(retention: deadRetention, backend: backend, logger: logger)) }
            return chores
        }
    }

    /// Starts every chore on a thread of its own.
    public func start() {
        for (index, runner) in runners.enumerated() { runner.start(name: "\(chores[index].name).\(index)") }
    }

    /// Stops every chore; returns once their loops have ended (or after a short wait for a pass under way).
    public func stop() {
        for runner in runners { runner.stop() }
        let deadline = ContinuousClock.now + .seconds(2)
        for runner in runners { runner.waitStopped(until: deadline) }
    }

    /// The chores as one service of a service group: started with it, stopped when shutdown reaches it.
    public var service: ThreadService { ThreadService(name: "maintenance", start: start, stop: stop) }
}
