import Backend
import ConnectionPool
import Dispatch
import Foundation
import Logging
import PostgresClient
import Synchronization

/// Jobs in PostgreSQL: one row per job in `<schema>.jobs`, changed only by single statements that
/// are each their own short transaction, one round trip per batch. docs/postgres.md describes the
/// tables, and the `<schema>.enqueue(…)` function with which applications enqueue jobs inside their
/// own transactions.
///
/// Every time comes from the database's clock (`now()`): lease deadlines, run times, retention.
/// Settling and extending are fenced by the lease token, a random UUID drawn by each claim: a host
/// whose lease was rescued matches no row. Calls block their thread and are bounded by the timeouts;
/// nothing is retried here, backoff is the caller's. The schema must have been created with
/// ``PostgresMigrator`` (`host migrate`); ``ping()`` says when it was not.
public final class PostgresBackend: JobBackend {
    /// The connections and statements, or why there are none (a bad URL or schema name), thrown by
    /// every call: the initialiser cannot throw.
    private let core: Result<Core, BackendError>

    /// - Parameters:
    ///   - url: `postgres://user:password@host:port/database` (any libpq connection string works;
    ///     its parameters, such as `sslmode`, apply).
    ///   - schema: the PostgreSQL schema holding jobhost's tables: 1 to 48 lowercase letters, digits
    ///     and `_`, starting with a letter or `_`.
    ///   - poolSize: connections shared by all calls; a call waits while all are busy.
    ///     ``waitForWork(queue:timeout:)`` uses connections of its own, one per concurrent waiter.
    ///   - connectTimeout: how long a connection attempt may take (libpq counts whole seconds, at
    ///     least 2).
    ///   - commandTimeout: how long one statement may take: the server cancels it then
    ///     (`statement_timeout`), and the client gives up on the connection shortly after.
    ///   - logger: connection losses and reconnections.
    public init(
        url: String, schema: String = "jobhost", poolSize: Int = 8, connectTimeout: Duration, commandTimeout: Duration = .seconds(30),
        logger: Logger
    ) {
        self.core = Result { () throws(BackendError) -> Core in
            let schema = try PGSchema(schema)
            let (endpoint, listenEndpoint) = try mapErrors { () throws(PostgresError) in
                let endpoint = try PGEndpoint(url: url, applicationName: "jobhost", connectTimeout: connectTimeout, commandTimeout: commandTimeout)
                let listenEndpoint = try PGEndpoint(
                    url: url, applicationName: "jobhost", role: "listen", connectTimeout: connectTimeout, commandTimeout: commandTimeout)
                return (endpoint, listenEndpoint)
            }
            return Core(schema: schema, endpoint: endpoint, listenEndpoint: listenEndpoint, poolSize: max(1, poolSize), logger: logger)
        }
    }

    /// One statement for the whole batch, plus one look-up when some jobs were not inserted. Every job
    /// is checked first (id, queue and handler non-empty, `maxAttempts` ≥ 1, payload UTF-8 JSON), so
    /// one bad job rejects the batch with `.invalid` before anything is written. Jobs join their
    /// queues in the batch's order. An id that already exists (ids are unique across queues: the
    /// primary key) is returned and not written again, so a retried enqueue adds no duplicate; a
    /// `uniqueKey` held by a pending or running job of the queue returns that job's id. An empty
    /// `uniqueKey` means none.
    public func enqueue(_ jobs: [NewJob]) throws(BackendError) -> [String] {
        let core = try core.get()
        guard !jobs.isEmpty else { return [] }
        for job in jobs { try Self.validate(job) }
        return try core.pool.withConnection { connection throws(BackendError) in try Self.insert(jobs, on: connection, core.statements) }
    }

    /// Inserts validated jobs on `connection` (inside the caller's transaction, if one is open) and
    /// returns the id each job has, as ``enqueue(_:)`` describes.
    private static func insert(_ jobs: [NewJob], on connection: PGConnection, _ statements: PGStatements) throws(BackendError) -> [String] {
        var ids = [String?](repeating: nil, count: jobs.count)
        var pending = Array(jobs.indices)
        // Normally one round: every job inserted. A job not inserted is resolved to the holder of its
        // key or the job with its id; one whose holder finished in between is enqueued again.
        for _ in 0..<3 where !pending.isEmpty {
            let batch = pending.map { jobs[$0] }
            let parameters: [String?] = [
                PGArray.text(batch.map(\.id)), PGArray.text(batch.map(\.queue)), PGArray.text(batch.map(\.handler)),
                PGArray.text(batch.map { String(decoding: $0.payload, as: UTF8.self) }),
                PGArray.text(batch.map { String($0.maxAttempts) }),
                PGArray.text(batch.map { String($0.delay.roundedUpMicroseconds) }),
                PGArray.text(batch.map { $0.timeout.map { String(max(1, $0.roundedUpMilliseconds)) } }),
                PGArray.text(batch.map { uniqueKey($0) }), PGArray.text(batch.map { $0.origin.map(storable) }),
            ]
            let inserted: Set<String>
            do throws(PostgresError) {
                let rows = try connection.query(statements.enqueue, parameters)
                inserted = Set((0..<rows.count).compactMap { rows[$0, 0] })
            } catch {
                // A payload PostgreSQL's JSON parser refuses, or a value a constraint refuses.
                if let state = error.sqlState, state.hasPrefix("22") || state == "23514" {
                    throw BackendError(.invalid, "PostgreSQL refused a job of the batch: \(error.message)")
                }
                throw BackendError(error)
            }
            // Keys taken by a job inserted earlier in this batch.
            var holders: [String: String] = [:]
            for job in batch where inserted.contains(job.id) {
                if let key = uniqueKey(job) { holders[job.queue + "\u{0}" + key] = holders[job.queue + "\u{0}" + key] ?? job.id }
            }
            var unresolved: [Int] = []
            for index in pending {
                let job = jobs[index]
                if inserted.contains(job.id) {
                    ids[index] = job.id
                } else if let key = uniqueKey(job), let holder = holders[job.queue + "\u{0}" + key] {
                    ids[index] = holder
                } else {
                    unresolved.append(index)
                }
            }
            pending = []
            guard !unresolved.isEmpty else { break }
            let rows = try mapErrors { () throws(PostgresError) in
                try connection.query(statements.resolve, [
                    PGArray.text(unresolved.map { jobs[$0].id }), PGArray.text(unresolved.map { jobs[$0].queue }),
                    PGArray.text(unresolved.map { uniqueKey(jobs[$0]) }),
                ])
            }
            guard rows.count == unresolved.count else { throw malformed("resolve") }
            for row in 0..<rows.count {
                guard let ordinal = rows[row, 0].flatMap({ Int($0) }), (1...unresolved.count).contains(ordinal) else {
                    throw malformed("resolve")
                }
                if let id = rows[row, 1] { ids[unresolved[ordinal - 1]] = id } else { pending.append(unresolved[ordinal - 1]) }
            }
            pending.sort()
        }
        guard pending.isEmpty else {
            throw BackendError(.unavailable, "enqueue: the unique keys of \(pending.count) job(s) kept changing hands; try again")
        }
        return ids.map { $0! }
    }

    /// One statement: locks up to `limit` due jobs (`FOR UPDATE SKIP LOCKED`, so concurrent fetchers
    /// never wait for each other nor take the same job), oldest run time first, and leases them.
    /// Scheduled jobs whose time has come are claimed like ready ones: no promotion step. The same
    /// statement checks `queue_pauses` and claims nothing from a paused queue.
    public func fetch(queue: String, limit: Int, lease: Duration) throws(BackendError) -> [LeasedJob] {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard limit > 0 else { return [] }
        let scan = core.cursors.scan(queue)
        let started = ContinuousClock.now
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(
                core.statements.fetch, [queue, String(limit), String(max(1, lease.roundedUpMicroseconds)), scan.from.map { String($0) }])
        }
        guard rows.count >= 1, let databaseNow = rows[0, 11].flatMap({ Int64($0) }), let paused = rows[0, 13] else {
            throw Self.malformed("fetch")
        }
        // A paused queue's claim looked at nothing: moving the cursor to now would skip the jobs
        // enqueued meanwhile until the next full scan once it is resumed.
        guard paused != "t" else { return [] }
        var jobs: [(key: (Int64, Int64), job: LeasedJob)] = []
        jobs.reserveCapacity(rows.count)
        for row in 0..<rows.count where rows[row, 0] != nil {
            guard let id = rows[row, 0], let token = rows[row, 1], let handler = rows[row, 2], let payload = rows[row, 3],
                  let attempt = rows[row, 4].flatMap({ Int($0) }), let maxAttempts = rows[row, 5].flatMap({ Int($0) }),
                  let enqueuedAt = rows[row, 6].flatMap({ Int64($0) }), let runAt = rows[row, 9].flatMap({ Int64($0) }),
                  let seq = rows[row, 10].flatMap({ Int64($0) }), let crashes = rows[row, 12].flatMap({ Int($0) })
            else {
                throw BackendError(.corrupt, "a job claimed from \(core.schema.qualified("jobs")) in queue \(queue) lacks a required column")
            }
            let timeout = rows[row, 7].flatMap { Int($0) }.map { Duration.milliseconds($0) }
            jobs.append((
                (runAt, seq),
                LeasedJob(
                    lease: Lease(queue: queue, jobID: id, token: token), handler: handler, payload: Data(payload.utf8),
                    attempt: attempt, maxAttempts: maxAttempts, enqueuedAt: Self.date(microseconds: enqueuedAt), timeout: timeout,
                    lastError: rows[row, 8], crashes: crashes)
            ))
        }
        core.cursors.record(queue, scan: scan, lastClaimed: jobs.map(\.key.0).max(), databaseNow: databaseNow, took: ContinuousClock.now - started)
        // RETURNING has no order; the claim's is run time, then enqueue order.
        return jobs.sorted { $0.key < $1.key }.map(\.job)
    }

    /// Returns at once if a job is due; otherwise listens on the schema's channel (`LISTEN`) and
    /// waits, on a connection of its own, for a notification naming `queue`, for the shorter of
    /// `timeout` and the time until the earliest scheduled job is due. Enqueues, releases, retries,
    /// rescues and retried dead jobs notify. On a paused queue it waits for all of `timeout`, for a
    /// notification on the resume channel only: enqueues do not wake it, resuming does. Stops
    /// listening before it returns, so an idle connection never holds back the server's notification
    /// queue. If the listening connection breaks while waiting, returns early: the caller's next
    /// fetch polls, and the next wait connects again.
    public func waitForWork(queue: String, timeout: Duration) throws(BackendError) {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard timeout > .zero else { return }
        let deadline = ContinuousClock.now + timeout
        let connection = core.checkOutWaiter()
        defer { core.checkIn(waiter: connection) }

        // Stale hints first, then LISTEN, then the look: a job committed after the look notifies
        // this connection, one committed before it is seen by the look.
        connection.discardNotifications()
        try mapErrors { () throws(PostgresError) in
            try connection.execute("LISTEN \"\(core.schema.channel)\"; LISTEN \"\(core.schema.resumeChannel)\"")
        }
        defer { connection.unlisten() }
        let from = core.cursors.scan(queue).from.map { String($0) }
        let look = try mapErrors { () throws(PostgresError) in try connection.query(core.statements.untilDue, [queue, from]) }
        guard look.count == 1 else { throw Self.malformed("until due") }
        if look[0, 1] == "t" {
            connection.waitForNotification(channel: core.schema.resumeChannel, payload: queue, until: deadline)
            return
        }
        let untilDue = look[0, 0].flatMap { Int64($0) }
        if let untilDue, untilDue <= 0 { return }
        let wake = untilDue.map { min(deadline, ContinuousClock.now + .milliseconds($0)) } ?? deadline
        connection.waitForNotification(channel: core.schema.channel, payload: queue, until: wake)
    }

    /// One statement for the whole batch, whatever queues it spans. Each item is checked against the
    /// job's row under a row lock: only a job still running under exactly this lease token (and
    /// queue) is settled; any other item (the lease was rescued, the job settled already, an earlier
    /// item of this batch settled it) changes nothing and answers `false`. `.done(retention:)` with a
    /// zero retention deletes the row at once; any other retention keeps it as done until
    /// ``prune(queue:retention:limit:)``, whose own retention decides. Retried jobs without a delay,
    /// and released ones, keep their run time: they are first in line again.
    public func settle(_ settlements: [(Lease, Settlement)]) throws(BackendError) -> [Bool] {
        let core = try core.get()
        guard !settlements.isEmpty else { return [] }
        for (lease, _) in settlements { try Self.validate(queue: lease.queue) }
        var operations: [String] = [], micros: [String?] = [], errors: [String?] = []
        for (_, settlement) in settlements {
            switch settlement {
            case .done(let retention):
                operations.append("done")
                micros.append(String(retention.roundedUpMicroseconds))
                errors.append(nil)
            case .retry(let delay, let error):
                operations.append("retry")
                micros.append(String(delay.roundedUpMicroseconds))
                errors.append(Self.storable(error))
            case .dead(let error):
                operations.append("dead")
                micros.append("0")
                errors.append(Self.storable(error))
            case .release:
                operations.append("release")
                micros.append("0")
                errors.append(nil)
            case .crashed(let delay, let error):
                operations.append("crashed")
                // NULL: no retry; the statement sends the job to dead.
                micros.append(delay.map { String($0.roundedUpMicroseconds) })
                errors.append(Self.storable(error))
            }
        }
        let leases = settlements.map(\.0)
        let parameters: [String?] = [
            PGArray.text(leases.map(\.queue)), PGArray.text(leases.map { Self.storable($0.jobID) }),
            PGArray.text(leases.map { Self.storable($0.token) }), PGArray.text(operations), PGArray.text(micros), PGArray.text(errors),
        ]
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.settle, parameters)
        }
        let answers = try Self.answers(rows, count: settlements.count, statement: "settle")
        for ((lease, settlement), settled) in zip(settlements, answers) where settled && Self.putsBack(settlement) {
            core.cursors.rewind(lease.queue)
        }
        return answers
    }

    /// One statement: each lease still held (the job running under exactly this token) gets the
    /// deadline now + `lease` (database clock).
    public func extend(_ leases: [Lease], by lease: Duration) throws(BackendError) -> [Bool] {
        let core = try core.get()
        guard !leases.isEmpty else { return [] }
        for held in leases { try Self.validate(queue: held.queue) }
        let parameters: [String?] = [
            PGArray.text(leases.map(\.queue)), PGArray.text(leases.map { Self.storable($0.jobID) }),
            PGArray.text(leases.map { Self.storable($0.token) }), String(max(1, lease.roundedUpMicroseconds)),
        ]
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.extend, parameters)
        }
        return try Self.answers(rows, count: leases.count, statement: "extend")
    }

    /// One statement: up to `limit` running jobs whose lease deadline passed, earliest first, each
    /// counted as a failed attempt, go back to ready (keeping their place in line, `lastError` saying
    /// the lease expired) or, with their attempts used up, to dead. Rows another host is rescuing or
    /// settling at that moment are skipped (`SKIP LOCKED`), so any number of hosts may run this at once.
    public func rescueExpired(queue: String, limit: Int) throws(BackendError) -> (rescued: Int, dead: Int) {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard limit > 0 else { return (0, 0) }
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.rescue, [queue, String(limit)])
        }
        guard rows.count == 1, let rescued = rows[0, 0].flatMap({ Int($0) }), let dead = rows[0, 1].flatMap({ Int($0) }) else {
            throw Self.malformed("rescue")
        }
        if rescued > 0 { core.cursors.rewind(queue) }
        return (rescued, dead)
    }

    /// One statement: deletes up to `limit` done jobs that finished before now − `retention`, oldest
    /// first, skipping rows another host is deleting at that moment.
    public func prune(queue: String, retention: Duration, limit: Int) throws(BackendError) -> Int {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard limit > 0 else { return 0 }
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.prune, [queue, String(retention.roundedUpMicroseconds), String(limit)])
        }
        guard rows.count == 1, let count = rows[0, 0].flatMap({ Int($0) }) else { throw Self.malformed("prune") }
        return count
    }

    /// One statement, reading the queue's rows through its partial indexes (so it costs a scan of the
    /// queue's jobs; done jobs kept for a long retention count too). Scheduled jobs already due count
    /// as ready. `oldestReadyAge` is how long the longest-waiting due job has waited since it last
    /// became ready (enqueued, released, rescued, retried, or due).
    public func stats(queue: String) throws(BackendError) -> QueueStats {
        let core = try core.get()
        try Self.validate(queue: queue)
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.stats, [queue])
        }
        guard rows.count == 1, let paused = rows[0, 8] else { throw Self.malformed("stats") }
        var counts: [Int] = []
        for column in 0..<7 {
            guard let value = rows[0, column].flatMap({ Int($0) }) else { throw Self.malformed("stats") }
            counts.append(value)
        }
        return QueueStats(
            queue: queue, ready: counts[0], running: counts[1], scheduled: counts[2], dead: counts[3], done: counts[4],
            processed: counts[5], failed: counts[6], oldestReadyAge: rows[0, 7].flatMap { Int64($0) }.map { .microseconds(max(0, $0)) },
            paused: paused == "t")
    }

    /// One statement on `queue_pauses`: pausing inserts the queue's row (keeping the first pause's
    /// time), resuming deletes it and notifies, so hosts waiting on the queue fetch at once.
    public func setPaused(queue: String, _ paused: Bool) throws(BackendError) {
        let core = try core.get()
        try Self.validate(queue: queue)
        _ = try core.withConnection { connection throws(PostgresError) in
            try connection.query(paused ? core.statements.pause : core.statements.resume, [queue])
        }
    }

    /// One indexed lookup in `queue_pauses`.
    public func isPaused(queue: String) throws(BackendError) -> Bool {
        let core = try core.get()
        try Self.validate(queue: queue)
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.isPaused, [queue])
        }
        guard rows.count == 1, let paused = rows[0, 0] else { throw Self.malformed("pause") }
        return paused == "t"
    }

    /// One statement. Ready jobs come newest first in line (the reverse of the claim's order; due
    /// scheduled jobs included); scheduled ones by due time, latest first; running ones by lease
    /// deadline, latest first; done and dead ones by the time they got there, latest first.
    public func list(queue: String, state: JobState, offset: Int, limit: Int) throws(BackendError) -> [JobInfo] {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard limit > 0 else { return [] }
        let statement: String
        switch state {
        case .ready: statement = core.statements.listReady
        case .scheduled: statement = core.statements.listScheduled
        case .running: statement = core.statements.listRunning
        case .done, .dead: statement = core.statements.listFinished
        }
        var parameters: [String?] = [queue, String(max(0, offset)), String(limit)]
        if state == .done || state == .dead { parameters.append(state.rawValue) }
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(statement, parameters)
        }
        return try (0..<rows.count).map { (row) throws(BackendError) in try Self.info(rows, row: row, queue: queue, schema: core.schema) }
    }

    /// One primary-key look-up.
    public func job(queue: String, id: String) throws(BackendError) -> JobInfo? {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard !id.isEmpty, !id.utf8.contains(0) else { return nil }
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.job, [queue, id])
        }
        guard rows.count == 1 else { return nil }
        return try Self.info(rows, row: 0, queue: queue, schema: core.schema)
    }

    /// The job is ready again with `attempt` 0, keeping its place in line (its old run time: first in
    /// line). It takes its unique key back unless a live job holds that key meanwhile; then it runs
    /// without one.
    public func retryDead(queue: String, id: String) throws(BackendError) -> Bool {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard !id.isEmpty, !id.utf8.contains(0) else { return false }
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.retryDead, [queue, id])
        }
        if rows.count == 1 { core.cursors.rewind(queue) }
        return rows.count == 1
    }

    /// Deletes the job's row.
    public func discardDead(queue: String, id: String) throws(BackendError) -> Bool {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard !id.isEmpty, !id.utf8.contains(0) else { return false }
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.discardDead, [queue, id])
        }
        return rows.count == 1
    }

    /// Connects (if needed) and checks that the schema has been migrated to the version this code
    /// needs: `.server` naming the versions when it is behind.
    public func ping() throws(BackendError) {
        let core = try core.get()
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.schemaVersion)
        }
        guard rows.count == 1, let version = rows[0, 0].flatMap({ Int($0) }) else { throw Self.malformed("schema version") }
        guard version >= Migration.latest else {
            throw BackendError(
                .server,
                "the PostgreSQL schema \(core.schema.name) at \(core.endpoint.display) is at version \(version), "
                    + "this host needs \(Migration.latest): run host migrate")
        }
    }

    // MARK: - Helpers

    private static func validate(queue: String) throws(BackendError) {
        // The queue name is a NOTIFY payload (at most 8000 bytes) and travels as a C string.
        guard !queue.isEmpty, queue.utf8.count <= 1000, !queue.utf8.contains(0) else {
            throw BackendError(.invalid, "queue name \"\(queue)\" must be 1 to 1000 bytes without NUL")
        }
    }

    private static func validate(_ job: NewJob) throws(BackendError) {
        try validate(queue: job.queue)
        guard !job.id.isEmpty, !job.id.utf8.contains(0) else {
            throw BackendError(.invalid, "a job of queue \(job.queue) has an empty id or one with a NUL byte")
        }
        guard !job.handler.isEmpty, !job.handler.utf8.contains(0) else {
            throw BackendError(.invalid, "job \(job.id) names no handler")
        }
        guard job.maxAttempts >= 1, job.maxAttempts <= Int(Int32.max) else {
            throw BackendError(.invalid, "job \(job.id) has maxAttempts \(job.maxAttempts); it must be from 1 to \(Int32.max)")
        }
        if let timeout = job.timeout, timeout.roundedUpMilliseconds > Int(Int32.max) {
            throw BackendError(.invalid, "job \(job.id) has a timeout longer than \(Int32.max) ms")
        }
        if let key = job.uniqueKey, key.utf8.contains(0) {
            throw BackendError(.invalid, "job \(job.id) has a unique key with a NUL byte")
        }
        // Parameters travel as UTF-8 C strings: a NUL byte would cut the payload short unnoticed.
        guard !job.payload.contains(0), String(validating: job.payload, as: UTF8.self) != nil,
              (try? JSONSerialization.jsonObject(with: job.payload, options: [.fragmentsAllowed])) != nil
        else {
            throw BackendError(.invalid, "the payload of job \(job.id) (handler \(job.handler)) is not UTF-8 JSON")
        }
    }

    /// The job's unique key; an empty one means none.
    private static func uniqueKey(_ job: NewJob) -> String? {
        job.uniqueKey.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Text PostgreSQL can store: `text` cannot hold NUL, which a handler's error message might.
    private static func storable(_ text: String) -> String {
        text.utf8.contains(0) ? text.replacingOccurrences(of: "\0", with: "\u{FFFD}") : text
    }

    /// Whether a settlement puts the job back in line at its old place, behind where claims look now.
    private static func putsBack(_ settlement: Settlement) -> Bool {
        switch settlement {
        case .release: true
        case .retry(let delay, _): delay <= .zero
        case .crashed(let delay, _): delay.map { $0 <= .zero } ?? false
        case .done, .dead: false
        }
    }

    /// The per-item answers of settle and extend: rows of (ordinal, boolean), one per item, in order.
    private static func answers(_ rows: PGRows, count: Int, statement: String) throws(BackendError) -> [Bool] {
        guard rows.count == count else { throw malformed(statement) }
        var answers = [Bool](repeating: false, count: count)
        for row in 0..<rows.count {
            guard let ordinal = rows[row, 0].flatMap({ Int($0) }), (1...count).contains(ordinal) else { throw malformed(statement) }
            answers[ordinal - 1] = rows[row, 1] == "t"
        }
        return answers
    }

    /// A ``JobInfo`` from the columns every listing statement selects: id, handler, state, payload,
    /// attempt, max_attempts, enqueued_at (µs), last_error, updated_at (µs), origin, crashes.
    private static func info(_ rows: PGRows, row: Int, queue: String, schema: PGSchema) throws(BackendError) -> JobInfo {
        guard let id = rows[row, 0], let handler = rows[row, 1], let stateText = rows[row, 2], let payload = rows[row, 3],
              let attempt = rows[row, 4].flatMap({ Int($0) }), let maxAttempts = rows[row, 5].flatMap({ Int($0) }),
              let enqueuedAt = rows[row, 6].flatMap({ Int64($0) })
        else {
            throw BackendError(.corrupt, "a job row of queue \(queue) in \(schema.qualified("jobs")) lacks a required column")
        }
        guard let state = JobState(rawValue: stateText) else {
            throw BackendError(.corrupt, "job \(id) of queue \(queue) has the unknown state \"\(stateText)\"")
        }
        return JobInfo(
            id: id, queue: queue, handler: handler, state: state, payload: payload, attempt: attempt, maxAttempts: maxAttempts,
            enqueuedAt: date(microseconds: enqueuedAt), lastError: rows[row, 7],
            updatedAt: rows[row, 8].flatMap { Int64($0) }.map(date(microseconds:)), origin: rows[row, 9],
            crashes: rows[row, 10].flatMap { Int($0) } ?? 0)
    }

    private static func malformed(_ statement: String) -> BackendError {
        BackendError(.server, "the PostgreSQL \(statement) statement returned rows of an unexpected shape")
    }

    private static func date(microseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(microseconds) / 1_000_000)
    }
}

/// Schedule fires: the last fire of each schedule, per queue, is a row of `<schema>.schedule_fires`,
/// written in the transaction that enqueues the fire's job.
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
    /// the database's clock.
    public func claimFire(schedule: String, at fireTime: Date, job: NewJob) throws(BackendError) -> String? {
        let core = try core.get()
        try Self.validate(job)
        try Self.validate(schedule: schedule)
        let fire = String(Int64((fireTime.timeIntervalSince1970 * 1_000_000).rounded()))
        return try core.pool.withConnection { connection throws(BackendError) -> String? in
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
                    return nil
                }
                let id = try Self.insert([job], on: connection, core.statements)[0]
                try mapErrors { () throws(PostgresError) in
                    _ = try connection.query(core.statements.recordFire, [job.queue, schedule, id])
                    try connection.execute("COMMIT")
                }
                return id
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

/// What every call needs once the URL and schema are known.
private final class Core: Sendable {
    let schema: PGSchema
    let endpoint: PGEndpoint
    let statements: PGStatements
    let pool: ConnectionPool<PGConnection>
    private let listenEndpoint: PGEndpoint
    private let logger: Logger
    let cursors = ClaimCursors()
    /// Idle waiting connections. A waiter blocks for seconds: on a pooled connection it would starve
    /// ordinary calls, and sharing one among waiters would make each wait for the others.
    private let idleWaiters = Mutex<[PGConnection]>([])

    init(schema: PGSchema, endpoint: PGEndpoint, listenEndpoint: PGEndpoint, poolSize: Int, logger: Logger) {
        self.schema = schema
        self.endpoint = endpoint
        self.listenEndpoint = listenEndpoint
        self.logger = logger
        self.statements = PGStatements(schema)
        self.pool = ConnectionPool<PGConnection>(connections: (0..<poolSize).map { _ in PGConnection(endpoint: endpoint, logger: logger) })
    }

    /// `body` on a pooled connection; a client error comes back as the backend's.
    func withConnection<Result>(_ body: (PGConnection) throws(PostgresError) -> Result) throws(BackendError) -> Result {
        try mapErrors { () throws(PostgresError) in try pool.withConnection(body) }
    }

    func checkOutWaiter() -> PGConnection {
        idleWaiters.withLock { $0.popLast() } ?? PGConnection(endpoint: listenEndpoint, logger: logger)
    }

    func checkIn(waiter: PGConnection) {
        idleWaiters.withLock { $0.append(waiter) }
    }
}

/// Where this process's claims of each queue start looking, so they skip the dead entries at the
/// head of `jobs_claim`.
///
/// Every claim leaves the entries of the rows it took in `jobs_claim` until vacuum removes them, all
/// at the head of the queue's range, since claims take the oldest rows. A claim that starts at the
/// head walks them all: at 20,000 jobs/s that is thousands of index pages within seconds, and
/// throughput falls to a fraction until the next vacuum (docs/postgres.md has the figures). So a
/// claim starts at the run time of the newest row this process claimed (or the database's time when
/// it found nothing), less ``slack``: everything before that was taken, or locked by another claim,
/// when it looked.
///
/// Rows can still appear before that point: jobs released, retried without delay, rescued or retried
/// from dead (they keep their place in line), and jobs whose enqueuing transaction ran longer than
/// ``slack`` (their run time is the transaction's start), or rows another claim had locked and then
/// rolled back. A full scan from the head every ``fullScanInterval`` finds those, first in line; more
/// rarely when full scans are slow (they may take at most ``fullScanBudget`` of the time: a long
/// transaction elsewhere can keep vacuum from removing dead entries for hours), but at least every
/// ``longestPause``. When this process itself puts a job back (release, retry without delay, rescue,
/// retry from dead), its next claim is a full scan, as soon as the budget allows. Correctness never
/// depends on the cursor; only how soon such a job is seen does.
final class ClaimCursors: Sendable {
    /// In µs. Covers enqueuing transactions that commit shortly after a claim passed their run time
    /// (a batch enqueue of a thousand jobs takes about 20 ms); the dead entries within it cost a claim
    /// a few index pages at 30,000 jobs/s.
    static let slack: Int64 = 100_000
    static let fullScanInterval = Duration.seconds(1)
    /// Full scans may take at most this share of the time…
    static let fullScanBudget = 0.05
    /// …unless that would leave a put-back job waiting longer than this.
    static let longestPause = Duration.seconds(5)

    struct Scan: Sendable {
        /// The lowest run time to look at, µs since the epoch; `nil`: from the head.
        let from: Int64?
    }

    private struct Cursor {
        var runAt: Int64
        var nextFullScan: ContinuousClock.Instant
        /// The earliest the next full scan may start within the budget.
        var earliestFullScan: ContinuousClock.Instant
    }

    private let cursors = Mutex<[String: Cursor]>([:])

    func scan(_ queue: String) -> Scan {
        cursors.withLock { cursors in
            guard let cursor = cursors[queue], ContinuousClock.now < cursor.nextFullScan else { return Scan(from: nil) }
            return Scan(from: cursor.runAt - Self.slack)
        }
    }

    /// After a claim: the newest run time it took, or the database's time when it took nothing.
    func record(_ queue: String, scan: Scan, lastClaimed: Int64?, databaseNow: Int64, took: Duration) {
        let position = lastClaimed ?? databaseNow
        cursors.withLock { cursors in
            if scan.from == nil {
                let now = ContinuousClock.now
                let cost = min(took * (1 / Self.fullScanBudget), Self.longestPause)
                cursors[queue] = Cursor(runAt: position, nextFullScan: now + max(Self.fullScanInterval, cost), earliestFullScan: now + cost)
            } else if var cursor = cursors[queue] {
                // Claims of several threads finish in any order; each position is safe, the highest skips most.
                cursor.runAt = max(cursor.runAt, position)
                cursors[queue] = cursor
            }
        }
    }

    /// After this process put jobs of `queue` back in line: the next claim looks from the head.
    func rewind(_ queue: String) {
        cursors.withLock { cursors in
            guard var cursor = cursors[queue] else { return }
            cursor.nextFullScan = min(cursor.nextFullScan, cursor.earliestFullScan)
            cursors[queue] = cursor
        }
    }
}


/// PostgreSQL array literals for text parameters: `{"a","b\"c",NULL}`. Every element is quoted, so any
/// text (commas, braces, spaces, the word NULL) comes back as it was.
enum PGArray {
    static func text(_ elements: [String?]) -> String {
        var literal = "{"
        literal.reserveCapacity(elements.reduce(2) { $0 + ($1?.utf8.count ?? 4) + 3 })
        for (index, element) in elements.enumerated() {
            if index > 0 { literal += "," }
            guard let element else {
                literal += "NULL"
                continue
            }
            literal += "\""
            for character in element.unicodeScalars {
                if character == "\"" || character == "\\" { literal.unicodeScalars.append("\\") }
                literal.unicodeScalars.append(character)
            }
            literal += "\""
        }
        return literal + "}"
    }

    static func text(_ elements: [String]) -> String {
        text(elements.map { Optional($0) })
    }
}

extension Duration {
    /// Whole microseconds, rounded up so a short lease or delay never becomes zero; negative counts as zero.
    var roundedUpMicroseconds: Int64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        return seconds * 1_000_000 + (attoseconds + 999_999_999_999) / 1_000_000_000_000
    }

    /// Whole milliseconds, rounded up; negative counts as zero.
    var roundedUpMilliseconds: Int {
        Int((roundedUpMicroseconds + 999) / 1000)
    }
}

/// Every statement the backend runs, written out once for the schema. Conventions:
/// - Times are the database's: `now()`, the start of the statement's own transaction. Durations
///   arrive as whole microseconds (`$n::bigint * interval '1 microsecond'`); times leave as
///   microseconds since the epoch.
/// - Statements that change several rows lock them in id order (`ORDER BY id FOR UPDATE`), so two
///   batches that share jobs (a settle and an extend of the same host) wait for each other rather
///   than deadlock; the counters are touched after the jobs, in queue order.
/// - Jobs named by id are found by primary key only, and conditions on their state are checked after
///   the lock: a `state = 'running'` next to `id = ANY(…)` lets the planner AND in the partial index
///   of running jobs, which holds an entry for every claim since the last vacuum. Look-ups per item
///   are correlated subqueries, which a generic plan cannot turn into a scan of the table.
/// - Maintenance statements lock with `SKIP LOCKED`, so any number of hosts run them at once, each
///   taking rows the others are not.
/// - Wake-ups are `pg_notify` in the same statement, delivered only if it commits. A CTE that only
///   reads runs only when referenced, hence the `CROSS JOIN woken` that makes it run.
/// - Statements that may be planned generically (prepared, or run often) never join the jobs table
///   to a list of items: they look rows up by id (`= ANY(…)`) or through correlated subqueries, so no
///   plan can become a scan of the table.
struct PGStatements: Sendable {
    let enqueue: PGStatement
    let resolve: PGStatement
    let fetch: PGStatement
    let settle: PGStatement
    let extend: PGStatement
    let rescue: String
    let prune: String
    let stats: String
    let listReady: String
    let listScheduled: String
    let listRunning: String
    let listFinished: String
    let job: String
    let retryDead: String
    let discardDead: String
    let untilDue: String
    let schemaVersion: String
    let claimFire: String
    let recordFire: String
    let lastFire: String
    let pause: String
    let isPaused: String
    let resume: String
    let setScheduleSwitch: String
    let scheduleSwitch: String

    init(_ schema: PGSchema) {
        let jobs = schema.qualified("jobs")
        let counters = schema.qualified("queue_counters")
        let pauses = schema.qualified("queue_pauses")
        let channel = schema.channelLiteral
        let micros = { (column: String) in "(extract(epoch FROM \(column)) * 1000000)::bigint" }
        // What every listing returns, in the order ``PostgresBackend/info`` reads: a scheduled job
        // whose time has come is ready, and changed state when it became due.
        let infoColumns = """
            j.id, j.handler, CASE WHEN j.state = 'scheduled' AND j.run_at <= now() THEN 'ready' ELSE j.state END,
                j.payload, j.attempt, j.max_attempts, \(micros("j.enqueued_at")), j.last_error,
                \(micros("CASE WHEN j.state = 'scheduled' AND j.run_at <= now() THEN j.run_at ELSE j.updated_at END")), j.origin,
                j.crashes
            """

        // Parameters: ids, queues, handlers, payloads, max_attempts, delays (µs), timeouts (ms),
        // unique keys, origins; arrays in batch order. Returns the ids inserted; jobs whose id exists
        // or whose unique key is held are not. Idle hosts are woken once per queue.
        enqueue = PGStatement(name: "jobhost_enqueue", sql: """
            WITH inserted AS (
                INSERT INTO \(jobs) (id, queue, state, run_at, max_attempts, timeout_ms, handler, unique_key, origin, payload)
                SELECT i.id, i.queue, CASE WHEN i.delay > 0 THEN 'scheduled' ELSE 'ready' END, now() + i.delay * interval '1 microsecond',
                       i.max_attempts, i.timeout_ms, i.handler, i.unique_key, i.origin, i.payload::json
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::bigint[], $7::integer[], $8::text[], $9::text[])
                    WITH ORDINALITY AS i(id, queue, handler, payload, max_attempts, delay, timeout_ms, unique_key, origin, n)
                ORDER BY i.n
                ON CONFLICT DO NOTHING
                RETURNING id, queue
            )
            SELECT x.id, (SELECT count(pg_notify(\(channel), q.queue)) FROM (SELECT DISTINCT y.queue FROM inserted AS y) AS q)
            FROM inserted AS x
            """)

        // Parameters: ids, queues, unique keys of jobs an enqueue did not insert. Returns (ordinal,
        // id) per job: the live holder of its key, else the job with its id, else NULL (the holder
        // finished meanwhile: enqueue again).
        resolve = PGStatement(name: "jobhost_resolve", sql: """
            SELECT t.n, coalesce(
                (SELECT j.id FROM \(jobs) AS j
                 WHERE t.unique_key IS NOT NULL AND j.queue = t.queue AND j.unique_key = t.unique_key
                   AND j.state IN ('ready', 'scheduled', 'running')),
                (SELECT j.id FROM \(jobs) AS j WHERE j.id = t.id))
            FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(id, queue, unique_key, n)
            """)

        // Parameters: queue, limit, lease (µs), the lowest run time to look at (µs since the epoch;
        // NULL: from the head, see ``ClaimCursor``). The inner SELECT walks jobs_claim from there;
        // ARRAY(…) makes it one value, so the UPDATE finds the rows by primary key. Returns the
        // claimed jobs, each with the database's now, its crashes and whether the queue is paused;
        // one row of NULLs, now and the pause when none. The pause is an uncorrelated subquery: the
        // planner makes it a one-time filter, so a paused queue's claim reads no job at all.
        fetch = PGStatement(name: "jobhost_fetch", sql: """
            WITH pause AS (
                SELECT EXISTS (SELECT 1 FROM \(pauses) AS p WHERE p.queue = $1) AS paused
            ), claimed AS (
                UPDATE \(jobs) AS j
                SET state = 'running', attempt = j.attempt + 1, lease_token = gen_random_uuid(),
                    lease_until = now() + $3::bigint * interval '1 microsecond', updated_at = now()
                WHERE j.id = ANY (ARRAY(
                    SELECT c.id FROM \(jobs) AS c
                    WHERE NOT (SELECT paused FROM pause)
                      AND c.queue = $1 AND c.state IN ('ready', 'scheduled') AND c.run_at <= now()
                      AND c.run_at >= coalesce(timestamptz 'epoch' + $4::bigint * interval '1 microsecond', '-infinity')
                    ORDER BY c.run_at, c.seq
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED))
                RETURNING j.id, j.lease_token, j.handler, j.payload, j.attempt, j.max_attempts, j.enqueued_at, j.timeout_ms,
                    j.last_error, j.run_at, j.seq, j.crashes
            )
            SELECT c.id, c.lease_token, c.handler, c.payload, c.attempt, c.max_attempts, \(micros("c.enqueued_at")),
                c.timeout_ms, c.last_error, \(micros("c.run_at")), c.seq, \(micros("now()")), c.crashes, p.paused
            FROM pause AS p LEFT JOIN claimed AS c ON true
            """)

        // Parameters: queues, ids, tokens, operations (done, retry, dead, release, crashed), µs
        // (retention for done, delay for retry and crashed; NULL for crashed: no retry), errors;
        // arrays in batch order. Returns (ordinal, settled) per item. Per job only the first item
        // holding its current token wins. A crash becomes a retry (or a death, without a delay) that
        // also counts one crash, so the rest of the statement knows four operations only.
        settle = PGStatement(name: "jobhost_settle", sql: """
            WITH item AS (
                SELECT t.queue, t.id, t.token, t.micros, t.error, t.n, t.op = 'crashed' AS crashed,
                    CASE WHEN t.op <> 'crashed' THEN t.op WHEN t.micros IS NULL THEN 'dead' ELSE 'retry' END AS op
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])
                    WITH ORDINALITY AS t(queue, id, token, op, micros, error, n)
            ), held AS (
                SELECT j.id, j.queue, j.state, j.lease_token FROM \(jobs) AS j
                WHERE j.id = ANY ($2::text[])
                ORDER BY j.id
                FOR UPDATE
            ), won AS (
                SELECT DISTINCT ON (i.id) i.* FROM item AS i
                JOIN held AS h ON h.id = i.id AND h.queue = i.queue AND h.state = 'running' AND h.lease_token::text = i.token
                ORDER BY i.id, i.n
            ), removed AS (
                DELETE FROM \(jobs) AS j USING won AS w
                WHERE j.id = w.id AND w.op = 'done' AND w.micros = 0
            ), moved AS (
                UPDATE \(jobs) AS j SET
                    state = CASE w.op
                        WHEN 'retry' THEN CASE WHEN w.micros > 0 THEN 'scheduled' ELSE 'ready' END
                        WHEN 'release' THEN 'ready'
                        ELSE w.op END,
                    run_at = CASE WHEN w.op = 'retry' AND w.micros > 0 THEN now() + w.micros * interval '1 microsecond' ELSE j.run_at END,
                    attempt = CASE WHEN w.op = 'release' THEN j.attempt - 1 ELSE j.attempt END,
                    crashes = CASE WHEN w.crashed THEN j.crashes + 1 ELSE j.crashes END,
                    last_error = CASE WHEN w.op IN ('retry', 'dead') THEN w.error ELSE j.last_error END,
                    lease_token = NULL, lease_until = NULL, updated_at = now()
                FROM won AS w
                WHERE j.id = w.id AND NOT (w.op = 'done' AND w.micros = 0)
            ), counted AS (
                INSERT INTO \(counters) AS c (queue, shard, processed, failed)
                SELECT w.queue, pg_backend_pid() % 16, count(*) FILTER (WHERE w.op = 'done'), count(*) FILTER (WHERE w.op IN ('retry', 'dead'))
                FROM won AS w WHERE w.op <> 'release'
                GROUP BY w.queue ORDER BY w.queue
                ON CONFLICT (queue, shard) DO UPDATE SET processed = c.processed + excluded.processed, failed = c.failed + excluded.failed
            ), woken AS (
                SELECT count(pg_notify(\(channel), q.queue)) AS notified
                FROM (SELECT DISTINCT w.queue FROM won AS w WHERE w.op IN ('retry', 'release')) AS q
            )
            SELECT i.n, w.n IS NOT NULL FROM item AS i LEFT JOIN won AS w ON w.n = i.n CROSS JOIN woken
            """)

        // Parameters: queues, ids, tokens (arrays), lease (µs). Returns (ordinal, held) per item.
        extend = PGStatement(name: "jobhost_extend", sql: """
            WITH item AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(queue, id, token, n)
            ), held AS (
                SELECT j.id, j.queue, j.state, j.lease_token FROM \(jobs) AS j
                WHERE j.id = ANY ($2::text[])
                ORDER BY j.id
                FOR UPDATE
            ), matched AS (
                SELECT i.n, h.id FROM item AS i
                JOIN held AS h ON h.id = i.id AND h.queue = i.queue AND h.state = 'running' AND h.lease_token::text = i.token
            ), moved AS (
                UPDATE \(jobs) AS j SET lease_until = now() + $4::bigint * interval '1 microsecond'
                WHERE j.id = ANY (ARRAY(SELECT m.id FROM matched AS m))
            )
            SELECT i.n, m.n IS NOT NULL FROM item AS i LEFT JOIN matched AS m ON m.n = i.n
            """)

        // Parameters: queue, limit. Returns (rescued, dead).
        rescue = """
            WITH expired AS (
                SELECT j.id FROM \(jobs) AS j
                WHERE j.queue = $1 AND j.state = 'running' AND j.lease_until <= now()
                ORDER BY j.lease_until
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            ), moved AS (
                UPDATE \(jobs) AS j SET
                    state = CASE WHEN j.attempt >= j.max_attempts THEN 'dead' ELSE 'ready' END,
                    last_error = 'lease expired ' || CASE WHEN j.attempt >= j.max_attempts THEN 'after' ELSE 'during' END
                        || ' attempt ' || j.attempt || ' of ' || j.max_attempts || ' (the host running it died or stalled)',
                    lease_token = NULL, lease_until = NULL, updated_at = now()
                WHERE j.id = ANY (ARRAY(SELECT e.id FROM expired AS e))
                RETURNING j.state
            ), counted AS (
                INSERT INTO \(counters) AS c (queue, shard, failed)
                SELECT $1, pg_backend_pid() % 16, count(*) FROM moved HAVING count(*) > 0
                ON CONFLICT (queue, shard) DO UPDATE SET failed = c.failed + excluded.failed
            ), woken AS (
                SELECT count(pg_notify(\(channel), $1)) AS notified FROM (SELECT 1 FROM moved WHERE state = 'ready' LIMIT 1) AS any_ready
            )
            SELECT count(*) FILTER (WHERE m.state = 'ready'), count(*) FILTER (WHERE m.state = 'dead')
            FROM moved AS m RIGHT JOIN woken ON true
            """

        // Parameters: queue, retention (µs), limit. Returns the number deleted.
        prune = """
            WITH old AS (
                SELECT j.id FROM \(jobs) AS j
                WHERE j.queue = $1 AND j.state = 'done' AND j.updated_at < now() - $2::bigint * interval '1 microsecond'
                ORDER BY j.updated_at
                LIMIT $3
                FOR UPDATE SKIP LOCKED
            ), gone AS (
                DELETE FROM \(jobs) AS j WHERE j.id = ANY (ARRAY(SELECT o.id FROM old AS o)) RETURNING 1
            )
            SELECT count(*) FROM gone
            """

        // Parameter: queue. Each part reads through the partial index of its states.
        stats = """
            SELECT p.ready, r.running, p.scheduled, f.dead, f.done, k.processed, k.failed, p.oldest,
                EXISTS (SELECT 1 FROM \(pauses) AS q WHERE q.queue = $1)
            FROM (
                SELECT count(*) FILTER (WHERE j.run_at <= now()) AS ready, count(*) FILTER (WHERE j.run_at > now()) AS scheduled,
                       \(micros("now() - min(greatest(j.run_at, j.updated_at)) FILTER (WHERE j.run_at <= now())")) AS oldest
                FROM \(jobs) AS j WHERE j.queue = $1 AND j.state IN ('ready', 'scheduled')
            ) AS p, (
                SELECT count(*) AS running FROM \(jobs) AS j WHERE j.queue = $1 AND j.state = 'running'
            ) AS r, (
                SELECT count(*) FILTER (WHERE j.state = 'dead') AS dead, count(*) FILTER (WHERE j.state = 'done') AS done
                FROM \(jobs) AS j WHERE j.queue = $1 AND j.state IN ('done', 'dead')
            ) AS f, (
                SELECT coalesce(sum(c.processed), 0) AS processed, coalesce(sum(c.failed), 0) AS failed
                FROM \(counters) AS c WHERE c.queue = $1
            ) AS k
            """

        // Parameters: queue, offset, limit (and the state, for finished jobs).
        listReady = """
            SELECT \(infoColumns) FROM \(jobs) AS j
            WHERE j.queue = $1 AND j.state IN ('ready', 'scheduled') AND j.run_at <= now()
            ORDER BY j.run_at DESC, j.seq DESC OFFSET $2 LIMIT $3
            """
        listScheduled = """
            SELECT \(infoColumns) FROM \(jobs) AS j
            WHERE j.queue = $1 AND j.state IN ('ready', 'scheduled') AND j.run_at > now()
            ORDER BY j.run_at DESC, j.seq DESC OFFSET $2 LIMIT $3
            """
        listRunning = """
            SELECT \(infoColumns) FROM \(jobs) AS j
            WHERE j.queue = $1 AND j.state = 'running'
            ORDER BY j.lease_until DESC, j.id DESC OFFSET $2 LIMIT $3
            """
        listFinished = """
            SELECT \(infoColumns) FROM \(jobs) AS j
            WHERE j.queue = $1 AND j.state IN ('done', 'dead') AND j.state = $4
            ORDER BY j.updated_at DESC, j.id DESC OFFSET $2 LIMIT $3
            """
        job = "SELECT \(infoColumns) FROM \(jobs) AS j WHERE j.queue = $1 AND j.id = $2"

        // Parameters: queue, id. A row back if the job was dead and is ready now.
        retryDead = """
            UPDATE \(jobs) AS j SET state = 'ready', attempt = 0, updated_at = now(),
                unique_key = CASE WHEN EXISTS (
                    SELECT 1 FROM \(jobs) AS o
                    WHERE o.queue = j.queue AND o.unique_key = j.unique_key AND o.state IN ('ready', 'scheduled', 'running')
                ) THEN NULL ELSE j.unique_key END
            WHERE j.queue = $1 AND j.id = $2 AND j.state = 'dead'
            RETURNING pg_notify(\(channel), j.queue)
            """
        discardDead = "DELETE FROM \(jobs) AS j WHERE j.queue = $1 AND j.id = $2 AND j.state = 'dead' RETURNING 1"

        // Parameters: queue, the lowest run time to look at (as for fetch). Returns milliseconds
        // until the first job in line that a fetch could take is due (≤ 0: due now; NULL if none),
        // and whether the queue is paused (its jobs are then no work: the first column is NULL).
        // SKIP LOCKED as in the claim: a due row someone else holds locked must not make an idle
        // host return at once, fetch nothing, and spin.
        untilDue = """
            WITH pause AS (
                SELECT EXISTS (SELECT 1 FROM \(pauses) AS p WHERE p.queue = $1) AS paused
            )
            SELECT ceil(extract(epoch FROM (
                SELECT j.run_at FROM \(jobs) AS j
                WHERE NOT (SELECT paused FROM pause)
                  AND j.queue = $1 AND j.state IN ('ready', 'scheduled')
                  AND j.run_at >= coalesce(timestamptz 'epoch' + $2::bigint * interval '1 microsecond', '-infinity')
                ORDER BY j.run_at, j.seq LIMIT 1
                FOR UPDATE SKIP LOCKED) - now()) * 1000)::bigint,
                (SELECT paused FROM pause)
            """

        schemaVersion = "SELECT coalesce(max(version), 0) FROM \(schema.qualified("schema_migrations"))"

        let fires = schema.qualified("schedule_fires")
        let switches = schema.qualified("schedule_switches")
        let fireTime = "timestamptz 'epoch' + $3::bigint * interval '1 microsecond'"
        // Parameters: queue, schedule, fire time (µs). Returns (not ahead of the clock, recorded now).
        // Inside the caller's transaction: the upsert's row lock holds other hosts firing the same
        // schedule until it ends; they then see this fire and record nothing. A schedule switched
        // off records nothing, nor one switched on again after the fire time.
        claimFire = """
            WITH claimed AS (
                INSERT INTO \(fires) AS f (queue, schedule, fire_time, job_id)
                SELECT $1, $2, \(fireTime), '' WHERE \(fireTime) <= now()
                  AND NOT EXISTS (
                    SELECT 1 FROM \(switches) AS w
                    WHERE w.queue = $1 AND w.schedule = $2 AND (w.disabled OR \(fireTime) <= w.changed_at))
                ON CONFLICT (queue, schedule) DO UPDATE SET fire_time = excluded.fire_time
                WHERE f.fire_time < excluded.fire_time
                RETURNING 1
            )
            SELECT \(fireTime) <= now(), EXISTS (SELECT 1 FROM claimed)
            """
        // Parameters: queue, schedule, job id.
        recordFire = "UPDATE \(fires) SET job_id = $3 WHERE queue = $1 AND schedule = $2"
        // Parameters: queue, schedule. Returns (fire time µs, job id).
        lastFire = "SELECT \(micros("fire_time")), job_id FROM \(fires) WHERE queue = $1 AND schedule = $2"

        // Parameter: queue. Pausing keeps the first pause's time.
        pause = "INSERT INTO \(pauses) (queue) VALUES ($1) ON CONFLICT (queue) DO NOTHING"
        isPaused = "SELECT EXISTS (SELECT 1 FROM \(pauses) WHERE queue = $1)"
        // Parameter: queue. Hosts waiting on the paused queue are woken (on the resume channel).
        resume = """
            WITH resumed AS (DELETE FROM \(pauses) AS p WHERE p.queue = $1 RETURNING p.queue)
            SELECT count(pg_notify('\(schema.resumeChannel)', r.queue)) FROM resumed AS r
            """
        // Parameters: queue, schedule, disabled. Writes only a change of state; "on" for a schedule
        // never switched writes nothing.
        setScheduleSwitch = """
            INSERT INTO \(switches) AS w (queue, schedule, disabled, changed_at)
            SELECT $1, $2, $3::boolean, now()
            WHERE $3::boolean OR EXISTS (SELECT 1 FROM \(switches) AS o WHERE o.queue = $1 AND o.schedule = $2)
            ON CONFLICT (queue, schedule) DO UPDATE SET disabled = excluded.disabled, changed_at = excluded.changed_at
            WHERE w.disabled <> excluded.disabled
            """
        // Parameters: queue, schedule. Returns (disabled, changed at µs), no row if never switched.
        scheduleSwitch = "SELECT disabled, \(micros("changed_at")) FROM \(switches) WHERE queue = $1 AND schedule = $2"
    }
}
