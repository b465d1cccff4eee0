import Backend
import Durations
import Foundation

/// Cancelling, bulk-discarding and searching jobs. Deleting a row frees its unique key with it (the
/// key's index covers pending and running rows only).
extension SQLiteBackend {
    /// One write transaction: the state is read and the row deleted under SQLite's single writer, so
    /// no claim can take the job in between.
    public func cancel(queue: String, id: String) throws(BackendError) -> CancelOutcome {
        try Self.validate(queue: queue)
        guard !id.isEmpty else { return .notFound }
        try open()
        let state = try writer.transaction { (statements) throws(BackendError) -> String? in
            let rows = try statements.query("SELECT state FROM jobs WHERE queue = ?1 AND id = ?2", [.text(queue), .text(id)])
            guard let state = rows.first?.first?.text else { return nil }
            if state == "ready" || state == "scheduled" {
                _ = try statements.run("DELETE FROM jobs WHERE queue = ?1 AND id = ?2", [.text(queue), .text(id)])
            }
            return state
        }
        guard let state else { return .notFound }
        guard let known = JobState(rawValue: state) else {
            throw BackendError(.corrupt, "job \(id) of queue \(queue) has the unknown state \"\(state)\"")
        }
        switch known {
        case .ready, .scheduled: return .cancelled
        case .running: return .running
        case .done, .dead: return .settled(known)
        }
    }

    /// One write transaction per batch: up to `limit` matching rows, in claim order, deleted. A
    /// scheduled job counts as ready once due, as in ``list(queue:state:offset:limit:)``. The cursor
    /// stays at the start: every batch looks from the beginning, and the last batch is the one that
    /// found fewer than `limit`.
    public func discardPending(
        queue: String, _ selection: PendingSelection, from cursor: PendingCursor, limit: Int
    ) throws(BackendError) -> PendingDiscardBatch {
        try Self.validate(queue: queue)
        try selection.check()
        try open()
        let limit = max(1, limit)
        let due = selection.state == .ready ? "run_at <= ?2" : "run_at > ?2"
        let now = Self.now()
        let discarded = try writer.transaction { (statements) throws(BackendError) in
            try statements.run("""
                DELETE FROM jobs WHERE seq IN (
                    SELECT seq FROM jobs
                    WHERE queue = ?1 AND state IN ('ready', 'scheduled') AND \(due)
                        AND (?3 IS NULL OR enqueued_at <= ?2 - ?3) AND (?4 IS NULL OR handler = ?4)
                    ORDER BY run_at, seq LIMIT ?5)
                """, [
                    .text(queue), .integer(now), selection.olderThan.map { SQLiteValue.integer($0.roundedUpMicroseconds) } ?? .null,
                    selection.handler.map { SQLiteValue.text($0) } ?? .null, .integer(Int64(limit)),
                ])
        }
        return PendingDiscardBatch(discarded: discarded, next: discarded < limit ? nil : .start)
    }

    /// One read: `instr` on the payload's JSON text, newest enqueued first, `LIMIT`. Not `LIKE`: SQLite's
    /// folds ASCII case and would need `%` and `_` escaped; `instr` compares the bytes as they are. It
    /// reads the queue's rows (no index covers payloads); never truncated.
    public func search(queue: String, text: String, limit: Int) throws(BackendError) -> JobSearchResult {
        try Self.validate(queue: queue)
        guard !text.isEmpty else { throw BackendError(.invalid, "search for what? the text is empty") }
        guard limit > 0 else { return JobSearchResult(jobs: [], truncated: false) }
        try open()
        let rows = try read { (statements) throws(BackendError) in
            try statements.query("""
                SELECT \(SQLiteStatements.infoColumns) FROM jobs
                WHERE queue = ?1 AND (id = ?2 OR handler = ?2 OR instr(payload, ?2) > 0)
                ORDER BY enqueued_at DESC, id DESC LIMIT ?3
                """, [.text(queue), .text(text), .integer(Int64(limit)), .integer(Self.now())])
        }
        return JobSearchResult(jobs: try rows.map { (row) throws(BackendError) in try Self.info(row, queue: queue) }, truncated: false)
    }
}
