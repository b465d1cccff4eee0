import Backend
import Durations
import PostgresClient

/// Dead-job retention: one statement on `jobs`. A dead row holds no unique key any more (the key's
/// index covers pending and running rows only) and keeps its attempt history in the row: deleting the
/// row takes both.
extension PostgresBackend {
    /// One statement: up to `limit` dead rows whose `updated_at` (when they died, the database's clock)
    /// is older than `retention`, oldest first, through the index of finished rows; rows another host's
    /// pass holds are skipped.
    public func pruneDead(queue: String, retention: Duration, limit: Int) throws(BackendError) -> Int {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard limit > 0 else { return 0 }
        let jobs = core.schema.qualified("jobs")
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query("""
                WITH old AS (
                    SELECT j.id FROM \(jobs) AS j
                    WHERE j.queue = $1 AND j.state = 'dead' AND j.updated_at < now() - $2::bigint * interval '1 microsecond'
                    ORDER BY j.updated_at
                    LIMIT $3
                    FOR UPDATE SKIP LOCKED
                ), gone AS (
                    DELETE FROM \(jobs) AS j WHERE j.id = ANY (ARRAY(SELECT o.id FROM old AS o)) AND j.state = 'dead' RETURNING 1
                )
                SELECT count(*) FROM gone
                """, [queue, String(retention.roundedUpMicroseconds), String(limit)])
        }
        guard rows.count == 1, let count = rows[0, 0].flatMap({ Int($0) }) else { throw Self.malformed("prune dead") }
        return count
    }
}
