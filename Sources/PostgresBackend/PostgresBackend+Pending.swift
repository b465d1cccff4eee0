import Backend
import Durations
import Foundation
import PostgresClient

/// Cancelling, bulk-discarding and searching jobs: single statements on `jobs`. Deleting a row frees
/// its unique key with it (the key's index covers pending and running rows only).
extension PostgresBackend {
    /// One statement: the row is locked (`FOR UPDATE`, so a claim under way finishes first and the
    /// state read is the one that counts) and deleted only if it is ready or scheduled.
    public func cancel(queue: String, id: String) throws(BackendError) -> CancelOutcome {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard !id.isEmpty, !id.utf8.contains(0) else { return .notFound }
        let jobs = core.schema.qualified("jobs")
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query("""
                WITH target AS (
                    SELECT j.id, j.state FROM \(jobs) AS j WHERE j.queue = $1 AND j.id = $2 FOR UPDATE
                ), gone AS (
                    DELETE FROM \(jobs) AS j USING target AS t
                    WHERE j.id = t.id AND t.state IN ('ready', 'scheduled') RETURNING j.id
                )
                SELECT t.state, EXISTS (SELECT 1 FROM gone) FROM target AS t
                """, [queue, id])
        }
        guard rows.count == 1 else { return .notFound }
        if rows[0, 1] == "t" { return .cancelled }
        guard let text = rows[0, 0], let state = JobState(rawValue: text) else {
            throw BackendError(.corrupt, "job \(id) of queue \(queue) has the unknown state \"\(rows[0, 0] ?? "")\"")
        }
        return state == .running ? .running : .settled(state)
    }

    /// One statement per batch: up to `limit` matching rows, in claim order, deleted. Rows a claim
    /// holds locked are skipped (they are on their way to running). A scheduled job counts as ready
    /// once due, as in ``list(queue:state:offset:limit:)``. The cursor stays at the start: every batch
    /// looks from the beginning, and the last batch is the one that found fewer than `limit`.
    public func discardPending(
        queue: String, _ selection: PendingSelection, from cursor: PendingCursor, limit: Int
    ) throws(BackendError) -> PendingDiscardBatch {
        let core = try core.get()
        try Self.validate(queue: queue)
        try selection.check()
        let limit = max(1, limit)
        let jobs = core.schema.qualified("jobs")
        let due = selection.state == .ready ? "j.run_at <= now()" : "j.run_at > now()"
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query("""
                WITH picked AS (
                    SELECT j.id FROM \(jobs) AS j
                    WHERE j.queue = $1 AND j.state IN ('ready', 'scheduled') AND \(due)
                        AND ($2::bigint IS NULL OR j.enqueued_at <= now() - $2::bigint * interval '1 microsecond')
                        AND ($3::text IS NULL OR j.handler = $3)
                    ORDER BY j.run_at, j.seq
                    LIMIT $4
                    FOR UPDATE SKIP LOCKED
                )
                DELETE FROM \(jobs) AS j USING picked AS p WHERE j.id = p.id RETURNING 1
                """, [
                    queue, selection.olderThan.map { String($0.roundedUpMicroseconds) }, selection.handler.map(Self.storable),
                    String(limit),
                ])
        }
        return PendingDiscardBatch(discarded: rows.count, next: rows.count < limit ? nil : .start)
    }

    /// One statement: `LIKE` on the payload's JSON text with `\`, `%` and `_` escaped (matched as
    /// themselves; `LIKE` compares case-sensitively), newest enqueued first, `LIMIT`. It reads the
    /// queue's rows (no index covers payloads); never truncated.
    public func search(queue: String, text: String, limit: Int) throws(BackendError) -> JobSearchResult {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard !text.isEmpty else { throw BackendError(.invalid, "search for what? the text is empty") }
        // PostgreSQL text cannot hold a NUL byte, so no job holds this text.
        guard limit > 0, !text.utf8.contains(0) else { return JobSearchResult(jobs: [], truncated: false) }
        let pattern = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_")
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query("""
                SELECT \(core.statements.infoColumns) FROM \(core.schema.qualified("jobs")) AS j
                WHERE j.queue = $1 AND (j.id = $2 OR j.handler = $2 OR j.payload::text LIKE '%' || $3 || '%' ESCAPE '\\')
                ORDER BY j.enqueued_at DESC, j.id DESC LIMIT $4
                """, [queue, text, pattern, String(limit)])
        }
        let jobs = try (0..<rows.count).map { (row) throws(BackendError) in try Self.info(rows, row: row, queue: queue, schema: core.schema) }
        return JobSearchResult(jobs: jobs, truncated: false)
    }
}
