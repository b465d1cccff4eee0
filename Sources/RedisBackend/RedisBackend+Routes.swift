import Backend
import Foundation
import RedisClient

/// Published routes: one hash, `<prefix>:routes`, handler → the route as JSON; and the `jobhost`
/// function library, which enqueues by it (docs/redis.md).
extension RedisBackend: RouteStore {
    /// Writes the routes in one script, then (re)loads the function library, so producers calling
    /// `FCALL jobhost_enqueue` find it on a server that was restarted or flushed since. A server
    /// without functions (before Redis 7) keeps the routes; its producers read them with HGET.
    public func publishRoutes(_ routes: [RouteEntry], by host: String) throws(BackendError) {
        try RouteRows.validate(routes, by: host)
        guard !routes.isEmpty else { return }
        let script = RedisScripts.publishRoutes
        var command = script.call(key: routesKey)
        command.append(host)
        command.append(RouteRows.json(routes))
        guard try run(script, command).int == routes.count else { throw Self.malformed(script) }
        let library = RedisScripts.functionLibrary
        let reply = try withPooledConnection { connection throws(RedisError) in
            try connection.pipeline([["FUNCTION", "LOAD", "REPLACE", library]])[0]
        }
        if case .error(let message) = reply, !message.lowercased().contains("unknown command") {
            throw BackendError(.server, "Redis refused to load the jobhost function library: \(message)")
        }
    }

    /// One `HGETALL`; a field that is not a route (an edit) is left out.
    public func publishedRoutes() throws(BackendError) -> [PublishedRoute] {
        let key = routesKey
        let reply = try withPooledConnection { connection throws(RedisError) in try connection.command(["HGETALL", key]) }
        guard let items = reply.array else { throw BackendError(.corrupt, "\(key) is not a hash") }
        return stride(from: 1, to: items.count, by: 2).compactMap { index in
            guard let handler = items[index - 1].text, let json = items[index].text else { return nil }
            return Self.route(handler: handler, json: json)
        }.sorted { $0.entry.handler < $1.entry.handler }
    }

    /// `<prefix>:routes`. Not under a queue's hash tag: queue keys start with `{`, so it cannot meet one.
    var routesKey: String { "\(keyPrefix):routes" }

    private static func route(handler: String, json: String) -> PublishedRoute? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let queue = object["queue"] as? String, let attempts = (object["max_attempts"] as? NSNumber)?.intValue,
            let timeout = (object["timeout_ms"] as? NSNumber)?.int64Value, let host = object["published_by"] as? String,
            let at = (object["published_at"] as? NSNumber)?.int64Value
        else { return nil }
        return PublishedRoute(
            entry: RouteEntry(handler: handler, queue: queue, maxAttempts: attempts, timeout: .milliseconds(timeout)),
            publishedBy: host, publishedAt: JobFieldLimits.date(milliseconds: at))
    }
}
