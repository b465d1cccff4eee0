import Backend
import Durations

/// Dead-job retention: one statement on `jobs`. A dead row holds no unique key any more (the key's
/// index covers pending and running rows only) and keeps its attempt history in the row: deleting the
/// row takes both.
extension SQLiteBackend {
    /// One transaction: up to `limit` dead rows whose `updated_at` (when they died, the machine's
    /// clock) is older than `retention`, oldest first, through the index of finished rows.
    public func pruneDead(queue: String, retention: Duration, limit: Int) throws(BackendError) -> Int {
        try Self.validate(queue: queue)
        guard limit > 0 else { return 0 }
        try open()
        return try writer.transaction { (statements) throws(BackendError) in
            let oldestKept = Self.now() - Int64(max(0, retention.roundedUpMicroseconds))
            return try statements.run(Self.pruneDeadStatement, [.text(queue), .integer(oldestKept), .integer(Int64(limit))])
        }
    }

    // Parameters: queue, oldest death time kept, limit. The `state IN` term lets the planner use the
    // partial index of finished rows, as ``SQLiteStatements/prune`` does.
    static let pruneDeadStatement = """
        DELETE FROM jobs WHERE seq IN (
            SELECT seq FROM jobs WHERE queue = ?1 AND state IN ('done', 'dead') AND state = 'dead' AND updated_at < ?2
            ORDER BY updated_at LIMIT ?3)
        """
}
