import Backend
import Foundation
import HostConfig

/// What an operator can do to a running system — pause a queue, switch a schedule, fire it now, retry
/// or discard dead jobs, look jobs up — written once for every front door (`host` commands, the admin
/// API). Each call blocks on the backend: run it on a thread of your own.
public struct OperatorActions: Sendable {
    public let config: HostConfiguration
    public let backends: [String: any JobBackend]
    public let router: JobRouter

    public init(config: HostConfiguration, backends: [String: any JobBackend]) {
        self.config = config
        self.backends = backends
        router = JobRouter(config)
    }

    /// Why an action did nothing. Front doors turn it into an exit status or an HTTP status.
    public enum Failure: Error, CustomStringConvertible, Sendable {
        case unknownQueues([String], known: [String])
        case unknownSchedules([String], known: [String])
        /// No job with this id in the queues looked at.
        case noSuchJob(id: String, queue: String?)
        /// The job exists but is not dead, so the dead-job action does not apply.
        case notDead(id: String, state: JobState, action: DeadJobAction)
        /// The job exists but is not ready or scheduled, so it cannot be cancelled.
        case notPending(id: String, state: JobState)
        /// The config does not allow it (an unusable route, a queue without a backend, …); nothing changed.
        case refused(String)
        /// The backend failed; the change may or may not have happened, as the error says.
        case backend(BackendError)

        public var description: String {
            switch self {
            case .unknownQueues(let names, let known):
                "unknown queue\(names.count == 1 ? "" : "s") \(quotedList(names)); the config defines: \(known.joined(separator: ", "))"
            case .unknownSchedules(let names, let known):
                "no schedule\(names.count == 1 ? "" : "s") named \(quotedList(names)); "
                    + (known.isEmpty ? "the config has no schedules" : "the config has: \(known.joined(separator: ", "))")
            case .noSuchJob(let id, let queue): "no job \(id) in \(queue.map { "queue \($0)" } ?? "any queue")"
            case .notDead(let id, let state, let action): "job \(id) is \(state.rawValue), not dead: only dead jobs are \(action.done)"
            case .notPending(let id, let state): PendingFailure.text(id: id, state: state)
            case .refused(let reason): reason
            case .backend(let error): "backend: \(error)"
            }
        }
    }

    // MARK: Queues

    /// The queues named, all of them or none: a typo must not leave half of a list switched.
    public func queues(named names: [String]) throws(Failure) -> [QueueConfig] {
        let unknown = names.filter { router.queue(named: $0) == nil }
        guard unknown.isEmpty else { throw .unknownQueues(unknown, known: config.queues.map(\.name)) }
        return names.compactMap(router.queue(named:))
    }

    /// The queue and the backend that holds it.
    public func queue(named name: String) throws(Failure) -> (QueueConfig, any JobBackend) {
        guard let queue = try queues(named: [name]).first else { throw .unknownQueues([name], known: config.queues.map(\.name)) }
        return (queue, try backend(of: queue))
    }

    /// Pauses or resumes a queue on its backend, for every host on it.
    public func setPaused(queue name: String, _ paused: Bool) throws(Failure) {
        let (queue, backend) = try queue(named: name)
        try call { () throws(BackendError) in try backend.setPaused(queue: queue.name, paused) }
    }

    // MARK: Schedules

    /// The schedules named, all of them or none.
    public func schedules(named names: [String]) throws(Failure) -> [ScheduleConfig] {
        let unknown = names.filter { router.schedule(named: $0) == nil }
        guard unknown.isEmpty else { throw .unknownSchedules(unknown, known: config.schedules.map(\.name)) }
        return names.compactMap(router.schedule(named:))
    }

    /// Where a schedule's fires and switch are kept: the queue its jobs go to, and that queue's backend.
    public struct ScheduleHome: Sendable {
        public var queue: String
        public var backendName: String
        /// nil when the queue is not in the config, or its backend keeps no schedule state.
        public var store: (any ScheduleStore)?
        public var backend: (any JobBackend)?
    }

    public func home(of schedule: ScheduleConfig) -> ScheduleHome {
        let queue = router.queueName(for: schedule)
        let backendName = router.queue(named: queue)?.backend ?? ""
        let backend = backends[backendName]
        return ScheduleHome(queue: queue, backendName: backendName, store: backend as? any ScheduleStore, backend: backend)
    }

    /// Switches a schedule off or on in its backend, for every host; returns the queue that keeps the switch.
    @discardableResult
    public func setDisabled(schedule name: String, _ disabled: Bool) throws(Failure) -> String {
        guard let schedule = try schedules(named: [name]).first else { throw .unknownSchedules([name], known: config.schedules.map(\.name)) }
        let home = home(of: schedule)
        guard let store = home.store else { throw .refused("queue '\(home.queue)' has no backend that keeps schedules") }
        try call { () throws(BackendError) in try store.setDisabled(schedule: name, queue: home.queue, disabled) }
        return home.queue
    }

    /// Whether an operator switched the schedule off; nil when its backend keeps no switch or did not answer.
    public func isDisabled(_ schedule: ScheduleConfig) -> Bool? {
        let home = home(of: schedule)
        return home.store.flatMap { try? $0.scheduleSwitch(schedule: schedule.name, queue: home.queue).disabled }
    }

    /// Enqueues the schedule's job now, marked as a manual trigger; returns the job's id. The timetable
    /// is not touched.
    public func trigger(schedule name: String) throws(Failure) -> String {
        guard let schedule = try schedules(named: [name]).first else { throw .unknownSchedules([name], known: config.schedules.map(\.name)) }
        // Enqueued at once whatever the schedule's overlap; unless runs may overlap it carries the
        // schedule's concurrency key, as its fired jobs do, so it starts only once a run in progress ended.
        return try submit(.init(
            handler: schedule.handler, payload: Data(schedule.payloadJSON.utf8), queue: schedule.queue,
            origin: "manual trigger of schedule \(schedule.name)", concurrency: schedule.concurrency.map { ConcurrencyLimit(key: $0.key, limit: $0.limit) }))
    }

    // MARK: Jobs

    /// Enqueues one job through the routes; returns its id.
    public func submit(_ request: JobSubmitter.Request) throws(Failure) -> String {
        do {
            return try JobSubmitter(config: config, backends: backends).submit(request)
        } catch let refusal as JobSubmitter.Refusal {
            throw .refused(refusal.description)
        } catch let error as BackendError {
            throw .backend(error)
        } catch {
            throw .backend(BackendError(.server, "\(error)"))
        }
    }

    /// A page of one queue's jobs in one state, newest first.
    public func list(queue name: String, state: JobState, offset: Int, limit: Int) throws(Failure) -> [JobInfo] {
        let (queue, backend) = try queue(named: name)
        return try call { () throws(BackendError) in try backend.list(queue: queue.name, state: state, offset: offset, limit: limit) }
    }

    /// A job by id, in `queue` or in whichever queue holds it.
    public func job(id: String, queue: String? = nil) throws(Failure) -> (JobInfo, any JobBackend) {
        for entry in try queue.map({ name throws(Failure) in try queues(named: [name]) }) ?? config.queues {
            let backend = try backend(of: entry)
            if let job = try call({ () throws(BackendError) in try backend.job(queue: entry.name, id: id) }) { return (job, backend) }
        }
        throw .noSuchJob(id: id, queue: queue)
    }

    /// Retries or discards one dead job; returns it as it was.
    @discardableResult
    public func apply(_ action: DeadJobAction, toDeadJob id: String, queue: String? = nil) throws(Failure) -> JobInfo {
        let (job, backend) = try job(id: id, queue: queue)
        guard job.state == .dead else { throw .notDead(id: id, state: job.state, action: action) }
        guard try call({ () throws(BackendError) in try backend.apply(action, queue: job.queue, id: id) }) else {
            // Changed by someone else between the look and the change: say what it is now.
            let now = try call { () throws(BackendError) in try backend.job(queue: job.queue, id: id) }
            guard let now else { throw .noSuchJob(id: id, queue: queue) }
            throw .notDead(id: id, state: now.state, action: action)
        }
        return job
    }

    /// Retries or discards every dead job of `queue`; returns how many changed.
    /// - Parameter progress: after each job, with how many were handled and how many were listed.
    public func applyToAllDead(
        _ action: DeadJobAction, queue name: String, progress: (_ handled: Int, _ total: Int) -> Void = { _, _ in }
    ) throws(Failure) -> Int {
        let (queue, backend) = try queue(named: name)
        return try call { () throws(BackendError) in try backend.applyToAllDead(action, queue: queue.name, progress: progress) }
    }

    // MARK: Helpers

    private func backend(of queue: QueueConfig) throws(Failure) -> any JobBackend {
        guard let backend = backends[queue.backend] else {
            throw .refused("queue '\(queue.name)' uses backend '\(queue.backend)', which is not configured")
        }
        return backend
    }

    func call<Result>(_ body: () throws(BackendError) -> Result) throws(Failure) -> Result {
        do throws(BackendError) {
            return try body()
        } catch {
            throw .backend(error)
        }
    }
}

private func quotedList(_ names: [String]) -> String { names.map { "'\($0)'" }.joined(separator: ", ") }
