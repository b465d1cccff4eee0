import Backend
import ConnectionPool
import Dispatch
import Durations
import Foundation
import Logging
import RedisClient
import Synchronization

/// Jobs in Redis: lists and sorted sets per queue, changed only by Lua scripts (``RedisScripts``),
/// one round trip per batch. docs/redis.md describes the keys, so producers in other languages can
/// enqueue with a few plain commands.
///
/// Calls block their thread and are bounded by the timeouts: a call on a dead server throws
/// ``BackendError/Code/unavailable`` within the connect timeout, one on a hung server within the
/// command timeout. Nothing is retried here; backoff is the caller's.
public final class RedisBackend: JobBackend {
    let keyPrefix: String
    let logger: Logger
    /// The connections, or why there are none (a bad URL or key prefix), thrown by every call: the
    /// initialiser cannot throw.
    private let connections: Result<Connections, BackendError>
    /// The owner ids of this instance's fetches, and its fetches whose reply never came.
    let owners: FetchOwners
    /// How many of the newest jobs per state ``search(queue:text:limit:)`` looks at.
    let searchScanLimit: Int

    /// At most this many due scheduled jobs are made ready per fetch, so one fetch stays short even
    /// after a long outage left a million due.
    private static let promoteLimit = 1000

    /// - Parameters:
    ///   - url: `redis://[user:password@]host[:port][/db]`; port 6379 and database 0 by default.
    ///   - keyPrefix: starts every key (see docs/redis.md); must not contain `{` or `}`.
    ///   - connectTimeout: how long a connection attempt may take.
    ///   - commandTimeout: how long a reply may take before the connection counts as broken.
    ///   - poolSize: connections shared by all calls; a call waits while all are busy.
    ///     ``waitForWork(queue:timeout:)`` uses connections of its own, one per concurrent waiter.
    ///   - logger: connection losses and jobs moved to dead because their data is incomplete.
    ///   - leaseOwner: who this instance leases jobs for (see ``LeaseReclaimer``): every job it fetches
    ///     records `<leaseOwner>/<n>` in its `lease_owner` field, n counting this instance's fetch
    ///     calls from 1. Empty: the owner ids are `/<n>`, and fetches whose reply was lost are not
    ///     taken back early (see ``FetchOwners``).
    ///   - searchScanLimit: how many of the newest jobs per state a search looks at (Redis has no
    ///     index on payloads: a search reads every job it looks at).
    public init(
        url: String, keyPrefix: String, connectTimeout: Duration, commandTimeout: Duration = .seconds(5), poolSize: Int = 8,
        logger: Logger, leaseOwner: String = "", searchScanLimit: Int = 10_000
    ) {
        self.keyPrefix = keyPrefix
        self.searchScanLimit = max(1, searchScanLimit)
        self.logger = logger
        self.owners = FetchOwners(leaseOwner: leaseOwner)
        self.connections = Result { () throws(BackendError) -> Connections in
            guard !keyPrefix.contains("{"), !keyPrefix.contains("}") else {
                throw BackendError(.invalid, "the Redis key prefix \"\(keyPrefix)\" must not contain { or }: they delimit the hash tag")
            }
            let endpoint = try mapErrors { () throws(RedisError) in
                try RedisEndpoint(url: url, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
            }
            return Connections(endpoint: endpoint, poolSize: max(1, poolSize), logger: logger)
        }
    }

    /// One script call per queue in the batch, pipelined: one round trip. The whole batch is checked
    /// first (id and handler non-empty, `maxAttempts` ≥ 1, payload JSON), and one bad job rejects it
    /// with `.invalid` before anything is written. Enqueueing an id that already exists returns it and
    /// adds nothing, so a retried enqueue never duplicates a job. An empty `uniqueKey` means none.
    public func enqueue(_ jobs: [NewJob]) throws(BackendError) -> [String] {
        guard !jobs.isEmpty else { return [] }
        var positions: [String: [Int]] = [:]
        var queues: [String] = []
        for (index, job) in jobs.enumerated() {
            try job.checkStorable()
            if positions[job.queue] == nil { queues.append(job.queue) }
            positions[job.queue, default: []].append(index)
        }
        var calls: [(script: RedisScript, command: RedisCommand)] = []
        for queue in queues {
            let indices = positions[queue]!
            var command = RedisScripts.enqueue.call(key: try key(queue))
            command.reserve(arguments: 1 + 10 * indices.count, bytes: indices.reduce(0) { $0 + jobs[$1].payload.count + 80 })
            command.append(queue)
            for index in indices {
                command.append(job: jobs[index])
            }
            calls.append((RedisScripts.enqueue, command))
        }
        let replies = try withPooledConnection { connection throws(RedisError) in try connection.evaluate(calls) }

        var ids = [String](repeating: "", count: jobs.count)
        for (queue, reply) in zip(queues, replies) {
            let indices = positions[queue]!
            guard let returned = try Self.checked(reply, RedisScripts.enqueue).array, returned.count == indices.count else {
                throw Self.malformed(RedisScripts.enqueue)
            }
            for (index, id) in zip(indices, returned) {
                guard let id = id.text else { throw Self.malformed(RedisScripts.enqueue) }
                ids[index] = id
            }
        }
        return ids
    }

    /// One script call. Jobs whose data is incomplete or unusable (a value outside ``JobFieldLimits``,
    /// an unknown state) are moved to dead (and logged) instead of returned, so a batch may hold fewer
    /// jobs than were ready. The lease token is the job's
    /// `lease_seq`, bumped on every fetch; the same write records the call's owner id in `lease_owner`.
    /// A fetch of this instance whose reply was lost (a timeout, a broken connection) is taken back
    /// first, with ``ReclaimMode/release``: one more script call while such a fetch is pending.
    public func fetch(queue: String, limit: Int, lease: Duration) throws(BackendError) -> [LeasedJob] {
        let script = RedisScripts.fetch
        var command = script.call(key: try key(queue))
        guard limit > 0 else { return [] }
        try owners.reclaimOrphans { (queue, owner) throws(BackendError) in
            try reclaim(queue: queue, owner: owner, exact: true, .release).ready
        }
        let owner = owners.next()
        command.append(limit)
        command.append(lease.roundedUpMilliseconds)
        command.append(Self.promoteLimit)
        command.append(owner)
        let reply: RESPValue
        do throws(BackendError) {
            reply = try run(script, command)
        } catch {
            owners.failed(queue: queue, owner: owner, lease: lease, error: error)
            throw error
        }
        guard let parts = reply.array, parts.count == 2, let flat = parts[0].array, let buried = parts[1].array,
              flat.count % 10 == 0, buried.count % 2 == 0
        else { throw Self.malformed(script) }

        for index in stride(from: 0, to: buried.count, by: 2) {
            logger.error(
                "job moved to dead: its data in Redis is incomplete or unusable",
                metadata: ["queue": "\(queue)", "job": "\(buried[index].text ?? "?")", "reason": "\(buried[index + 1].text ?? "?")"])
        }

        var jobs: [LeasedJob] = []
        jobs.reserveCapacity(flat.count / 10)
        for index in stride(from: 0, to: flat.count, by: 10) {
            guard let id = flat[index].text, let token = flat[index + 1].text, let handler = flat[index + 2].text,
                  case .string(let payload) = flat[index + 3], let attempt = flat[index + 4].int,
                  let maxAttempts = flat[index + 5].int, let enqueuedAt = flat[index + 6].int, let timeout = flat[index + 7].int,
                  let crashes = flat[index + 9].int
            else { throw Self.malformed(script) }
            jobs.append(
                LeasedJob(
                    claimed: Lease(queue: queue, jobID: id, token: token), handler: handler, payload: Data(payload), attempt: attempt,
                    maxAttempts: maxAttempts, enqueuedAt: JobFieldLimits.date(milliseconds: Int64(enqueuedAt)), timeoutMilliseconds: timeout,
                    lastError: Self.nonEmpty(flat[index + 8]), crashes: crashes))
        }
        return jobs
    }

    /// Returns at once if jobs are ready or a scheduled one is due; otherwise blocks in `BRPOP` on the
    /// queue's wake list for the shorter of `timeout` and the time until the earliest scheduled job is
    /// due, on a connection of its own. Enqueues, releases, retries and rescues push wake-up hints.
    /// On a paused queue it blocks on the `resumed` list instead, for all of `timeout`: enqueues do
    /// not wake it, resuming does.
    public func waitForWork(queue: String, timeout: Duration) throws(BackendError) {
        let key = try key(queue)
        let connections = try connections.get()
        guard timeout > .zero else { return }
        let connection = connections.checkOutWaiter()
        defer { connections.checkIn(waiter: connection) }

        let untilDue = try mapErrors { () throws(RedisError) in
            try connection.evaluate(RedisScripts.waitInfo, RedisScripts.waitInfo.call(key: key)).int ?? -1
        }
        if untilDue == 0 { return }
        let wait = untilDue > 0 ? min(timeout, .milliseconds(untilDue)) : timeout
        var command: RedisCommand = ["BRPOP", key + (untilDue == -2 ? ":resumed" : ":wake")]
        command.append(Self.seconds(wait))
        // The socket must outwait the server: a read timeout shorter than the BRPOP would count a
        // quiet queue as a broken connection.
        _ = try mapErrors { () throws(RedisError) in try connection.command(command, timeout: wait + connection.endpoint.commandTimeout) }
    }

    /// One script call per queue in the batch, pipelined. `.done(retention:)` with a zero retention
    /// deletes the job at once; any other retention keeps it until ``prune(queue:retention:limit:)``,
    /// whose own retention decides. A retry at the `back` joins the left end of `ready` (at once, or
    /// when the fetch promotes it, marked by the hash's `line` field meanwhile).
    public func settle(_ settlements: [(Lease, Settlement)], retryPosition: RetryPosition) throws(BackendError) -> [Bool] {
        let script = RedisScripts.settle
        return try perQueue(settlements, queue: \.0.queue, script: script, start: { $0.append(retryPosition.rawValue) }) { command, item in
            let (lease, settlement) = item
            let (op, milliseconds, text) = Self.operation(settlement.write)
            let run = settlement.attemptOutcome
            command.append(op)
            command.append(lease.jobID)
            command.append(lease.token)
            // No delay is sent as "": for a crash it means no retry, straight to dead.
            if let milliseconds { command.append(milliseconds) } else { command.append("") }
            command.append(text)
            command.append(run.outcome.rawValue)
            command.append(run.signal ?? "")
        }
    }

    /// What the settle script is told to do: operation, milliseconds, text.
    private static func operation(_ settlement: Settlement) -> (String, Int?, String) {
        switch settlement {
        case .done(let retention, let result): ("done", retention.roundedUpMilliseconds, result ?? "")
        case .retry(let delay, let error): ("retry", delay.roundedUpMilliseconds, error)
        case .dead(let error): ("dead", 0, error)
        case .release: ("release", 0, "")
        case .crashed(let delay, let error): ("crashed", delay?.roundedUpMilliseconds, error)
        case .ended(let settlement, _): operation(settlement)
        }
    }

    /// One script call per queue, pipelined.
    public func extend(_ leases: [Lease], by lease: Duration) throws(BackendError) -> [Bool] {
        let milliseconds = lease.roundedUpMilliseconds
        return try perQueue(leases, queue: \.queue, script: RedisScripts.extend, start: { $0.append(milliseconds) }) { command, lease in
            command.append(lease.jobID)
            command.append(lease.token)
        }
    }

    /// One script call per queue, pipelined.
    public func recordProgress(_ items: [(Lease, JobProgress)]) throws(BackendError) -> [Bool] {
        try perQueue(items, queue: \.0.queue, script: RedisScripts.progress) { command, item in
            command.append(item.0.jobID)
            command.append(item.0.token)
            command.append(item.1.fraction.map { String($0) } ?? "")
            command.append(item.1.note ?? "")
        }
    }

    /// Handles up to `limit` expired leases, earliest deadline first, in one script call. Every expired
    /// lease counts as a failed attempt in the stats.
    public func rescueExpired(queue: String, limit: Int) throws(BackendError) -> (rescued: Int, dead: Int) {
        let script = RedisScripts.rescue
        var command = script.call(key: try key(queue))
        guard limit > 0 else { return (0, 0) }
        command.append(limit)
        let reply = try run(script, command)
        guard let counts = reply.array, counts.count == 2, let rescued = counts[0].int, let dead = counts[1].int else {
            throw Self.malformed(script)
        }
        return (rescued, dead)
    }

    /// Deletes up to `limit` done jobs, oldest first, in one script call.
    public func prune(queue: String, retention: Duration, limit: Int) throws(BackendError) -> Int {
        let script = RedisScripts.prune
        var command = script.call(key: try key(queue))
        guard limit > 0 else { return 0 }
        command.append(retention.roundedUpMilliseconds)
        command.append(limit)
        let reply = try run(script, command)
        guard let count = reply.int else { throw Self.malformed(script) }
        return count
    }

    /// One read-only script call. Scheduled jobs already due count as ready. `oldestReadyAge` is how
    /// long the job at the front of the line has waited since it last became ready.
    public func stats(queue: String) throws(BackendError) -> QueueStats {
        let script = RedisScripts.stats
        let command = script.call(key: try key(queue))
        let reply = try run(script, command)
        guard let values = reply.array?.compactMap(\.int), values.count == 9 else { throw Self.malformed(script) }
        return QueueStats(
            queue: queue, ready: values[0], running: values[1], scheduled: values[2], dead: values[3], done: values[4],
            processed: values[5], failed: values[6], oldestReadyAge: values[7] >= 0 ? .milliseconds(values[7]) : nil,
            paused: values[8] == 1)
    }

    /// One script call: the queue's `paused` key (holding when it was paused) is set or deleted; the
    /// fetch script checks it in the same atomic step that pops jobs. Resuming wakes waiting hosts.
    public func setPaused(queue: String, _ paused: Bool) throws(BackendError) {
        let script = RedisScripts.setPaused
        var command = script.call(key: try key(queue))
        command.append(paused ? 1 : 0)
        guard try run(script, command).int != nil else { throw Self.malformed(script) }
    }

    /// One EXISTS on the queue's `paused` key.
    public func isPaused(queue: String) throws(BackendError) -> Bool {
        let key = try key(queue) + ":paused"
        let reply = try withPooledConnection { connection throws(RedisError) in try connection.command(["EXISTS", key]) }
        guard let exists = reply.int else { throw BackendError(.corrupt, "EXISTS answered \(reply)") }
        return exists == 1
    }

    /// One read-only script call. Ready jobs are listed by their place in line (the last to join
    /// first; released and rescued jobs, which go to the front, come last); running jobs by lease
    /// deadline, scheduled ones by due time, dead and done ones by the time they got there.
    public func list(queue: String, state: JobState, offset: Int, limit: Int) throws(BackendError) -> [JobInfo] {
        let script = RedisScripts.list
        var command = script.call(key: try key(queue))
        guard limit > 0 else { return [] }
        command.append(state.rawValue)
        command.append(max(0, offset))
        command.append(limit)
        let reply = try run(script, command)
        guard let flat = reply.array, flat.count % 14 == 0 else { throw Self.malformed(script) }
        var jobs: [JobInfo] = []
        jobs.reserveCapacity(flat.count / 14)
        for index in stride(from: 0, to: flat.count, by: 14) {
            guard let id = flat[index].text else { throw Self.malformed(script) }
            jobs.append(try Self.info(queue: queue, id: id, fields: flat[(index + 1)..<(index + 14)], listedAs: state))
        }
        return jobs
    }

    /// One `HMGET` of the job's hash, its attempt history included: the `attempts` field (one JSON
    /// object per line) and, for a done job, its last run, which the settle keeps in the job's own
    /// fields rather than appending (`started_at`, `updated_at`, `lease_owner`, `attempt`).
    public func job(queue: String, id: String) throws(BackendError) -> JobInfo? {
        var command: RedisCommand = ["HMGET", try key(queue) + ":job:" + id]
        for field in [
            "handler", "state", "payload", "attempt", "max_attempts", "enqueued_at", "last_error", "updated_at", "origin", "crashes", "result",
            "progress", "note", "unique_key", "attempts", "started_at", "lease_owner",
        ] {
            command.append(field)
        }
        let reply = try withPooledConnection { connection throws(RedisError) in try connection.command(command) }
        guard let fields = reply.array, fields.count == 17 else {
            throw BackendError(.server, "Redis answered HMGET for job \(id) of queue \(queue) with an unexpected reply")
        }
        if fields.allSatisfy({ $0 == .null }) { return nil }
        var info = try Self.info(queue: queue, id: id, fields: fields[..<13])
        info.uniqueKey = Self.nonEmpty(fields[13])
        var attempts = Self.nonEmpty(fields[14]).map { JobAttempt.stored(Data(("[" + $0.split(separator: "\n").joined(separator: ",") + "]").utf8)) } ?? []
        if info.state == .done, let started = Self.nonEmpty(fields[15]).flatMap(Int64.init), let ended = Self.nonEmpty(fields[7]).flatMap(Int64.init) {
            attempts.append(JobAttempt(
                number: info.attempt, leaseOwner: Self.nonEmpty(fields[16]), startedAt: JobFieldLimits.date(milliseconds: started),
                endedAt: JobFieldLimits.date(milliseconds: ended), outcome: .done))
        }
        info.attempts = Array(attempts.suffix(JobAttempt.limit))
        return info
    }

    /// The job goes to the front of the line with `attempt` 0; its unique key is claimed again unless
    /// a live job holds it.
    public func retryDead(queue: String, id: String) throws(BackendError) -> Bool {
        try changeDead(RedisScripts.retryDead, queue: queue, id: id)
    }

    /// Deletes the job's hash and frees its unique key.
    public func discardDead(queue: String, id: String) throws(BackendError) -> Bool {
        try changeDead(RedisScripts.discardDead, queue: queue, id: id)
    }

    /// `PING` on a pooled connection (connecting and logging in first if needed).
    public func ping() throws(BackendError) {
        _ = try withPooledConnection { connection throws(RedisError) in try connection.command(["PING"]) }
    }

    // MARK: - Helpers

    /// `body` on a pooled connection; a client error comes back as the backend's.
    func withPooledConnection<Result>(_ body: (RedisConnection) throws(RedisError) -> Result) throws(BackendError) -> Result {
        let pool = try connections.get().pool
        return try mapErrors { () throws(RedisError) in try pool.withConnection(body) }
    }

    /// One script call on a pooled connection; an error reply is thrown.
    func run(_ script: RedisScript, _ command: RedisCommand) throws(BackendError) -> RESPValue {
        try withPooledConnection { connection throws(RedisError) in try connection.evaluate(script, command) }
    }

    /// `{prefix:queue}`: the hash tag every key of the queue starts with.
    func key(_ queue: String) throws(BackendError) -> String {
        guard !queue.isEmpty, !queue.contains("{"), !queue.contains("}") else {
            throw BackendError(.invalid, "queue name \"\(queue)\" must be non-empty and must not contain { or }")
        }
        return "{\(keyPrefix):\(queue)}"
    }

    /// `prefix:hosts`, the host-name registry. Not under a queue's hash tag: queue keys start with `{`,
    /// so it cannot meet one.
    var hostsKey: String { "\(keyPrefix):hosts" }

    /// Runs `script` once per queue the items name, pipelined, each call carrying that queue's items
    /// in order; returns each item's 1/0 answer as a Bool, in the items' order.
    private func perQueue<Item>(
        _ items: [Item], queue: (Item) -> String, script: RedisScript, start: (inout RedisCommand) -> Void = { _ in },
        append: (inout RedisCommand, Item) -> Void
    ) throws(BackendError) -> [Bool] {
        guard !items.isEmpty else { return [] }
        var positions: [String: [Int]] = [:]
        var queues: [String] = []
        for (index, item) in items.enumerated() {
            let name = queue(item)
            if positions[name] == nil { queues.append(name) }
            positions[name, default: []].append(index)
        }
        var calls: [(script: RedisScript, command: RedisCommand)] = []
        for name in queues {
            var command = script.call(key: try key(name))
            command.reserve(arguments: 5 * positions[name]!.count, bytes: 48 * positions[name]!.count)
            start(&command)
            for index in positions[name]! { append(&command, items[index]) }
            calls.append((script, command))
        }
        let replies = try withPooledConnection { connection throws(RedisError) in try connection.evaluate(calls) }
        var results = [Bool](repeating: false, count: items.count)
        for (name, reply) in zip(queues, replies) {
            let indices = positions[name]!
            guard let answers = try Self.checked(reply, script).array, answers.count == indices.count else {
                throw Self.malformed(script)
            }
            for (index, answer) in zip(indices, answers) { results[index] = answer.int == 1 }
        }
        return results
    }

    private func changeDead(_ script: RedisScript, queue: String, id: String) throws(BackendError) -> Bool {
        var command = script.call(key: try key(queue))
        command.append(id)
        let reply = try run(script, command)
        return reply.int == 1
    }

    /// A ``JobInfo`` from the 13 fields the list script and ``job(queue:id:)`` read: handler, state,
    /// payload, attempt, max_attempts, enqueued_at, last_error, updated_at, origin, crashes, result,
    /// progress, note. Fields an
    /// edit left unreadable read as 0 (times: clamped to ``JobFieldLimits/timestampMilliseconds``). A
    /// job listed from a state's list or set whose hash names a state jobhost does not know is shown in
    /// that state, its last error saying so (the next fetch, rescue or prune that meets it moves it to
    /// dead); looked up alone, it is `.corrupt`.
    private static func info(
        queue: String, id: String, fields: ArraySlice<RESPValue>, listedAs listed: JobState? = nil
    ) throws(BackendError) -> JobInfo {
        let f = Array(fields)
        // A plain producer may leave the state out: such a job is ready.
        let stateText = f[1].text ?? JobState.ready.rawValue
        var lastError = nonEmpty(f[6])
        let state: JobState
        if let known = JobState(rawValue: stateText) {
            state = known
        } else if let listed {
            state = listed
            lastError = JobFieldLimits.unusableReason(field: "state", value: "\"\(stateText)\"", problem: "is not a known state")
        } else {
            throw BackendError(.corrupt, "job \(id) of queue \(queue) has the unknown state \"\(stateText)\" in Redis")
        }
        return JobInfo(
            id: id, queue: queue, handler: f[0].text ?? "", state: state, payload: f[2].text ?? "", attempt: f[3].int ?? 0,
            maxAttempts: f[4].int ?? 0, enqueuedAt: date(milliseconds: f[5].int ?? 0), lastError: lastError,
            updatedAt: f[7].int.map(date(milliseconds:)), origin: nonEmpty(f[8]), crashes: f[9].int ?? 0, result: nonEmpty(f[10]),
            progress: nonEmpty(f[11]).flatMap { Double($0) }, note: nonEmpty(f[12]))
    }

    static func checked(_ reply: RESPValue, _ script: RedisScript) throws(BackendError) -> RESPValue {
        if case .error(let message) = reply { throw BackendError(RedisError.reply(message, script: script.name)) }
        return reply
    }

    static func malformed(_ script: RedisScript) -> BackendError {
        BackendError(.server, "Redis script \(script.name) returned a reply of an unexpected shape")
    }

    private static func nonEmpty(_ value: RESPValue) -> String? {
        guard let text = value.text, !text.isEmpty else { return nil }
        return text
    }

    static func date(milliseconds: Int) -> Date {
        JobFieldLimits.date(milliseconds: Int64(milliseconds))
    }

    /// `BRPOP`'s timeout: seconds with a fraction (Redis 6 and later), at least a millisecond since 0
    /// would block forever.
    private static func seconds(_ duration: Duration) -> String {
        String(format: "%.3f", Double(max(1, duration.roundedUpMilliseconds)) / 1000)
    }
}

/// The pool for ordinary calls and the connections reserved for ``RedisBackend/waitForWork(queue:timeout:)``.
private final class Connections: Sendable {
    let pool: ConnectionPool<RedisConnection>
    private let endpoint: RedisEndpoint
    let logger: Logger
    /// Idle waiting connections. A waiter blocks for seconds; on a pooled connection it would starve
    /// ordinary calls, and sharing one among waiters would make each wait for the others.
    private let idleWaiters = Mutex<[RedisConnection]>([])

    init(endpoint: RedisEndpoint, poolSize: Int, logger: Logger) {
        self.endpoint = endpoint
        self.logger = logger
        self.pool = ConnectionPool<RedisConnection>(connections: (0..<poolSize).map { _ in RedisConnection(endpoint: endpoint, logger: logger) })
    }

    func checkOutWaiter() -> RedisConnection {
        idleWaiters.withLock { $0.popLast() } ?? RedisConnection(endpoint: endpoint, logger: logger)
    }

    func checkIn(waiter: RedisConnection) {
        idleWaiters.withLock { $0.append(waiter) }
    }
}

extension RedisCommand {
    /// The 10 arguments a job takes in the enqueue and claim_fire scripts.
    mutating func append(job: NewJob) {
        append(job.id)
        append(job.handler)
        append(job.payload)
        append(job.maxAttempts)
        append(job.delay.roundedUpMilliseconds)
        append(job.timeout?.roundedUpMilliseconds ?? 0)
        append(job.uniqueKey ?? "")
        append(job.origin ?? "")
        append(job.concurrency?.key ?? "")
        append(job.concurrency?.limit ?? 0)
    }
}
