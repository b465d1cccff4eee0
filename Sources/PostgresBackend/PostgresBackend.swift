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
    let core: Result<Core, BackendError>
    /// The owner ids of this instance's fetches, and its fetches whose reply never came.
    let owners: FetchOwners

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
    ///   - logger: connection losses and reconnections, and jobs moved to dead because their rows are unusable.
    ///   - leaseOwner: who this instance leases jobs for (see ``LeaseReclaimer``): every job it claims
    ///     records `<leaseOwner>/<n>` in `jobs.lease_owner`, n counting this instance's fetch calls
    ///     from 1. Empty: the owner ids are `/<n>`, and fetches whose reply was lost are not taken back
    ///     early (see ``FetchOwners``).
    public init(
        url: String, schema: String = "jobhost", poolSize: Int = 8, connectTimeout: Duration, commandTimeout: Duration = .seconds(30),
        logger: Logger, leaseOwner: String = ""
    ) {
        self.owners = FetchOwners(leaseOwner: leaseOwner)
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
    static func insert(_ jobs: [NewJob], on connection: PGConnection, _ statements: PGStatements) throws(BackendError) -> [String] {
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
                PGArray.text(batch.map { $0.concurrency?.key }), PGArray.text(batch.map { $0.concurrency.map { String($0.limit) } }),
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
    /// statement checks `queue_pauses` and claims nothing from a paused queue, and moves a claimed row
    /// holding a value outside ``JobFieldLimits`` to dead with the reason (logged here) instead of
    /// leasing it, so a batch may hold fewer jobs than were due. The claim records the call's owner id
    /// in `lease_owner` with the lease token. A fetch of this instance whose reply was lost (a timeout,
    /// a broken connection: the claim may have committed all the same) is taken back first, with
    /// ``ReclaimMode/release``: one more statement while such a fetch is pending.
    public func fetch(queue: String, limit: Int, lease: Duration) throws(BackendError) -> [LeasedJob] {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard limit > 0 else { return [] }
        try owners.reclaimOrphans { (queue, owner) throws(BackendError) in
            try reclaim(queue: queue, owner: owner, exact: true, .release).ready
        }
        let owner = owners.next()
        let scan = core.cursors.scan(queue)
        let started = ContinuousClock.now
        let rows: PGRows
        do throws(BackendError) {
            rows = try core.withConnection { connection throws(PostgresError) in
                try connection.query(
                    core.statements.fetch,
                    [queue, String(limit), String(max(1, lease.roundedUpMicroseconds)), scan.from.map { String($0) }, Self.storable(owner)])
            }
        } catch {
            owners.failed(queue: queue, owner: owner, lease: lease, error: error)
            throw error
        }
        guard rows.count >= 1, let databaseNow = rows[0, 11].flatMap({ Int64($0) }), let paused = rows[0, 13] else {
            throw Self.malformed("fetch")
        }
        // A paused queue's claim looked at nothing: moving the cursor to now would skip the jobs
        // enqueued meanwhile until the next full scan once it is resumed.
        guard paused != "t" else { return [] }
        var jobs: [(key: (Int64, Int64), job: LeasedJob)] = []
        jobs.reserveCapacity(rows.count)
        var lastClaimed: Int64?
        for row in 0..<rows.count where rows[row, 0] != nil {
            guard let id = rows[row, 0], let runAt = rows[row, 9].flatMap({ Int64($0) }), let seq = rows[row, 10].flatMap({ Int64($0) }) else {
                throw BackendError(.corrupt, "a job claimed from \(core.schema.qualified("jobs")) in queue \(queue) lacks a required column")
            }
            lastClaimed = max(lastClaimed ?? runAt, runAt)
            // Claimed, but unusable: the same statement moved it to dead, saying why.
            guard rows[row, 14] == JobState.running.rawValue else {
                core.logger.error(
                    "job moved to dead: its row is unusable",
                    metadata: ["queue": "\(queue)", "job": "\(id)", "reason": "\(rows[row, 8] ?? "?")"])
                continue
            }
            guard let token = rows[row, 1], let handler = rows[row, 2], let payload = rows[row, 3],
                  let attempt = rows[row, 4].flatMap({ Int($0) }), let maxAttempts = rows[row, 5].flatMap({ Int($0) }),
                  let enqueuedAt = rows[row, 6].flatMap({ Int64($0) }), let crashes = rows[row, 12].flatMap({ Int($0) })
            else {
                throw BackendError(.corrupt, "a job claimed from \(core.schema.qualified("jobs")) in queue \(queue) lacks a required column")
            }
            jobs.append((
                (runAt, seq),
                LeasedJob(
                    claimed: Lease(queue: queue, jobID: id, token: token), handler: handler, payload: Data(payload.utf8), attempt: attempt,
                    maxAttempts: maxAttempts, enqueuedAt: Self.date(microseconds: enqueuedAt),
                    timeoutMilliseconds: rows[row, 7].flatMap { Int($0) }, lastError: rows[row, 8], crashes: crashes)
            ))
        }
        core.cursors.record(queue, scan: scan, lastClaimed: lastClaimed, databaseNow: databaseNow, took: ContinuousClock.now - started)
        // RETURNING has no order; the claim's is run time, then enqueue order.
        return jobs.sorted { $0.key < $1.key }.map(\.job)
    }

    /// Returns at once if a job is due; otherwise listens on the schema's channel (`LISTEN`) and
    /// waits, on a connection of its own, for a notification naming `queue`, for the shorter of
    /// `timeout` and the time until the earliest scheduled job is due. Enqueues, releases, retries,
    /// rescues and retried dead jobs notify; enqueues only while a host waits on the queue, which the
    /// wait marks in `waiters` (see ``PGStatements``) before it looks and clears when it ends. On a
    /// paused queue it waits for all of `timeout`, for a notification on the resume channel only:
    /// enqueues do not wake it, resuming does. Stops listening before it returns, so an idle
    /// connection never holds back the server's notification queue. If the listening connection
    /// breaks while waiting, returns early: the caller's next fetch polls, and the next wait connects
    /// again.
    public func waitForWork(queue: String, timeout: Duration) throws(BackendError) {
        let core = try core.get()
        try Self.validate(queue: queue)
        guard timeout > .zero else { return }
        let deadline = ContinuousClock.now + timeout
        let connection = core.checkOutWaiter()
        defer { core.checkIn(waiter: connection) }

        // Stale hints first, then LISTEN, then the mark, then the look: a job committed after the
        // look notifies this connection, one committed before it is seen by the look.
        connection.discardNotifications()
        try mapErrors { () throws(PostgresError) in
            try connection.execute("LISTEN \"\(core.schema.channel)\"; LISTEN \"\(core.schema.resumeChannel)\"")
        }
        defer { connection.unlisten() }
        // The mark outlives the wait by a second: the database's clock and ours need not agree, and a
        // mark left behind costs only needless notifications until it ends.
        let markFor = String((deadline - .now + .seconds(1)).roundedUpMilliseconds)
        let mark = try mapErrors { () throws(PostgresError) in try connection.query(core.statements.markWaiting, [queue, markFor]) }
        guard mark.count == 1 else { throw Self.malformed("mark waiting") }
        // Ended whether the wait is woken or not, so producers stop notifying while this host works.
        // A failure leaves the mark to run out.
        defer { _ = try? connection.query(core.statements.unmark, [queue]) }
        if mark[0, 0] != "t" {
            guard try Self.outwaitEnqueuesBlindToTheMark(connection, core: core, queue: queue, until: deadline) else { return }
        }

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

    /// Enqueues that read the marks before this connection's committed hold the queue's wake lock
    /// until they commit (migration 13); a look taken while one is open would miss its job, and its
    /// commit would not notify. Tries the lock (never waits for it, so no producer queues behind a
    /// host) until it is free, listening meanwhile. Returns whether to look: false when notified for
    /// the queue (the caller fetches) or at `deadline`.
    private static func outwaitEnqueuesBlindToTheMark(
        _ connection: PGConnection, core: Core, queue: String, until deadline: ContinuousClock.Instant
    ) throws(BackendError) -> Bool {
        var pause = Duration.milliseconds(1)
        while true {
            let free = try mapErrors { () throws(PostgresError) in try connection.query(core.statements.tryWakeLock, [queue]) }
            if free.count == 1, free[0, 0] == "t" { return true }
            if connection.waitForNotification(channel: core.schema.channel, payload: queue, until: min(deadline, .now + pause)) { return false }
            if ContinuousClock.now >= deadline { return false }
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    /// One statement for the whole batch, whatever queues it spans. Each item is checked against the
    /// job's row under a row lock: only a job still running under exactly this lease token (and
    /// queue) is settled; any other item (the lease was rescued, the job settled already, an earlier
    /// item of this batch settled it) changes nothing and answers `false`. `.done(retention:)` with a
    /// zero retention deletes the row at once; any other retention keeps it as done until
    /// ``prune(queue:retention:limit:)``, whose own retention decides. Released jobs keep their run
    /// time: they are first in line again; so do retried jobs without a delay at the `front`, while at
    /// the `back` their run time becomes now. A retry with a delay runs at its due time, its place in
    /// line either way.
    public func settle(_ settlements: [(Lease, Settlement)], retryPosition: RetryPosition) throws(BackendError) -> [Bool] {
        let core = try core.get()
        guard !settlements.isEmpty else { return [] }
        for (lease, _) in settlements { try Self.validate(queue: lease.queue) }
        var operations: [String] = [], micros: [String?] = [], errors: [String?] = [], results: [String?] = []
        var outcomes: [String] = [], signals: [String] = []
        for (_, settlement) in settlements {
            let write = Self.operation(settlement)
            operations.append(write.op)
            micros.append(write.micros)
            errors.append(write.error.map(Self.storable))
            results.append(write.result.map(Self.storable))
            let run = settlement.attemptOutcome
            outcomes.append(run.outcome.rawValue)
            signals.append(run.signal.map(Self.storable) ?? "")
        }
        let leases = settlements.map(\.0)
        let parameters: [String?] = [
            PGArray.text(leases.map(\.queue)), PGArray.text(leases.map { Self.storable($0.jobID) }),
            PGArray.text(leases.map { Self.storable($0.token) }), PGArray.text(operations), PGArray.text(micros), PGArray.text(errors),
            PGArray.text(results), PGArray.text(outcomes), PGArray.text(signals), retryPosition.rawValue,
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

    /// One statement for the whole batch: each job still running under its lease token gets the
    /// progress and note.
    public func recordProgress(_ items: [(Lease, JobProgress)]) throws(BackendError) -> [Bool] {
        let core = try core.get()
        guard !items.isEmpty else { return [] }
        for (lease, _) in items { try Self.validate(queue: lease.queue) }
        let leases = items.map(\.0)
        let parameters: [String?] = [
            PGArray.text(leases.map(\.queue)), PGArray.text(leases.map { Self.storable($0.jobID) }),
            PGArray.text(leases.map { Self.storable($0.token) }), PGArray.text(items.map { $0.1.fraction.map { String($0) } }),
            PGArray.text(items.map { $0.1.note.map(Self.storable) }),
        ]
        let rows = try core.withConnection { connection throws(PostgresError) in
            try connection.query(core.statements.progress, parameters)
        }
        let written = Set((0..<rows.count).compactMap { rows[$0, 0] })
        return leases.map { written.contains($0.jobID) }
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
        var info = try Self.info(rows, row: 0, queue: queue, schema: core.schema)
        info.uniqueKey = rows[0, 14]
        info.attempts = JobAttempt.stored(rows[0, 15].map { Data($0.utf8) })
        return info
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

    static func validate(queue: String) throws(BackendError) {
        // The queue name is a NOTIFY payload (at most 8000 bytes) and travels as a C string.
        guard !queue.isEmpty, queue.utf8.count <= 1000, !queue.utf8.contains(0) else {
            throw BackendError(.invalid, "queue name \"\(queue)\" must be 1 to 1000 bytes without NUL")
        }
    }

    static func validate(_ job: NewJob) throws(BackendError) {
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
        try job.concurrency?.check(job: job.id)
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
    /// What the settle statement is told to do for one settlement.
    private static func operation(_ settlement: Settlement) -> (op: String, micros: String?, error: String?, result: String?) {
        switch settlement {
        case .done(let retention, let result): ("done", String(retention.roundedUpMicroseconds), nil, result)
        case .retry(let delay, let error): ("retry", String(delay.roundedUpMicroseconds), error, nil)
        case .dead(let error): ("dead", "0", error, nil)
        case .release: ("release", "0", nil, nil)
        // NULL: no retry; the statement sends the job to dead.
        case .crashed(let delay, let error): ("crashed", delay.map { String($0.roundedUpMicroseconds) }, error, nil)
        case .ended(let settlement, _): operation(settlement)
        }
    }

    private static func uniqueKey(_ job: NewJob) -> String? {
        job.uniqueKey.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Text PostgreSQL can store: `text` cannot hold NUL, which a handler's error message might.
    static func storable(_ text: String) -> String {
        text.utf8.contains(0) ? text.replacingOccurrences(of: "\0", with: "\u{FFFD}") : text
    }

    /// Whether a settlement puts the job back in line at its old place, behind where claims look now.
    private static func putsBack(_ settlement: Settlement) -> Bool {
        switch settlement {
        case .release: true
        case .retry(let delay, _): delay <= .zero
        case .crashed(let delay, _): delay.map { $0 <= .zero } ?? false
        case .done, .dead: false
        case .ended(let settlement, _): putsBack(settlement)
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
    /// attempt, max_attempts, enqueued_at (µs), last_error, updated_at (µs), origin, crashes, result.
    static func info(_ rows: PGRows, row: Int, queue: String, schema: PGSchema) throws(BackendError) -> JobInfo {
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
            crashes: rows[row, 10].flatMap { Int($0) } ?? 0, result: rows[row, 11], progress: rows[row, 12].flatMap { Double($0) },
            note: rows[row, 13])
    }

    static func malformed(_ statement: String) -> BackendError {
        BackendError(.server, "the PostgreSQL \(statement) statement returned rows of an unexpected shape")
    }

    static func date(microseconds: Int64) -> Date {
        JobFieldLimits.date(microseconds: microseconds)
    }
}

/// What every call needs once the URL and schema are known.
final class Core: Sendable {
    let schema: PGSchema
    let endpoint: PGEndpoint
    let statements: PGStatements
    let pool: ConnectionPool<PGConnection>
    private let listenEndpoint: PGEndpoint
    let logger: Logger
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
