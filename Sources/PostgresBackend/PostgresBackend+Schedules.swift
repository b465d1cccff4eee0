import Backend
import Foundation
import PostgresClient

/// Schedule fires: the last fire of each schedule, per queue, is a row of `<schema>.schedule_fires`,
/// and its last ``ScheduleFire/kept`` fires rows of `<schema>.schedule_fire_history`, all written in the
/// transaction that enqueues the fire's job.
extension PostgresBackend: ScheduleStore {
    /// The database's clock (`clock_timestamp()`).
    public func now() throws(BackendError) -> Date {
        let core = try core.get()
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")
        }
        guard rows.count == 1, let micros = rows[0, 0].flatMap({ Int64($0) }) else { throw Self.malformed("clock") }
        return Self.date(microseconds: micros)
    }

    /// One transaction: records the fire if it is later than the one recorded (the row lock makes
    /// hosts that fire the same time take turns, and the later ones find it recorded), enqueues the
    /// job as ``enqueue(_:)`` does (a live holder of its unique key is the fire's job then), records
    /// the job's id, and commits. Nothing is written when the fire was recorded already or is ahead of
    /// the database's clock. With overlap ``FireOverlap/skip`` and the previous fire's job still live,
    /// the fire is recorded skipped (its history row naming that job) and no job is enqueued.
    public func claimFire(schedule: String, at fireTime: Date, job: NewJob, overlap: FireOverlap) throws(BackendError) -> FireClaim {
        let core = try core.get()
        try Self.validate(job)
        try Self.validate(schedule: schedule)
        let fire = String(Int64((fireTime.timeIntervalSince1970 * 1_000_000).rounded()))
        return try core.pool.withConnection { connection throws(BackendError) -> FireClaim in
            try mapErrors { () throws(PostgresError) in try connection.execute("BEGIN") }
            do throws(BackendError) {
                let claim = try mapErrors { () throws(PostgresError) in
                    try connection.query(core.statements.claimFire, [job.queue, schedule, fire])
                }
                guard claim.count == 1 else { throw Self.malformed("claim fire") }
                guard claim[0, 1] == "t" else {
                    connection.rollback()
                    if claim[0, 0] != "t" {
                        throw BackendError(.invalid, "schedule \(schedule): fire time \(fireTime) is ahead of the PostgreSQL clock")
                    }
                    return .notFired
                }
                if overlap == .skip {
                    let live = try mapErrors { () throws(PostgresError) in
                        try connection.query(core.statements.liveRun, [job.queue, schedule])
                    }
                    if live.count == 1, let previous = live[0, 0] {
                        try mapErrors { () throws(PostgresError) in
                            _ = try connection.query(core.statements.recordFireHistory, [job.queue, schedule, previous, "true"])
                            try connection.execute("COMMIT")
                        }
                        return .skipped(previous: previous)
                    }
                }
                let id = try Self.insert([job], on: connection, core.statements)[0]
                try mapErrors { () throws(PostgresError) in
                    // The job knows its schedule, so its run counts toward the schedule's streak; a live
                    // holder of the unique key returned instead was not fired by it.
                    if id == job.id {
                        _ = try connection.query("UPDATE \(core.schema.qualified("jobs")) SET schedule = $2 WHERE id = $1", [id, schedule])
                    }
                    _ = try connection.query(core.statements.recordFire, [job.queue, schedule, id])
                    _ = try connection.query(core.statements.recordFireHistory, [job.queue, schedule, id, "false"])
                    try connection.execute("COMMIT")
                }
                return .fired(id)
            } catch {
                connection.rollback()
                throw error
            }
        }
    }

    public func lastFire(schedule: String, queue: String) throws(BackendError) -> (fireTime: Date, jobID: String)? {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard !schedule.utf8.contains(0) else { return nil }
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.lastFire, [queue, schedule])
        }
        guard rows.count == 1 else { return nil }
        guard let micros = rows[0, 0].flatMap({ Int64($0) }), let id = rows[0, 1] else { throw Self.malformed("last fire") }
        return (Self.date(microseconds: micros), id)
    }

    /// Rows of `schedule_fire_history`, which ``claimFire(schedule:at:job:overlap:)`` writes in its transaction.
    public func recentFires(schedule: String, queue: String, limit: Int) throws(BackendError) -> [ScheduleFire] {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard limit > 0, !schedule.utf8.contains(0) else { return [] }
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.recentFires, [queue, schedule, String(min(limit, ScheduleFire.kept))])
        }
        return try (0..<rows.count).map { row throws(BackendError) in
            guard let micros = rows[row, 0].flatMap({ Int64($0) }), let id = rows[row, 1] else { throw Self.malformed("recent fires") }
            return ScheduleFire(fireTime: Self.date(microseconds: micros), jobID: id, skipped: rows[row, 2] == "t")
        }
    }

    /// One statement on `schedule_switches`, which ``claimFire(schedule:at:job:)`` reads in its
    /// transaction.
    public func setDisabled(schedule: String, queue: String, _ disabled: Bool) throws(BackendError) {
        let core = try core.get()
        try Self.validate(queue: queue)
        try Self.validate(schedule: schedule)
        _ = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.setScheduleSwitch, [queue, schedule, disabled ? "true" : "false"])
        }
    }

    public func scheduleSwitch(schedule: String, queue: String) throws(BackendError) -> ScheduleSwitch {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard !schedule.utf8.contains(0) else { return ScheduleSwitch() }
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.scheduleSwitch, [queue, schedule])
        }
        guard rows.count == 1 else { return ScheduleSwitch() }
        guard let disabled = rows[0, 0], let micros = rows[0, 1].flatMap({ Int64($0) }) else { throw Self.malformed("schedule switch") }
        return ScheduleSwitch(disabled: disabled == "t", changedAt: Self.date(microseconds: micros))
    }

    private static func validate(schedule: String) throws(BackendError) {
        guard !schedule.isEmpty, !schedule.utf8.contains(0) else {
            throw BackendError(.invalid, "a schedule name must be non-empty, without NUL")
        }
    }
}
