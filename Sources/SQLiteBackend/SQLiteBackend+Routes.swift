import Backend
import Durations
import Foundation

/// Published routes: the `routes` table, one row per handler, which the `enqueue` view's trigger reads
/// for an application's insert without a queue.
extension SQLiteBackend: RouteStore {
    public func publishRoutes(_ routes: [RouteEntry], by host: String) throws(BackendError) {
        try RouteRows.validate(routes, by: host)
        guard !routes.isEmpty else { return }
        try open()
        try writer.transaction { (statements) throws(BackendError) in
            let now = Self.now()
            for route in routes.sorted(by: { $0.handler < $1.handler }) {
                try statements.run(
                    """
                    INSERT INTO routes (handler, queue, max_attempts, timeout_ms, published_by, published_at) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (handler) DO UPDATE SET queue = excluded.queue, max_attempts = excluded.max_attempts,
                        timeout_ms = excluded.timeout_ms, published_by = excluded.published_by, published_at = excluded.published_at
                    """,
                    [
                        .text(route.handler), .text(route.queue), .integer(Int64(route.maxAttempts)),
                        .integer(Int64(route.timeout.roundedUpMilliseconds)), .text(host), .integer(now),
                    ])
            }
        }
    }

    public func publishedRoutes() throws(BackendError) -> [PublishedRoute] {
        try open()
        return try read { (statements) throws(BackendError) in
            try statements.query("SELECT handler, queue, max_attempts, timeout_ms, published_by, published_at FROM routes ORDER BY handler")
                .map { row throws(BackendError) in
                    guard let handler = row[0].text, let queue = row[1].text, let attempts = row[2].int, let timeout = row[3].int64,
                        let host = row[4].text, let at = row[5].int64
                    else { throw Self.malformed("published routes") }
                    return PublishedRoute(
                        entry: RouteEntry(handler: handler, queue: queue, maxAttempts: attempts, timeout: .milliseconds(timeout)),
                        publishedBy: host, publishedAt: JobFieldLimits.date(microseconds: at))
                }
        }
    }
}
