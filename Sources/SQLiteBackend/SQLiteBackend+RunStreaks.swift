import Backend
import Foundation

/// Run streaks: `run_streaks` and the outbox `run_alerts` (schema version 5), written by the triggers
/// on `jobs` in the transaction that ends a run.
extension SQLiteBackend: RunStreakStore {
    /// One write transaction: the queue's oldest entries, deleted as they are read (SQLite has one
    /// writer at a time, so two hosts never take the same entry).
    public func takeRunAlerts(queue: String, limit: Int) throws(BackendError) -> [RunAlertEntry] {
        try Self.validate(queue: queue)
        guard limit > 0 else { return [] }
        try open()
        let rows = try writer.transaction { (statements) throws(BackendError) -> [[SQLiteValue]] in
            try statements.query("""
                DELETE FROM run_alerts WHERE seq IN (SELECT seq FROM run_alerts WHERE queue = ?1 ORDER BY seq LIMIT ?2)
                RETURNING seq, event, kind, name, failures, job_id, handler, error, at
                """, [.text(queue), .integer(Int64(limit))])
        }
        // RETURNING gives rows in no promised order.
        return try rows.sorted { ($0[0].int64 ?? 0) < ($1[0].int64 ?? 0) }.map { (row) throws(BackendError) in
            guard let event = row[1].text.flatMap(RunAlertEntry.Event.init(rawValue:)),
                let subject = RunStreakSubject(kind: row[2].text ?? "", name: row[3].text ?? ""),
                let failures = row[4].int, let micros = row[8].int64
            else { throw Self.malformed("run alerts") }
            return RunAlertEntry(
                event: event, subject: subject, queue: queue, failures: failures, jobID: row[5].text, handler: row[6].text,
                error: row[7].text, at: JobFieldLimits.date(microseconds: micros))
        }
    }

    public func runStreak(queue: String, _ subject: RunStreakSubject) throws(BackendError) -> Int {
        try Self.validate(queue: queue)
        try open()
        let rows = try read { (statements) throws(BackendError) in
            try statements.query(
                "SELECT failures FROM run_streaks WHERE queue = ?1 AND kind = ?2 AND name = ?3",
                [.text(queue), .text(subject.kind), .text(subject.name)])
        }
        return rows.first?.first?.int ?? 0
    }
}
