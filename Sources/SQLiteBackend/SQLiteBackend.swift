import Backend
import ConnectionPool
import Foundation
import Logging
import Synchronization

/// Jobs in a SQLite file on this machine: the embedded backend, which needs no server. One row per job
/// in `jobs`; every change is one short write transaction. All processes of a host (the supervisor and
/// its workers) and the `host` commands share the file: write-ahead logging lets readers and one writer
/// work at once, and a writer waits for another process's write (the busy timeout). docs/sqlite.md
/// describes the tables, and how an application on the same machine enqueues with one INSERT.
///
/// Only for hosts of one machine: a file on a network filesystem is refused (SQLite's locks are not
/// reliable there), and so is a file another machine's host used within the last minute.
///
/// Times come from the machine's clock, which every process using the file shares. The file is created
/// and migrated on first use (``SQLiteMigrator``: `host migrate` does the same on purpose).
public final class SQLiteBackend: JobBackend {
    /// How hard a commit is made to stick (`PRAGMA synchronous`).
    public enum Synchronous: String, Sendable, CaseIterable {
        /// Every commit syncs the write-ahead log to disk before it returns: an acknowledged enqueue or
        /// settlement survives a crash of the host and of the machine (power loss).
        case full
        /// Commits are synced at checkpoints only: nothing is lost when the host crashes, but the last
        /// commits before a power loss or kernel crash may be. Faster.
        case normal

        var pragma: String { rawValue.uppercased() }
    }

    let path: String
    let logger: Logger
    let settings: SQLiteSettings
    /// Every write goes through this one connection: SQLite has one writer at a time anyway, and this
    /// process's writers then queue on its lock instead of sleeping in the busy handler.
    let writer: SQLiteConnection
    /// Reads: listings and counts, never blocked by a write (write-ahead logging).
    let readers: ConnectionPool<SQLiteConnection>
    let watch: ChangeWatch
    let owners: FetchOwners
    /// Whether ``open()`` succeeded; read without the lock on every call.
    private let opened = Atomic<Bool>(false)
    private let opening = Mutex<Void>(())

    /// - Parameters:
    ///   - path: the database file; created, with its directory, when missing.
    ///   - synchronous: see ``Synchronous``; `.full` unless speed matters more than a power loss.
    ///   - busyTimeout: how long a write waits for another process's write before failing `.unavailable`.
    ///   - poolSize: read connections shared by all calls.
    ///   - logger: jobs moved to dead because their rows are unusable.
    ///   - leaseOwner: who this instance leases jobs for (see ``LeaseReclaimer``): every job it claims
    ///     records `<leaseOwner>/<n>` in `jobs.lease_owner`, n counting this instance's fetch calls from 1.
    public init(
        path: String, synchronous: Synchronous = .full, busyTimeout: Duration = .seconds(5), poolSize: Int = 2, logger: Logger,
        leaseOwner: String = ""
    ) {
        self.path = path
        self.logger = logger
        let settings = SQLiteSettings(path: path, synchronous: synchronous, busyTimeout: busyTimeout)
        self.settings = settings
        self.writer = SQLiteConnection(settings: settings)
        self.readers = ConnectionPool(connections: (0..<max(1, poolSize)).map { _ in SQLiteConnection(settings: settings) })
        self.watch = ChangeWatch(settings: settings)
        self.owners = FetchOwners(leaseOwner: leaseOwner)
    }

    /// One transaction for the whole batch. Every job is checked first, so one bad job rejects the
    /// batch with `.invalid` before anything is written. Jobs join their queues in the batch's order.
    /// An id that exists is returned and not written again; a `uniqueKey` held by a pending or running
    /// job of the queue returns that job's id. An empty `uniqueKey` means none.
    public func enqueue(_ jobs: [NewJob]) throws(BackendError) -> [String] {
        guard !jobs.isEmpty else { return [] }
        for job in jobs { try Self.validate(job) }
        try open()
        let ids = try writer.transaction { (statements) throws(BackendError) in
            try Self.insert(jobs, into: &statements, now: Self.now())
        }
        watch.changed()
        return ids
    }

    /// Inserts validated jobs inside the caller's transaction; returns the id each one has.
    static func insert(_ jobs: [NewJob], into statements: inout Statements, now: Int64) throws(BackendError) -> [String] {
        var ids: [String] = []
        ids.reserveCapacity(jobs.count)
        for job in jobs {
            let key = job.uniqueKey.flatMap { $0.isEmpty ? nil : $0 }
            let delay = min(max(0, Int64(job.delay.roundedUpMicroseconds)), SQLiteStatements.high - now)
            let inserted = try statements.run(SQLiteStatements.insert, [
                .text(job.id), .text(job.queue), .text(job.handler), .text(String(decoding: job.payload, as: UTF8.self)),
                .text(delay > 0 ? JobState.scheduled.rawValue : JobState.ready.rawValue), .integer(now + delay), .integer(now),
                .integer(Int64(job.maxAttempts)), job.timeout.map { .integer(Int64(max(1, $0.roundedUpMilliseconds))) } ?? .null,
                key.map { .text($0) } ?? .null, job.origin.map { .text($0) } ?? .null,
                job.concurrency.map { .text($0.key) } ?? .null, job.concurrency.map { .integer(Int64($0.limit)) } ?? .null,
            ])
            if inserted == 1 {
                ids.append(job.id)
            } else if let key, let holder = try statements.query(SQLiteStatements.keyHolder, [.text(job.queue), .text(key)]).first?.first?.text {
                ids.append(holder)
            } else if let existing = try statements.query(SQLiteStatements.jobWithID, [.text(job.id)]).first?.first?.text {
                ids.append(existing)
            } else {
                throw BackendError(.server, "SQLite: job \(job.id) was neither inserted nor found")
            }
        }
        return ids
    }

    /// One transaction: checks the pause, then leases up to `limit` due jobs (scheduled ones whose time
    /// has come too), oldest run time first. A claimed row holding a value outside ``JobFieldLimits``
    /// goes to dead with the reason (logged here) instead, so a batch may hold fewer jobs than were due.
    public func fetch(queue: String, limit: Int, lease: Duration) throws(BackendError) -> [LeasedJob] {
        try Self.validate(queue: queue)
        guard limit > 0 else { return [] }
        try open()
        let owner = owners.next()
        let rows = try writer.transaction { (statements) throws(BackendError) -> [[SQLiteValue]] in
            guard try statements.query(SQLiteStatements.isPaused, [.text(queue)]).first?.first?.int64 != 1 else { return [] }
            return try statements.query(SQLiteStatements.claim, [
                .text(queue), .integer(Int64(limit)), .integer(Self.now()), .integer(Int64(max(1, lease.roundedUpMicroseconds))), .text(owner),
            ])
        }
        var jobs: [(key: (Int64, Int64), job: LeasedJob)] = []
        jobs.reserveCapacity(rows.count)
        for row in rows {
            guard let id = row[0].text, let runAt = row[9].int64, let seq = row[10].int64 else { throw corrupt(queue) }
            guard row[12].text == JobState.running.rawValue else {
                logger.error(
                    "job moved to dead: its row is unusable", metadata: ["queue": "\(queue)", "job": "\(id)", "reason": "\(row[8].text ?? "?")"])
                continue
            }
            guard let token = row[1].text, let handler = row[2].text, let payload = row[3].text, let attempt = row[4].int,
                  let maxAttempts = row[5].int, let enqueuedAt = row[6].int64, let crashes = row[11].int
            else { throw corrupt(queue) }
            jobs.append((
                (runAt, seq),
                LeasedJob(
                    claimed: Lease(queue: queue, jobID: id, token: token), handler: handler, payload: Data(payload.utf8), attempt: attempt,
                    maxAttempts: maxAttempts, enqueuedAt: JobFieldLimits.date(microseconds: enqueuedAt), timeoutMilliseconds: row[7].int,
                    lastError: row[8].text, crashes: crashes)
            ))
        }
        return jobs.sorted { $0.key < $1.key }.map(\.job)
    }

    /// Returns at once if a job is due; otherwise waits until the earliest scheduled job is due, or the
    /// file changes (any process's commit, seen within ``ChangeWatch/interval``) and a look finds work,
    /// or `timeout`. On a paused queue only resuming ends the wait early.
    public func waitForWork(queue: String, timeout: Duration) throws(BackendError) {
        try Self.validate(queue: queue)
        guard timeout > .zero else { return }
        try open()
        let deadline = ContinuousClock.now + timeout
        while true {
            let seen = watch.generation
            let look = try read { (statements) throws(BackendError) in
                try statements.query(SQLiteStatements.untilDue, [.text(queue), .integer(Self.now())])
            }
            guard let row = look.first, row.count == 2 else { throw Self.malformed("until due") }
            var wake = deadline
            if row[1].int64 != 1, let untilDue = row[0].int64 {
                if untilDue <= 0 { return }
                wake = min(deadline, ContinuousClock.now + .microseconds(untilDue))
            }
            guard watch.wait(after: seen, until: wake) else { return }
        }
    }

    /// One transaction for the whole batch. Only a job still running under exactly this lease token
    /// (and queue) is settled; any other item changes nothing and answers `false`. `.done` with a zero
    /// retention deletes the row at once. Released jobs keep their run time: they are first in line
    /// again; so do retried jobs without a delay at the `front`, while at the `back` their run time
    /// becomes now. A retry with a delay runs at its due time, its place in line either way.
    public func settle(_ settlements: [(Lease, Settlement)], retryPosition: RetryPosition) throws(BackendError) -> [Bool] {
        guard !settlements.isEmpty else { return [] }
        for (lease, _) in settlements { try Self.validate(queue: lease.queue) }
        try open()
        var putBack = false
        let answers = try writer.transaction { (statements) throws(BackendError) -> [Bool] in
            let now = Self.now()
            var answers: [Bool] = []
            answers.reserveCapacity(settlements.count)
            var counts: [String: (processed: Int64, failed: Int64)] = [:]
            for (lease, settlement) in settlements {
                let held = try statements.query(SQLiteStatements.held, [.text(lease.jobID), .text(lease.queue), .text(lease.token)])
                guard let crashes = held.first?.first?.int64 else {
                    answers.append(false)
                    continue
                }
                let ending = Ending(settlement, crashes: crashes, now: now, retryPosition: retryPosition)
                if ending.deletes {
                    try statements.run(SQLiteStatements.deleteJob, [.text(lease.jobID)])
                } else {
                    let run = settlement.attemptOutcome
                    try statements.run(SQLiteStatements.finish, [
                        .text(lease.jobID), .text(ending.state.rawValue), ending.runAt.map { .integer($0) } ?? .null,
                        .integer(ending.attemptGivenBack), .integer(ending.crashAdded), ending.error.map { .text($0) } ?? .null, .integer(now),
                        ending.result.map { .text($0) } ?? .null, .text(run.outcome.rawValue), run.signal.map { .text($0) } ?? .null,
                        ending.error.map { .text($0) } ?? .null,
                    ])
                }
                counts[lease.queue, default: (0, 0)].processed += ending.processed
                counts[lease.queue, default: (0, 0)].failed += ending.failed
                // A job that ends frees a place under its concurrency key: a job waiting for it may run.
                putBack = putBack || ending.putsBack || held.first?[1].text != nil
                answers.append(true)
            }
            for (queue, count) in counts.sorted(by: { $0.key < $1.key }) where count.processed + count.failed > 0 {
                try statements.run(SQLiteStatements.count, [.text(queue), .integer(count.processed), .integer(count.failed)])
            }
            return answers
        }
        if putBack { watch.changed() }
        return answers
    }

    /// One transaction: each lease still held gets the deadline now + `lease`.
    public func extend(_ leases: [Lease], by lease: Duration) throws(BackendError) -> [Bool] {
        guard !leases.isEmpty else { return [] }
        for held in leases { try Self.validate(queue: held.queue) }
        try open()
        return try writer.transaction { (statements) throws(BackendError) -> [Bool] in
            let deadline = Self.now() + Int64(max(1, lease.roundedUpMicroseconds))
            var answers: [Bool] = []
            for held in leases {
                let changed = try statements.run(
                    SQLiteStatements.extend, [.text(held.jobID), .text(held.queue), .text(held.token), .integer(deadline)])
                answers.append(changed == 1)
            }
            return answers
        }
    }

    /// One transaction: each job still running under its lease gets the progress and note.
    public func recordProgress(_ items: [(Lease, JobProgress)]) throws(BackendError) -> [Bool] {
        guard !items.isEmpty else { return [] }
        for (lease, _) in items { try Self.validate(queue: lease.queue) }
        try open()
        return try writer.transaction { (statements) throws(BackendError) -> [Bool] in
            try items.map { (item) throws(BackendError) -> Bool in
                let (lease, progress) = item
                return try statements.run(SQLiteStatements.progress, [
                    .text(lease.jobID), .text(lease.queue), .text(lease.token), progress.fraction.map { .real($0) } ?? .null,
                    progress.note.map { .text($0) } ?? .null,
                ]) == 1
            }
        }
    }

    /// One transaction: up to `limit` running jobs whose lease deadline passed, earliest first, each
    /// counted as a failed attempt, go back to ready (keeping their place in line) or, with their
    /// attempts used up, to dead; pending jobs scheduled beyond any usable time go to dead.
    public func rescueExpired(queue: String, limit: Int) throws(BackendError) -> (rescued: Int, dead: Int) {
        try Self.validate(queue: queue)
        guard limit > 0 else { return (0, 0) }
        try open()
        let result = try writer.transaction { (statements) throws(BackendError) -> (rescued: Int, dead: Int) in
            let now = Self.now()
            let moved = try statements.query(SQLiteStatements.rescue, [.text(queue), .integer(Int64(limit)), .integer(now)])
            let buried = try statements.run(SQLiteStatements.bury, [.text(queue), .integer(Int64(limit)), .integer(now)])
            if !moved.isEmpty {
                try statements.run(SQLiteStatements.count, [.text(queue), .integer(0), .integer(Int64(moved.count))])
            }
            let rescued = moved.filter { $0.first?.text == JobState.ready.rawValue }.count
            return (rescued, moved.count - rescued + buried)
        }
        if result.rescued > 0 { watch.changed() }
        return result
    }

    /// One transaction: deletes up to `limit` done jobs that finished before now − `retention`, oldest first.
    public func prune(queue: String, retention: Duration, limit: Int) throws(BackendError) -> Int {
        try Self.validate(queue: queue)
        guard limit > 0 else { return 0 }
        try open()
        return try writer.transaction { (statements) throws(BackendError) in
            let oldestKept = Self.now() - Int64(max(0, retention.roundedUpMicroseconds))
            return try statements.run(SQLiteStatements.prune, [.text(queue), .integer(oldestKept), .integer(Int64(limit))])
        }
    }

    /// One statement through the partial indexes. Scheduled jobs already due count as ready.
    public func stats(queue: String) throws(BackendError) -> QueueStats {
        try Self.validate(queue: queue)
        try open()
        let rows = try read { (statements) throws(BackendError) in
            try statements.query(SQLiteStatements.stats, [.text(queue), .integer(Self.now())])
        }
        guard let row = rows.first, row.count == 9 else { throw Self.malformed("stats") }
        var counts: [Int] = []
        for column in 0..<7 {
            guard let value = row[column].int else { throw Self.malformed("stats") }
            counts.append(value)
        }
        return QueueStats(
            queue: queue, ready: counts[0], running: counts[1], scheduled: counts[2], dead: counts[3], done: counts[4],
            processed: counts[5], failed: counts[6], oldestReadyAge: row[7].int64.map { .microseconds(max(0, $0)) },
            paused: row[8].int64 == 1)
    }

    /// Pausing records the queue in `queue_pauses` (keeping the first pause's time); resuming deletes
    /// it, and waiters see the change.
    public func setPaused(queue: String, _ paused: Bool) throws(BackendError) {
        try Self.validate(queue: queue)
        try open()
        try writer.transaction { (statements) throws(BackendError) in
            if paused {
                try statements.run(SQLiteStatements.pause, [.text(queue), .integer(Self.now())])
            } else {
                try statements.run(SQLiteStatements.resume, [.text(queue)])
            }
        }
        if !paused { watch.changed() }
    }

    public func isPaused(queue: String) throws(BackendError) -> Bool {
        try Self.validate(queue: queue)
        try open()
        let rows = try read { (statements) throws(BackendError) in try statements.query(SQLiteStatements.isPaused, [.text(queue)]) }
        return rows.first?.first?.int64 == 1
    }

    /// Ready jobs come newest first in line (the reverse of the claim's order); scheduled ones by due
    /// time, latest first; running ones by lease deadline, latest first; done and dead ones by the time
    /// they got there, latest first.
    public func list(queue: String, state: JobState, offset: Int, limit: Int) throws(BackendError) -> [JobInfo] {
        try Self.validate(queue: queue)
        guard limit > 0 else { return [] }
        try open()
        let statement: String
        switch state {
        case .ready: statement = SQLiteStatements.listReady
        case .scheduled: statement = SQLiteStatements.listScheduled
        case .running: statement = SQLiteStatements.listRunning
        case .done, .dead: statement = SQLiteStatements.listFinished
        }
        var parameters: [SQLiteValue] = [.text(queue), .integer(Int64(max(0, offset))), .integer(Int64(limit)), .integer(Self.now())]
        if state == .done || state == .dead { parameters.append(.text(state.rawValue)) }
        let rows = try read { (statements) throws(BackendError) in try statements.query(statement, parameters) }
        return try rows.map { (row) throws(BackendError) in try Self.info(row, queue: queue) }
    }

    public func job(queue: String, id: String) throws(BackendError) -> JobInfo? {
        try Self.validate(queue: queue)
        guard !id.isEmpty else { return nil }
        try open()
        let rows = try read { (statements) throws(BackendError) in
            try statements.query(SQLiteStatements.job, [.text(queue), .text(id), .null, .integer(Self.now())])
        }
        guard let row = rows.first else { return nil }
        guard row.count == 16 else { throw Self.malformed("job") }
        var info = try Self.info(Array(row[..<14]), queue: queue)
        info.uniqueKey = row[14].text
        info.attempts = JobAttempt.stored(row[15].text.map { Data($0.utf8) })
        return info
    }

    /// The job is ready again with `attempt` 0, keeping its place in line. It takes its unique key back
    /// unless a live job holds that key meanwhile; then it runs without one.
    public func retryDead(queue: String, id: String) throws(BackendError) -> Bool {
        try Self.validate(queue: queue)
        guard !id.isEmpty else { return false }
        try open()
        let changed = try writer.transaction { (statements) throws(BackendError) in
            try statements.run(SQLiteStatements.retryDead, [.text(queue), .text(id), .integer(Self.now())])
        }
        if changed == 1 { watch.changed() }
        return changed == 1
    }

    public func discardDead(queue: String, id: String) throws(BackendError) -> Bool {
        try Self.validate(queue: queue)
        guard !id.isEmpty else { return false }
        try open()
        return try writer.transaction { (statements) throws(BackendError) in
            try statements.run(SQLiteStatements.discardDead, [.text(queue), .text(id)])
        } == 1
    }

    /// Opens (creating and migrating the file on first use) and reads from it.
    public func ping() throws(BackendError) {
        try open()
        _ = try read { (statements) throws(BackendError) in try statements.query("SELECT count(*) FROM queue_pauses") }
    }

    // MARK: - Helpers

    /// Prepares the file once per instance: its directory and the schema (through the migrator, on the
    /// writer's connection), the one-machine check, and the change watch's starting point. A failure is
    /// thrown to the caller and tried again on the next call.
    func open() throws(BackendError) {
        guard !opened.load(ordering: .acquiring) else { return }
        try opening.withLock { (_) throws(BackendError) in
            guard !opened.load(ordering: .acquiring) else { return }
            try SQLiteMigrator(connection: writer).migrate()
            try refuseOtherMachines()
            try watch.prime()
            opened.store(true, ordering: .releasing)
        }
    }

    /// A host of another machine seen within the last minute: the file is shared across machines (a
    /// network filesystem the statfs check did not recognise, a disk image mounted twice).
    private func refuseOtherMachines() throws(BackendError) {
        let (bootID, machine) = Self.thisMachine()
        let rows = try read { (statements) throws(BackendError) in
            try statements.query(
                SQLiteStatements.foreignHost, [.text(bootID), .text(machine), .integer(Self.now() - 60_000_000)])
        }
        if let row = rows.first, let name = row[0].text {
            throw BackendError(
                .invalid,
                "the SQLite file \(path) is in use by host \(name) on machine \(row[1].text ?? "?"); a SQLite backend serves the hosts "
                    + "of one machine only: use Redis or PostgreSQL to share jobs between machines")
        }
    }

    /// The kernel's boot id and the machine's name, as ``HostRecord`` holds them.
    private static func thisMachine() -> (bootID: String, machine: String) {
        let bootID = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return (bootID, ProcessInfo.processInfo.hostName)
    }

    func read<Result>(_ body: (inout Statements) throws(BackendError) -> Result) throws(BackendError) -> Result {
        try readers.withConnection { (connection) throws(BackendError) in try connection.withStatements(body) }
    }

    /// Now, µs since the epoch, from the machine's clock.
    static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1000
    }

    static func validate(queue: String) throws(BackendError) {
        guard !queue.isEmpty, queue.utf8.count <= 1000 else {
            throw BackendError(.invalid, "queue name \"\(queue)\" must be 1 to 1000 bytes")
        }
    }

    static func validate(_ job: NewJob) throws(BackendError) {
        try validate(queue: job.queue)
        try job.checkStorable()
    }

    /// A ``JobInfo`` from the columns every listing selects: id, handler, state, payload, attempt,
    /// max_attempts, enqueued_at (µs), last_error, updated_at (µs), origin, crashes, result, progress, note.
    static func info(_ row: [SQLiteValue], queue: String) throws(BackendError) -> JobInfo {
        guard row.count == 14, let id = row[0].text, let handler = row[1].text, let stateText = row[2].text, let payload = row[3].text,
              let attempt = row[4].int, let maxAttempts = row[5].int, let enqueuedAt = row[6].int64
        else {
            throw BackendError(.corrupt, "a job row of queue \(queue) lacks a required column")
        }
        guard let state = JobState(rawValue: stateText) else {
            throw BackendError(.corrupt, "job \(id) of queue \(queue) has the unknown state \"\(stateText)\"")
        }
        return JobInfo(
            id: id, queue: queue, handler: handler, state: state, payload: payload, attempt: attempt, maxAttempts: maxAttempts,
            enqueuedAt: JobFieldLimits.date(microseconds: enqueuedAt), lastError: row[7].text,
            updatedAt: row[8].int64.map(JobFieldLimits.date(microseconds:)), origin: row[9].text, crashes: row[10].int ?? 0,
            result: row[11].text, progress: row[12].real, note: row[13].text)
    }

    private func corrupt(_ queue: String) -> BackendError {
        BackendError(.corrupt, "a job claimed from \(path) in queue \(queue) lacks a required column")
    }

    static func malformed(_ statement: String) -> BackendError {
        BackendError(.server, "the SQLite \(statement) statement returned rows of an unexpected shape")
    }
}

/// How a settlement ends a held job's lease: what the `finish` statement writes, or a delete.
struct Ending {
    var state: JobState
    var runAt: Int64?
    var attemptGivenBack: Int64 = 0
    var crashAdded: Int64 = 0
    var error: String?
    /// The handler's result, for a job done.
    var result: String?
    var deletes = false
    var processed: Int64 = 0
    var failed: Int64 = 0
    /// Ready again at its old place in line: waiters should look.
    var putsBack = false

    init(state: JobState, error: String? = nil) {
        self.state = state
        self.error = error
    }

    init(_ settlement: Settlement, crashes: Int64, now: Int64, retryPosition: RetryPosition) {
        switch settlement {
        case .done(let retention, let result):
            self.init(state: .done)
            self.result = result
            deletes = retention <= .zero
            processed = 1
        case .retry(let delay, let error):
            self = .retry(after: delay, error: error, now: now, position: retryPosition)
        case .dead(let error):
            self = .dead(error)
        case .release:
            self.init(state: .ready)
            attemptGivenBack = 1
            putsBack = true
        case .crashed(let delay, let error):
            guard JobFieldLimits.crashes.contains(Int(truncatingIfNeeded: crashes)) else {
                // One more crash cannot be counted: dead, saying why, rather than failing the batch.
                self = .dead(JobFieldLimits.unusableReason(field: "crashes", value: String(crashes)))
                return
            }
            self = delay.map { .retry(after: $0, error: error, now: now, position: retryPosition) } ?? .dead(error)
            crashAdded = 1
        case .ended(let settlement, _):
            self.init(settlement, crashes: crashes, now: now, retryPosition: retryPosition)
        }
    }

    static func dead(_ error: String) -> Ending {
        var ending = Ending(state: .dead, error: error)
        ending.failed = 1
        return ending
    }

    /// Ready at once (keeping its place at the `front`, behind every ready job at the `back`), or at
    /// its due time, its place in line.
    static func retry(after delay: Duration, error: String, now: Int64, position: RetryPosition) -> Ending {
        let micros = Int64(delay.roundedUpMicroseconds)
        var ending = Ending(state: micros > 0 ? .scheduled : .ready, error: error)
        ending.runAt = micros > 0 ? min(now + micros, SQLiteStatements.high) : position == .back ? now : nil
        ending.failed = 1
        ending.putsBack = micros <= 0
        return ending
    }
}
