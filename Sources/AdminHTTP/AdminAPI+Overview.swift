import Backend
import Foundation
import HostDomain
import Hummingbird
import Monitoring

/// What a dashboard's overview reads: throughput per queue, the hosts on each backend and this host's
/// workers, and the plugins with each handler's recent health.
extension AdminAPI {
    func registerOverview(on api: RouterGroup<BasicRequestContext>) {
        api.get("throughput") { _, _ in throughput() }
        api.get("hosts") { _, _ in await hosts() }
        api.get("plugins") { _, _ in plugins() }
    }

    // MARK: Throughput

    struct ThroughputView: Encodable {
        var intervalSeconds: Int
        var queues: [QueueSeries]
    }

    struct QueueSeries: Encodable {
        var queue: String
        /// Oldest first; an interval whose read failed has no point.
        var points: [ThroughputRing.Point]
    }

    private func throughput() -> Response {
        guard let sampler = host.throughput else { return Reply.error(.serviceUnavailable, "throughput is not sampled on this host") }
        return Reply.json(ThroughputView(
            intervalSeconds: Int(sampler.intervalSeconds.rounded()), queues: sampler.series().map { QueueSeries(queue: $0.queue, points: $0.points) }))
    }

    // MARK: Hosts

    struct HostView: Encodable {
        var name: String
        var instance: String
        var pid: Int32
        var machine: String
        var startedAt: Date?
        var lastSeenAt: Date?
        /// Seen within the time after which another run may take its name over (the backend's clock).
        var alive: Bool
        var backend: String
    }

    struct HostsView: Encodable {
        var hosts: [HostView]
        var workers: [AdminHost.Worker]
        /// Backends whose records could not be read; absent when all answered.
        var errors: [BackendProblem]?
    }

    struct BackendProblem: Error, Encodable, Sendable {
        var backend: String
        var error: String
    }

    private func hosts() async -> Response {
        let registries = host.config.backends.compactMap { entry in
            host.backends[entry.name].flatMap { backend in (backend as? any HostRegistry).map { (entry.name, backend, $0) } }
        }
        let answers = await withTaskGroup(of: (String, Result<[HostView], BackendProblem>).self) { group in
            for (name, backend, registry) in registries {
                group.addTask {
                    let result = await blockingCall(timeout: Self.callTimeout) { () -> Result<[HostView], BackendProblem> in
                        do throws(BackendError) {
                            let now = try (backend as? any ScheduleStore)?.now() ?? Date()
                            return .success(try registry.hostRecords().map { record in
                                HostView(
                                    name: record.name, instance: record.instance, pid: record.pid, machine: record.machine, startedAt: record.startedAt,
                                    lastSeenAt: record.seenAt,
                                    alive: record.seenAt.map { now.timeIntervalSince($0) < HostIdentity.staleAfter.seconds } ?? false, backend: name)
                            })
                        } catch {
                            return .failure(BackendProblem(backend: name, error: error.message))
                        }
                    }
                    return (name, result ?? .failure(BackendProblem(backend: name, error: "no answer within \(Self.callTimeout.seconds) s")))
                }
            }
            return await group.reduce(into: [String: Result<[HostView], BackendProblem>]()) { $0[$1.0] = $1.1 }
        }
        var views: [HostView] = []
        var problems: [BackendProblem] = []
        for (name, _, _) in registries {
            switch answers[name] {
            case .success(let found)?: views += found
            case .failure(let problem)?: problems.append(problem)
            case nil: break
            }
        }
        return Reply.json(HostsView(hosts: views, workers: host.workers(), errors: problems.isEmpty ? nil : problems))
    }

    // MARK: Plugins

    /// What loading the plugins found (`host list-plugins --json`), each handler with its streak on this
    /// host as it is now: built per request.
    private func plugins() -> Response {
        guard var root = (try? JSONSerialization.jsonObject(with: Data(host.pluginsJSON))) as? [String: Any],
            let plugins = root["plugins"] as? [[String: Any]]
        else { return Reply.error(.internalServerError, "the plugins' report cannot be read") }
        root["plugins"] = plugins.map { plugin -> [String: Any] in
            var plugin = plugin
            if let handlers = plugin["handlers"] as? [[String: Any]] {
                plugin["handlers"] = handlers.map { handler -> [String: Any] in
                    var handler = handler
                    if let name = handler["name"] as? String { handler["streak"] = Self.jsonObject(host.tasks.streak(handler: name)) }
                    return handler
                }
            }
            return plugin
        }
        guard let body = try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return Reply.error(.internalServerError, "cannot encode the answer")
        }
        return Reply.bytes(Array(body) + [UInt8(ascii: "\n")])
    }

    /// A value as a JSON object in the API's style, to place inside a document built by hand.
    private static func jsonObject(_ value: some Encodable) -> Any {
        (try? Reply.encoder.encode(value)).flatMap { try? JSONSerialization.jsonObject(with: $0) } ?? [String: Any]()
    }
}
