import Backend
import Foundation
import HostConfig
import HostDomain
import Hummingbird
import Monitoring

/// The JSON API under `/api/v1`: queues, jobs, dead-job actions, schedules and plugins (the overview's
/// throughput, hosts and plugins: `AdminAPI+Overview.swift`). Backend
/// calls block, so each runs on a thread of its own (``blockingCall(timeout:_:)``).
struct AdminAPI: Sendable {
    let host: AdminHost

    /// How long one backend call may take before the answer is a 504 (the call itself goes on).
    static let callTimeout = Duration.seconds(30)
    /// Bulk actions on dead jobs go one job at a time: give them longer.
    static let bulkTimeout = Duration.seconds(600)

    func register(on router: Router<BasicRequestContext>) {
        let api = router.group("api/v1")
        api.get("queues") { _, _ in await queues() }
        api.get("queues/:queue/jobs") { request, context in
            let query = Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }) { first, _ in first }
            return try await jobs(queue: context.parameters.require("queue"), query: query)
        }
        api.post("queues/:queue/dead/:action") { _, context in
            try await allDead(queue: context.parameters.require("queue"), action: context.parameters.require("action"))
        }
        api.get("queues/:queue/search") { request, context in
            let query = Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }) { first, _ in first }
            return try await search(queue: context.parameters.require("queue"), query: query)
        }
        // One route for a queue's actions: discard (with a body) beside pause and resume.
        api.post("queues/:queue/:action") { request, context in
            let queue = try context.parameters.require("queue")
            let action = try context.parameters.require("action")
            if action == "discard" {
                let body = try await request.body.collect(upTo: 16_384)
                return await discardPending(queue: queue, body: body)
            }
            return await pause(queue: queue, action: action)
        }
        api.get("jobs/:id") { _, context in try await job(id: context.parameters.require("id")) }
        api.post("jobs/:id/:action") { _, context in
            let id = try context.parameters.require("id")
            let action = try context.parameters.require("action")
            if action == "cancel" { return await cancel(id: id) }
            return await deadJob(id: id, action: action)
        }
        api.get("schedules") { _, _ in await schedules() }
        api.post("schedules/:name/:action") { _, context in
            let name = try context.parameters.require("name")
            switch try context.parameters.require("action") {
            case "trigger": return await trigger(name)
            case "enable": return await switchSchedule(name, off: false)
            case "disable": return await switchSchedule(name, off: true)
            case let other: return Reply.error(.notFound, "unknown action '\(other)'; one of trigger, enable, disable")
            }
        }
        registerOverview(on: api)
    }

    // MARK: Queues and jobs

    struct QueueView: Encodable {
        var name: String
        var backend: String
        var concurrency: Int
        var isolation: String
        var paused: Bool?
        var jobs: QueueCounts?
        var error: String?
    }

    private func queues() async -> Response {
        let snapshot = await host.probe.snapshot()
        let views = host.config.queues.map { queue in
            let health = snapshot.queues.first { $0.name == queue.name }
            let backend = snapshot.backends.first { $0.name == queue.backend }
            return QueueView(
                name: queue.name, backend: queue.backend, concurrency: queue.concurrency, isolation: queue.isolation.rawValue,
                paused: health?.paused, jobs: health?.stats.map(QueueCounts.init), error: backend?.up == false ? backend?.error : nil)
        }
        return Reply.json(["queues": views])
    }

    private func jobs(queue name: String, query: [String: String]) async -> Response {
        let stateText = query["state"] ?? JobState.dead.rawValue
        guard let state = JobState(rawValue: stateText) else {
            return Reply.error(.badRequest, "unknown state '\(stateText)'; one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let offset = Int(query["offset"] ?? "0"), offset >= 0, let limit = Int(query["limit"] ?? "50"), (1...500).contains(limit)
        else {
            return Reply.error(.badRequest, "offset must be 0 or more and limit 1 to 500")
        }
        return await perform { actions throws(OperatorActions.Failure) in
            let page = try actions.list(queue: name, state: state, offset: offset, limit: limit)
            return Reply.json(JobPage(queue: name, state: state, offset: offset, limit: limit, jobs: page,
                nextOffset: page.count == limit ? offset + limit : nil))
        }
    }

    struct JobPage: Encodable {
        var queue: String
        var state: JobState
        var offset: Int
        var limit: Int
        var jobs: [JobInfo]
        /// nil on the last page.
        var nextOffset: Int?
    }

    private func job(id: String) async -> Response {
        await perform { actions throws(OperatorActions.Failure) in Reply.json(try actions.job(id: id).0) }
    }

    private func deadJob(id: String, action text: String) async -> Response {
        guard let action = DeadJobAction(rawValue: text) else { return unknownAction(text) }
        return await perform { actions throws(OperatorActions.Failure) in
            let job = try actions.apply(action, toDeadJob: id)
            host.logger.notice("dead job \(action.done) over HTTP", metadata: ["job.id": "\(id)", "job.queue": "\(job.queue)"])
            return Reply.json(["id": id, "queue": job.queue, "result": action.done])
        }
    }

    private func allDead(queue name: String, action text: String) async -> Response {
        guard let action = DeadJobAction(rawValue: text) else { return unknownAction(text) }
        return await perform(timeout: Self.bulkTimeout) { actions throws(OperatorActions.Failure) in
            let changed = try actions.applyToAllDead(action, queue: name)
            host.logger.notice("dead jobs \(action.done) over HTTP", metadata: ["queue": "\(name)", "jobs": "\(changed)"])
            return Reply.json(DeadBulk(queue: name, action: action.rawValue, changed: changed))
        }
    }

    private func pause(queue name: String, action: String) async -> Response {
        guard action == "pause" || action == "resume" else {
            return Reply.error(.notFound, "unknown action '\(action)'; one of pause, resume, discard, dead/retry, dead/discard")
        }
        let paused = action == "pause"
        return await perform { actions throws(OperatorActions.Failure) in
            try actions.setPaused(queue: name, paused)
            host.logger.notice(paused ? "queue paused over HTTP" : "queue resumed over HTTP", metadata: ["queue": "\(name)"])
            return Reply.json(PauseState(queue: name, paused: paused))
        }
    }

    struct PauseState: Encodable {
        var queue: String
        var paused: Bool
    }

    struct DeadBulk: Encodable {
        var queue: String
        var action: String
        var changed: Int
    }

    // MARK: Schedules

    struct ScheduleView: Encodable {
        var name: String
        var handler: String
        var queue: String
        var trigger: String
        var timeZone: String
        var enabledInConfig: Bool
        /// `skip`, `allow` or `queue`: what a fire does while the previous run is live.
        var overlap: String
        /// Switched off by an operator; nil when its backend did not answer.
        var disabled: Bool?
        var nextFires: [Date]
        /// The last fires, newest first, with their jobs' states; nil when its backend did not answer.
        var recentRuns: [OperatorActions.ScheduleRun]?
    }

    private func schedules() async -> Response {
        let upcoming = host.scheduler.upcoming(after: Date(), count: 3)
        let actions = host.actions
        let views = await blockingCall(timeout: Self.callTimeout) {
            actions.config.schedules.map { schedule in
                ScheduleView(
                    name: schedule.name, handler: schedule.handler, queue: actions.home(of: schedule).queue,
                    trigger: schedule.trigger.description, timeZone: schedule.timeZone.identifier, enabledInConfig: schedule.enabled,
                    overlap: schedule.overlap.rawValue, disabled: actions.isDisabled(schedule), nextFires: upcoming[schedule.name] ?? [], recentRuns: actions.recentRuns(of: schedule))
            }
        }
        guard let views else { return Self.timedOut }
        return Reply.json(["schedules": views])
    }

    private func switchSchedule(_ name: String, off: Bool) async -> Response {
        await perform { actions throws(OperatorActions.Failure) in
            try actions.setDisabled(schedule: name, off)
            host.logger.notice(off ? "schedule disabled over HTTP" : "schedule enabled over HTTP", metadata: ["schedule": "\(name)"])
            return Reply.json(SwitchState(schedule: name, disabled: off))
        }
    }

    struct SwitchState: Encodable {
        var schedule: String
        var disabled: Bool
    }

    private func trigger(_ name: String) async -> Response {
        await perform { actions throws(OperatorActions.Failure) in
            let id = try actions.trigger(schedule: name)
            return Reply.json(["schedule": name, "id": id], status: .created)
        }
    }

    // MARK: Helpers

    private func unknownAction(_ text: String) -> Response {
        Reply.error(.notFound, "unknown action '\(text)'; one of cancel, \(DeadJobAction.allCases.map(\.rawValue).joined(separator: ", "))")
    }

    private static let timedOut = Reply.error(.gatewayTimeout, "the backend did not answer in time; a change may still complete")

    /// Runs an operator action on a thread of its own and answers with its result, or with the status
    /// its failure calls for.
    func perform(
        timeout: Duration = Self.callTimeout, _ body: @escaping @Sendable (OperatorActions) throws(OperatorActions.Failure) -> Response
    ) async -> Response {
        let actions = host.actions
        let result = await blockingCall(timeout: timeout) { () -> Response in
            do throws(OperatorActions.Failure) {
                return try body(actions)
            } catch {
                return Reply.error(error.status, "\(error)")
            }
        }
        return result ?? Self.timedOut
    }
}

extension OperatorActions.Failure {
    var status: HTTPResponse.Status {
        switch self {
        case .unknownQueues, .unknownSchedules, .noSuchJob: .notFound
        case .notDead, .notPending: .conflict
        case .refused: .unprocessableContent
        case .backend(let error): error.isTransient ? .serviceUnavailable : .badGateway
        }
    }
}
