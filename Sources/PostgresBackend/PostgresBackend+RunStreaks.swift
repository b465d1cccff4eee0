import Backend
import Foundation
import PostgresClient

/// Run streaks: `run_streaks` and the outbox `run_alerts` (migration 10), written by the trigger
/// `jobs_failed_run` (a run ending dead) and the settle statement (a run ending done).
extension PostgresBackend: RunStreakStore {
    /// One statement: the queue's oldest rows, locked with SKIP LOCKED (so hosts taking at once get
    /// different rows) and deleted.
    public func takeRunAlerts(queue: String, limit: Int) throws(BackendError) -> [RunAlertEntry] {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard limit > 0 else { return [] }
        let alerts = core.schema.qualified("run_alerts")
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query("""
                WITH taken AS (
                    DELETE FROM \(alerts) AS a
                    WHERE a.seq = ANY (ARRAY(
                        SELECT o.seq FROM \(alerts) AS o WHERE o.queue = $1 ORDER BY o.seq LIMIT $2 FOR UPDATE SKIP LOCKED))
                    RETURNING a.*
                )
                SELECT t.seq, t.event, t.kind, t.name, t.failures, t.job_id, t.handler, t.error,
                    (extract(epoch FROM t.at) * 1000000)::bigint
                FROM taken AS t ORDER BY t.seq
                """, [queue, String(limit)])
        }
        return try (0..<rows.count).map { row throws(BackendError) in
            guard let event = rows[row, 1].flatMap(RunAlertEntry.Event.init(rawValue:)),
                let subject = RunStreakSubject(kind: rows[row, 2] ?? "", name: rows[row, 3] ?? ""),
                let failures = rows[row, 4].flatMap({ Int($0) }), let micros = rows[row, 8].flatMap({ Int64($0) })
            else { throw Self.malformed("run alerts") }
            return RunAlertEntry(
                event: event, subject: subject, queue: queue, failures: failures, jobID: rows[row, 5], handler: rows[row, 6],
                error: rows[row, 7], at: Self.date(microseconds: micros))
        }
    }

    public func runStreak(queue: String, _ subject: RunStreakSubject) throws(BackendError) -> Int {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard !subject.name.utf8.contains(0) else { return 0 }
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(
                "SELECT failures FROM \(core.schema.qualified("run_streaks")) WHERE queue = $1 AND kind = $2 AND name = $3",
                [queue, subject.kind, subject.name])
        }
        return rows.count == 1 ? rows[0, 0].flatMap { Int($0) } ?? 0 : 0
    }
}
