import Backend
import Foundation
import HostConfig
import Synchronization
import Threads

/// Looks at a running host: asks every backend whether it answers and how its queues stand, and
/// gathers what the host itself knows of its workers, running jobs and scheduler.
public final class HostProbe: Sendable {
    public struct Sources: Sendable {
        /// The supervised workers, when queues run in worker processes.
        public var workers: @Sendable () -> [HostSnapshot.WorkerHealth]
        /// Handlers running now in this process, by queue.
        public var runningInProcess: @Sendable () -> [String: Int]

        public init(
            workers: @escaping @Sendable () -> [HostSnapshot.WorkerHealth] = { [] },
            runningInProcess: @escaping @Sendable () -> [String: Int] = { [:] }
        ) {
            self.workers = workers
            self.runningInProcess = runningInProcess
        }
    }

    let config: HostConfiguration
    let backends: [String: any JobBackend]
    private let sources: Sources
    private let scheduler: SchedulerWatch
    /// Backends whose last check has not returned: a hung server is not asked again meanwhile, so
    /// probes cannot pile up threads.
    private let waiting = Mutex<Set<String>>([])
    /// The check running now for each backend: callers that come meanwhile (a readiness probe and a
    /// scrape at the same moment) share its answer.
    private let inFlight = Mutex<[String: Task<BackendCheck, Never>]>([:])

    public init(config: HostConfiguration, backends: [String: any JobBackend], sources: Sources, scheduler: SchedulerWatch) {
        self.config = config
        self.backends = backends
        self.sources = sources
        self.scheduler = scheduler
    }

    /// The host now. Waits at most `timeout` for each backend.
    public func snapshot(timeout: Duration = .seconds(2)) async -> HostSnapshot {
        let checks = await withTaskGroup(of: BackendCheck.self) { group in
            for backend in config.backends {
                group.addTask { await self.check(backend, timeout: timeout) }
            }
            return await group.reduce(into: [String: BackendCheck]()) { $0[$1.health.name] = $1 }
        }
        let workers = sources.workers()
        var running = sources.runningInProcess()
        for worker in workers { running[worker.queue, default: 0] += worker.running }
        let queues = config.queues.map { queue in
            let stats = checks[queue.backend]?.stats[queue.name]
            return HostSnapshot.QueueHealth(
                name: queue.name, backend: queue.backend, stats: stats, paused: stats?.paused, runningHere: running[queue.name, default: 0])
        }
        let backendHealth = config.backends.compactMap { checks[$0.name]?.health }
        let schedulerHealth = scheduler.health(schedules: config.schedules.count { $0.enabled })
        return HostSnapshot(backends: backendHealth, queues: queues, workers: workers, scheduler: schedulerHealth)
    }

    private struct BackendCheck: Sendable {
        var health: HostSnapshot.BackendHealth
        var stats: [String: QueueStats] = [:]
    }

    private func check(_ config: BackendConfig, timeout: Duration) async -> BackendCheck {
        let task = inFlight.withLock { flights -> Task<BackendCheck, Never> in
            if let running = flights[config.name] { return running }
            let started = Task { await self.ask(config, timeout: timeout) }
            flights[config.name] = started
            return started
        }
        let result = await task.value
        inFlight.withLock { flights in
            if flights[config.name] == task { flights[config.name] = nil }
        }
        return result
    }

    private func ask(_ config: BackendConfig, timeout: Duration) async -> BackendCheck {
        var health = HostSnapshot.BackendHealth(name: config.name, type: config.kind.rawValue, up: false)
        guard let backend = backends[config.name] else {
            health.error = "not configured"
            return BackendCheck(health: health)
        }
        guard waiting.withLock({ $0.insert(config.name).inserted }) else {
            health.error = "no answer: its previous check, given up on, has still not returned"
            return BackendCheck(health: health)
        }
        let queues = self.config.queues.filter { $0.backend == config.name }.map(\.name)
        let result = await blockingCall(timeout: timeout) { [self] () -> Result<(Duration, [String: QueueStats]), BackendError> in
            defer { _ = waiting.withLock { $0.remove(config.name) } }
            let began = ContinuousClock.now
            do throws(BackendError) {
                try backend.ping()
                let latency = ContinuousClock.now - began
                var stats: [String: QueueStats] = [:]
                for queue in queues { stats[queue] = try backend.stats(queue: queue) }
                return .success((latency, stats))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case nil:
            health.error = "no answer within \(timeout.seconds) s"
            return BackendCheck(health: health)
        case .failure(let error)?:
            health.error = error.message
            return BackendCheck(health: health)
        case .success(let (latency, stats))?:
            health.up = true
            health.latencyMilliseconds = (latency.seconds * 1e5).rounded() / 100
            return BackendCheck(health: health, stats: stats)
        }
    }
}

/// Knows when the scheduler last made a pass, from its events.
public final class SchedulerWatch: Sendable {
    private let lastPass = Mutex<ContinuousClock.Instant?>(nil)
    /// A scheduler silent this long is stalled (it passes every 200 ms).
    private let stallAfter: Duration
    private let created = ContinuousClock.now

    public init(stallAfter: Duration = .seconds(10)) { self.stallAfter = stallAfter }

    public func passed() { lastPass.withLock { $0 = .now } }

    func health(schedules: Int) -> HostSnapshot.SchedulerHealth {
        let last = lastPass.withLock { $0 }
        let since = (last ?? created).duration(to: .now)
        return HostSnapshot.SchedulerHealth(
            schedules: schedules, lastPassSecondsAgo: last.map { ($0.duration(to: .now).seconds * 10).rounded() / 10 },
            alive: schedules == 0 || since < stallAfter)
    }
}
