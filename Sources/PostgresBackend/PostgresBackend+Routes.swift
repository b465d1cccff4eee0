import Backend
import Foundation
import PostgresClient

/// Published routes: one row per handler in `<schema>.routes`, which `<schema>.enqueue` reads when it
/// is called without a queue (migration 12).
extension PostgresBackend: RouteStore {
    /// One statement, so atomic: the rows come in as one JSON array, upserted in handler order (hosts
    /// publishing at once lock rows in the same order and never deadlock).
    public func publishRoutes(_ routes: [RouteEntry], by host: String) throws(BackendError) {
        let core = try core.get()
        try RouteRows.validate(routes, by: host)
        guard !routes.isEmpty else { return }
        let table = core.schema.qualified("routes")
        _ = try core.withConnection { connection throws(PostgresError) in
            try connection.query(
                """
                INSERT INTO \(table) AS t (handler, queue, max_attempts, timeout_ms, published_by, published_at)
                SELECT r.handler, r.queue, r.max_attempts, r.timeout_ms, $2, now()
                FROM jsonb_to_recordset($1::jsonb) AS r(handler text, queue text, max_attempts integer, timeout_ms bigint)
                ORDER BY r.handler
                ON CONFLICT (handler) DO UPDATE SET queue = EXCLUDED.queue, max_attempts = EXCLUDED.max_attempts,
                    timeout_ms = EXCLUDED.timeout_ms, published_by = EXCLUDED.published_by, published_at = EXCLUDED.published_at
                """, [RouteRows.json(routes), host])
        }
    }

    public func publishedRoutes() throws(BackendError) -> [PublishedRoute] {
        let core = try core.get()
        let table = core.schema.qualified("routes")
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(
                """
                SELECT handler, queue, max_attempts, timeout_ms, published_by, (extract(epoch FROM published_at) * 1000000)::bigint
                FROM \(table) ORDER BY handler
                """)
        }
        return try (0..<rows.count).map { row throws(BackendError) in
            guard let handler = rows[row, 0], let queue = rows[row, 1], let attempts = rows[row, 2].flatMap({ Int($0) }),
                let timeout = rows[row, 3].flatMap({ Int64($0) }), let host = rows[row, 4], let micros = rows[row, 5].flatMap({ Int64($0) })
            else { throw Self.malformed("published routes") }
            return PublishedRoute(
                entry: RouteEntry(handler: handler, queue: queue, maxAttempts: attempts, timeout: .milliseconds(timeout)),
                publishedBy: host, publishedAt: Self.date(microseconds: micros))
        }
    }
}
