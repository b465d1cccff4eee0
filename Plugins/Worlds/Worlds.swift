// worlds: the scheduled upkeep of the game worlds an application runs out of Redis, with the
// lasting record in its PostgreSQL database.
//
// The application keeps each live world in Redis under the plugin's key prefix (`redis_prefix`,
// default `worlds:`):
//   <prefix>state:<id>    hash: `data` (the world's state, JSON) and `last_active` (unix seconds)
//   <prefix>dirty         set of world ids whose state changed since it was last written to the database
//   <prefix>lock:<id>     the application's lock on a world (set with a TTL)
//   <prefix>events:<id>   sorted set of temporary events, scored by unix time
// The tables `worlds`, `world_interactions`, `world_memories` and `world_events` belong to the
// plugin, which creates them (idempotently, under an advisory lock) the first time it runs.
//
// Handlers — schedule them; every one may run twice (jobs run at least once), and a second run
// finds nothing left to do:
//   worlds.cleanup            (hourly) frees Redis: states idle past `state_idle_seconds` (by
//                             `last_active`), orphan locks (no TTL, or no state for their world),
//                             temporary events older than `temp_event_max_age_seconds`. SCAN, never
//                             KEYS. A dirty state is kept whatever its age: deleting it would lose
//                             changes the database has not got yet.
//   worlds.sync               (every 5 min) writes each dirty world's state and last activity to its
//                             row, then takes it out of the dirty set — after the write, and only if
//                             the state did not change meanwhile, so nothing is ever lost, at worst
//                             written twice.
//   worlds.auto_pause         (every 6 h) pauses ACTIVE worlds idle past `pause_after_seconds` (by
//                             `last_active_at`; a world never active has none and is left alone) and
//                             deletes their Redis keys. A world Redis shows as dirty or recently active
//                             is skipped: the database is behind, not the world idle.
//   worlds.consolidate_memory (3 AM) for worlds with more than `consolidate_over` unarchived
//                             interactions, summarises all but the newest `consolidate_keep` through
//                             the AI (sending at most the newest `summary_excerpt` of them, and the
//                             count), then in one transaction stores the memory and archives them.
//   worlds.emergent_events    (every 30 min) gives each ACTIVE story-mode world whose
//                             `last_active_at` is within `events_active_within_seconds` one new event
//                             from the AI, stored with the job's id: the unique (world_id, source_job)
//                             makes a re-run of the job skip the worlds it has done already, so a
//                             world whose AI call failed is retried without repeating the others.
// Each handler logs one line: a human summary and its metrics as JSON (keys in snake_case), and
// sets the same JSON as the job's result.
//
// Config: `database_url`, `redis_url`, `redis_prefix`, the thresholds above (seconds and counts; the
// defaults are 1 h, 1 h, 24 h, 24 h, 1000, 100, 200) and the `ai_*` keys of AIConfiguration.
import AIClient
import Foundation
import Logging
import PluginKit
import PostgresClient
import RedisClient
import Synchronization

/// The host's services to a job (Foundation has a `Host` too).
typealias Host = PluginKit.Host

// MARK: - Configuration

struct Settings: Decodable {
    var databaseURL: String
    var redisURL: String
    var redisPrefix: String?
    var stateIdleSeconds: Int?
    var tempEventMaxAgeSeconds: Int?
    var pauseAfterSeconds: Int?
    var eventsActiveWithinSeconds: Int?
    var consolidateOver: Int?
    var consolidateKeep: Int?
    var summaryExcerpt: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case databaseURL = "database_url"
        case redisURL = "redis_url"
        case redisPrefix = "redis_prefix"
        case stateIdleSeconds = "state_idle_seconds"
        case tempEventMaxAgeSeconds = "temp_event_max_age_seconds"
        case pauseAfterSeconds = "pause_after_seconds"
        case eventsActiveWithinSeconds = "events_active_within_seconds"
        case consolidateOver = "consolidate_over"
        case consolidateKeep = "consolidate_keep"
        case summaryExcerpt = "summary_excerpt"
    }
}

struct Thresholds: Sendable {
    var stateIdleSeconds = 3600
    var tempEventMaxAgeSeconds = 3600
    var pauseAfterSeconds = 86_400
    var eventsActiveWithinSeconds = 86_400
    var consolidateOver = 1000
    var consolidateKeep = 100
    var summaryExcerpt = 200

    init(_ settings: Settings) throws {
        func positive(_ value: Int?, _ key: String, _ fallback: Int) throws -> Int {
            guard let value else { return fallback }
            guard value > 0 else { throw PluginConfigurationError(at: key, message: "must be positive, found \(value)") }
            return value
        }
        stateIdleSeconds = try positive(settings.stateIdleSeconds, "state_idle_seconds", stateIdleSeconds)
        tempEventMaxAgeSeconds = try positive(settings.tempEventMaxAgeSeconds, "temp_event_max_age_seconds", tempEventMaxAgeSeconds)
        pauseAfterSeconds = try positive(settings.pauseAfterSeconds, "pause_after_seconds", pauseAfterSeconds)
        eventsActiveWithinSeconds = try positive(settings.eventsActiveWithinSeconds, "events_active_within_seconds", eventsActiveWithinSeconds)
        consolidateOver = try positive(settings.consolidateOver, "consolidate_over", consolidateOver)
        consolidateKeep = try positive(settings.consolidateKeep, "consolidate_keep", consolidateKeep)
        summaryExcerpt = try positive(settings.summaryExcerpt, "summary_excerpt", summaryExcerpt)
        guard consolidateKeep < consolidateOver else {
            throw PluginConfigurationError(
                at: "consolidate_keep", message: "must be less than consolidate_over (\(consolidateOver)), found \(consolidateKeep)")
        }
    }
}

/// The application's Redis keys.
struct Keys: Sendable {
    let prefix: String

    func state(_ id: some StringProtocol) -> String { "\(prefix)state:\(id)" }
    func lock(_ id: some StringProtocol) -> String { "\(prefix)lock:\(id)" }
    func events(_ id: some StringProtocol) -> String { "\(prefix)events:\(id)" }
    var dirty: String { "\(prefix)dirty" }

    /// A SCAN pattern for every key of one kind; the prefix is matched literally, even if it holds `*`, `?` or `[`.
    func pattern(_ kind: String) -> String {
        var escaped = ""
        for character in prefix {
            if "*?[]\\".contains(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return "\(escaped)\(kind):*"
    }

    /// The world id in `<prefix><kind>:<id>`.
    func id(in key: String, kind: String) -> Substring? {
        let head = "\(prefix)\(kind):"
        guard key.hasPrefix(head), key.count > head.count else { return nil }
        return key.dropFirst(head.count)
    }
}

struct Services: Sendable {
    let store: Store
    let redis: RedisClient
    let ai: AIClient
    let keys: Keys
    let thresholds: Thresholds
}

let services = Mutex<Services?>(nil)

func ready() throws -> Services {
    guard let current = services.withLock({ $0 }) else { throw DiscardJob("the worlds plugin is not initialised") }
    try current.store.prepare()
    return current
}

/// The plugin's tables in the application database, created on first use.
final class Store: Sendable {
    let database: PostgresClient
    private let migrated = Mutex(false)

    init(databaseURL: String, logger: Logger) throws {
        database = try PostgresClient(url: databaseURL, applicationName: "jobhost worlds", poolSize: 2, logger: logger)
    }

    /// Creates the tables once per process; safe in many processes at once.
    func prepare() throws {
        if migrated.withLock({ $0 }) { return }
        try database.transaction { transaction in
            // One migrator at a time across hosts and workers: CREATE ... IF NOT EXISTS races otherwise.
            _ = try transaction.query("SELECT pg_advisory_xact_lock(hashtext('jobhost worlds'))")
            for statement in Self.schema { _ = try transaction.query(statement) }
        }
        migrated.withLock { $0 = true }
    }

    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS worlds (
            id             bigserial PRIMARY KEY,
            name           text NOT NULL,
            status         text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'PAUSED')),
            story_mode     boolean NOT NULL DEFAULT false,
            state          jsonb NOT NULL DEFAULT '{}'::jsonb,
            last_active_at timestamptz,
            paused_at      timestamptz
        )
        """,
        "CREATE INDEX IF NOT EXISTS worlds_active ON worlds (last_active_at) WHERE status = 'ACTIVE'",
        """
        CREATE TABLE IF NOT EXISTS world_interactions (
            id          bigserial PRIMARY KEY,
            world_id    bigint NOT NULL REFERENCES worlds (id) ON DELETE CASCADE,
            content     text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            archived_at timestamptz
        )
        """,
        // What consolidation counts and walks: a world's unarchived interactions, newest first.
        """
        CREATE INDEX IF NOT EXISTS world_interactions_unarchived
            ON world_interactions (world_id, created_at, id) WHERE archived_at IS NULL
        """,
        """
        CREATE TABLE IF NOT EXISTS world_memories (
            id                    bigserial PRIMARY KEY,
            world_id              bigint NOT NULL REFERENCES worlds (id) ON DELETE CASCADE,
            summary               text NOT NULL,
            interactions_archived int NOT NULL,
            created_at            timestamptz NOT NULL DEFAULT now(),
            source_job            text NOT NULL,
            UNIQUE (world_id, source_job)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS world_events (
            id          bigserial PRIMARY KEY,
            world_id    bigint NOT NULL REFERENCES worlds (id) ON DELETE CASCADE,
            title       text NOT NULL,
            description text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            source_job  text NOT NULL,
            UNIQUE (world_id, source_job)
        )
        """,
    ]
}

// MARK: - Metrics

/// What a handler did: logged as one line and kept as the job's result.
protocol Metrics: Encodable {
    var summary: String { get }
}

let metricsEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = .sortedKeys
    return encoder
}()

func report(_ handler: String, _ metrics: some Metrics, _ host: Host) {
    let data = (try? metricsEncoder.encode(metrics)) ?? Data("{}".utf8)
    host.log(.info, "\(handler): \(metrics.summary) \(String(decoding: data, as: UTF8.self))")
    // The metrics are the job's result too (ABI 1.1): `host jobs show` and the admin API show them.
    do {
        try host.setResult(data)
    } catch {
        host.log(.warning, "\(handler): the metrics were not kept as the job's result: \(error)")
    }
}

func plural(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }

// MARK: - Redis helpers

extension RedisClient {
    /// Every key matching `pattern`, a SCAN batch at a time; stops early when the handler is cancelled.
    func scan(_ pattern: String, _ host: Host, _ body: ([String]) throws -> Void) throws {
        var cursor = "0"
        repeat {
            guard !host.isCancelled else { throw Cancelled() }
            let reply = try command(["SCAN", cursor, "MATCH", pattern, "COUNT", "500"])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].text, let keys = parts[1].array else {
                throw PluginError("SCAN answered something other than [cursor, keys]")
            }
            let names = keys.compactMap(\.text)
            if !names.isEmpty { try body(names) }
            cursor = next
        } while cursor != "0"
    }

    /// Members of a set, an SSCAN batch at a time.
    func sscan(_ key: String, _ host: Host, _ body: ([String]) throws -> Void) throws {
        var cursor = "0"
        repeat {
            guard !host.isCancelled else { throw Cancelled() }
            let reply = try command(["SSCAN", key, cursor, "COUNT", "200"])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].text, let members = parts[1].array else {
                throw PluginError("SSCAN answered something other than [cursor, members]")
            }
            let names = members.compactMap(\.text)
            if !names.isEmpty { try body(names) }
            cursor = next
        } while cursor != "0"
    }
}

/// The checks and deletions run as Lua scripts, so the application cannot change a key between the
/// check and the delete.
enum Script {
    /// KEYS: state, dirty. ARGV: id, cutoff. The state's bytes when it was deleted; -1 not idle (or
    /// undated); -2 dirty, kept.
    static let idleState = """
        if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return -2 end
        local last = tonumber(redis.call('HGET', KEYS[1], 'last_active'))
        if not last or last >= tonumber(ARGV[2]) then return -1 end
        local bytes = redis.call('MEMORY', 'USAGE', KEYS[1]) or 0
        redis.call('DEL', KEYS[1])
        return bytes
        """

    /// KEYS: lock, state. The lock's bytes when it was an orphan and deleted; -1 otherwise.
    static let orphanLock = """
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl == -2 then return -1 end
        if ttl >= 0 and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
        local bytes = redis.call('MEMORY', 'USAGE', KEYS[1]) or 0
        redis.call('DEL', KEYS[1])
        return bytes
        """

    /// KEYS: events. ARGV: cutoff. {events removed, bytes freed}.
    static let oldEvents = """
        local before = redis.call('MEMORY', 'USAGE', KEYS[1])
        if not before then return {0, 0} end
        local removed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
        if removed == 0 then return {0, 0} end
        local after = redis.call('MEMORY', 'USAGE', KEYS[1]) or 0
        local freed = before - after
        if freed < 0 then freed = 0 end
        return {removed, freed}
        """

    /// KEYS: dirty, state. ARGV: id, data synced, last_active synced ('' for none). Takes the id out
    /// of the dirty set only if the state is still what was written; 1 removed, 0 not a member, -1 changed.
    static let markSynced = """
        local current = redis.call('HMGET', KEYS[2], 'data', 'last_active')
        if (current[1] or '') ~= ARGV[2] or (current[2] or '') ~= ARGV[3] then return -1 end
        return redis.call('SREM', KEYS[1], ARGV[1])
        """

    /// KEYS: state, lock, events, dirty. ARGV: id, cutoff. {1, keys deleted, bytes} when the world
    /// was idle in Redis too; {0, 0, 0} dirty; {-1, 0, 0} active in Redis.
    static let pauseWorld = """
        if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 1 then return {0, 0, 0} end
        local last = tonumber(redis.call('HGET', KEYS[1], 'last_active'))
        if last and last >= tonumber(ARGV[2]) then return {-1, 0, 0} end
        local bytes = 0
        for i = 1, 3 do bytes = bytes + (redis.call('MEMORY', 'USAGE', KEYS[i]) or 0) end
        local deleted = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
        return {1, deleted, bytes}
        """
}

/// The handler's deadline came (or the host is stopping) part-way through.
struct Cancelled: Error {}

/// A failure of the plugin's own bookkeeping; the job is retried.
struct PluginError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func now() -> Int { Int(Date().timeIntervalSince1970) }

/// A handler stopped part-way: what it did is logged, and the job is retried for the rest.
func cancelled(_ handler: String, _ metrics: some Metrics, _ host: Host) -> Outcome {
    report(handler, metrics, host)
    return .retry("\(handler) stopped at its deadline or the host's shutdown; the rest is done on the next run")
}

// MARK: - worlds.cleanup

struct CleanupMetrics: Metrics {
    var statesRemoved = 0
    var dirtyStatesKept = 0
    var orphanLocksRemoved = 0
    var tempEventsRemoved = 0
    var bytesFreed = 0
    var errors = 0

    var summary: String {
        var line = "\(plural(statesRemoved, "state")), \(plural(orphanLocksRemoved, "orphan lock")), "
            + "\(plural(tempEventsRemoved, "temp event")) removed, \(bytesFreed) bytes freed"
        if dirtyStatesKept > 0 { line += "; \(plural(dirtyStatesKept, "dirty state")) kept until synced" }
        if errors > 0 { line += "; \(plural(errors, "key")) not of the expected type" }
        return line
    }
}

func cleanup(_ job: Job, _ host: Host) throws -> Outcome {
    let services = try ready()
    let redis = services.redis, keys = services.keys
    var metrics = CleanupMetrics()
    do {
        let stateCutoff = String(now() - services.thresholds.stateIdleSeconds)
        try redis.scan(keys.pattern("state"), host) { batch in
            let states = batch.compactMap { key in keys.id(in: key, kind: "state").map { (key, String($0)) } }
            let replies = try redis.pipeline(states.map { key, id in ["EVAL", Script.idleState, "2", key, keys.dirty, id, stateCutoff] })
            for reply in replies {
                guard let value = reply.int else { metrics.errors += 1; continue }
                if value >= 0 {
                    metrics.statesRemoved += 1
                    metrics.bytesFreed += value
                } else if value == -2 {
                    metrics.dirtyStatesKept += 1
                }
            }
        }
        try redis.scan(keys.pattern("lock"), host) { batch in
            let locks = batch.compactMap { key in keys.id(in: key, kind: "lock").map { (key, keys.state($0)) } }
            let replies = try redis.pipeline(locks.map { lock, state in ["EVAL", Script.orphanLock, "2", lock, state] })
            for reply in replies {
                guard let value = reply.int else { metrics.errors += 1; continue }
                if value >= 0 {
                    metrics.orphanLocksRemoved += 1
                    metrics.bytesFreed += value
                }
            }
        }
        let eventCutoff = String(now() - services.thresholds.tempEventMaxAgeSeconds)
        try redis.scan(keys.pattern("events"), host) { batch in
            let replies = try redis.pipeline(batch.map { ["EVAL", Script.oldEvents, "1", $0, eventCutoff] })
            for reply in replies {
                guard let values = reply.array, values.count == 2, let removed = values[0].int, let freed = values[1].int else {
                    metrics.errors += 1
                    continue
                }
                metrics.tempEventsRemoved += removed
                metrics.bytesFreed += freed
            }
        }
        report("worlds.cleanup", metrics, host)
        return .success
    } catch is Cancelled {
        return cancelled("worlds.cleanup", metrics, host)
    }
}

// MARK: - worlds.sync

struct SyncMetrics: Metrics {
    var worldsSynced = 0
    /// Changed again while being written; they stay dirty for the next run.
    var changedDuringSync = 0
    /// Dirty, but their state key is gone: nothing to write.
    var withoutState = 0
    /// Not in the `worlds` table (or not a world id at all): they can never be written.
    var unknownWorlds = 0
    /// Their `data` is not JSON: kept dirty until the application fixes it.
    var invalidState = 0

    var summary: String {
        "\(plural(worldsSynced, "world")) synced, \(changedDuringSync) changed during sync, \(withoutState) without state, "
            + "\(unknownWorlds) unknown, \(invalidState) with invalid state"
    }
}

func sync(_ job: Job, _ host: Host) throws -> Outcome {
    let services = try ready()
    let redis = services.redis, keys = services.keys, database = services.store.database
    var metrics = SyncMetrics()
    var invalid: [String] = []
    do {
        try redis.sscan(keys.dirty, host) { members in
            for member in members {
                guard !host.isCancelled else { throw Cancelled() }
                guard let id = Int(member), id > 0 else {
                    _ = try redis.command(["SREM", keys.dirty, member])
                    metrics.unknownWorlds += 1
                    continue
                }
                let fields = try redis.command(["HMGET", keys.state(member), "data", "last_active"]).array ?? []
                let data = fields.first?.text, lastActive = fields.count > 1 ? fields[1].text : nil
                var unknown = false
                if let data {
                    guard (try? JSONSerialization.jsonObject(with: Data(data.utf8), options: [.fragmentsAllowed])) != nil else {
                        metrics.invalidState += 1
                        invalid.append(member)
                        continue
                    }
                    let seconds = lastActive.flatMap(Double.init).map { String($0) }
                    do {
                        let written = try database.query(
                            """
                            UPDATE worlds SET state = $2::jsonb, last_active_at = COALESCE(to_timestamp($3::double precision), last_active_at)
                             WHERE id = $1
                            RETURNING id
                            """, [member, data, seconds])
                        unknown = written.count == 0
                    } catch let error as PostgresError where error.code == .server {
                        // JSON that jsonb refuses (a \u0000 in a string): one world's bad state must not stop the others' sync.
                        metrics.invalidState += 1
                        invalid.append(member)
                        continue
                    }
                }
                // Only now, after the write: a crash before this line syncs the world again next time.
                let removed = try redis.command(["EVAL", Script.markSynced, "2", keys.dirty, keys.state(member), member, data ?? "", lastActive ?? ""])
                if removed.int == -1 {
                    metrics.changedDuringSync += 1
                } else if data == nil {
                    metrics.withoutState += 1
                } else if unknown {
                    metrics.unknownWorlds += 1
                } else {
                    metrics.worldsSynced += 1
                }
            }
        }
        if !invalid.isEmpty {
            host.log(.warning, "the state of worlds \(invalid.joined(separator: ", ")) is not JSON the database accepts; they stay dirty")
        }
        report("worlds.sync", metrics, host)
        return .success
    } catch is Cancelled {
        return cancelled("worlds.sync", metrics, host)
    }
}

// MARK: - worlds.auto_pause

struct AutoPauseMetrics: Metrics {
    var worldsPaused = 0
    var redisKeysDeleted = 0
    var bytesFreed = 0
    /// Idle by the database, but dirty or recently active in Redis: the database is behind.
    var skippedActiveInRedis = 0

    var summary: String {
        "\(plural(worldsPaused, "world")) paused, \(plural(redisKeysDeleted, "Redis key")) deleted (\(bytesFreed) bytes), "
            + "\(skippedActiveInRedis) skipped as active in Redis"
    }
}

func autoPause(_ job: Job, _ host: Host) throws -> Outcome {
    let services = try ready()
    let redis = services.redis, keys = services.keys, database = services.store.database
    let idle = String(services.thresholds.pauseAfterSeconds)
    let cutoff = String(now() - services.thresholds.pauseAfterSeconds)
    var metrics = AutoPauseMetrics()
    do {
        var after = "0"
        while true {
            guard !host.isCancelled else { throw Cancelled() }
            let rows = try database.query(
                """
                SELECT id FROM worlds
                 WHERE status = 'ACTIVE' AND last_active_at < now() - make_interval(secs => $1::double precision) AND id > $2
                 ORDER BY id LIMIT 500
                """, [idle, after])
            let ids = (0..<rows.count).compactMap { rows[$0, 0] }
            guard let last = ids.last else { break }
            after = last
            // Redis first: a crash after it leaves an ACTIVE world with no Redis keys, which the next run pauses.
            let replies = try redis.pipeline(ids.map { id in
                ["EVAL", Script.pauseWorld, "4", keys.state(id), keys.lock(id), keys.events(id), keys.dirty, id, cutoff]
            })
            var idleInRedis: [String] = []
            for (id, reply) in zip(ids, replies) {
                guard let values = reply.array, values.count == 3, let status = values[0].int else {
                    throw PluginError("pausing world \(id) in Redis failed: \(reply.error ?? "an unexpected reply")")
                }
                if status == 1 {
                    idleInRedis.append(id)
                    metrics.redisKeysDeleted += values[1].int ?? 0
                    metrics.bytesFreed += values[2].int ?? 0
                } else {
                    metrics.skippedActiveInRedis += 1
                }
            }
            if idleInRedis.isEmpty { continue }
            let paused = try database.query(
                """
                UPDATE worlds SET status = 'PAUSED', paused_at = now()
                 WHERE id = ANY($1::bigint[]) AND status = 'ACTIVE' AND last_active_at < now() - make_interval(secs => $2::double precision)
                RETURNING id
                """, ["{\(idleInRedis.joined(separator: ","))}", idle])
            metrics.worldsPaused += paused.count
            host.heartbeat(note: "\(metrics.worldsPaused) worlds paused")
        }
        report("worlds.auto_pause", metrics, host)
        return .success
    } catch is Cancelled {
        return cancelled("worlds.auto_pause", metrics, host)
    }
}

// MARK: - worlds.consolidate_memory

struct ConsolidateMetrics: Metrics {
    var worldsConsolidated = 0
    var interactionsArchived = 0
    var memoriesCreated = 0
    var worldsFailed = 0

    var summary: String {
        "\(plural(worldsConsolidated, "world")) consolidated, \(plural(interactionsArchived, "interaction")) archived, "
            + "\(plural(memoriesCreated, "memory")) created, \(worldsFailed) failed"
    }
}

struct Summary: Decodable {
    let summary: String
}

/// Interactions longer than this are cut in the excerpt the AI gets.
let interactionExcerptCharacters = 2000

/// The transaction found the work done already (by another job); nothing is written.
struct AlreadyDone: Error {}

func consolidateMemory(_ job: Job, _ host: Host) throws -> Outcome {
    let services = try ready()
    let database = services.store.database, thresholds = services.thresholds
    var metrics = ConsolidateMetrics()
    var failures: [(world: String, error: AIError)] = []
    do {
        let crowded = try database.query(
            """
            SELECT world_id FROM world_interactions WHERE archived_at IS NULL
             GROUP BY world_id HAVING count(*) > $1 ORDER BY world_id
            """, [String(thresholds.consolidateOver)])
        let worlds = (0..<crowded.count).compactMap { crowded[$0, 0] }
        for world in worlds {
            guard !host.isCancelled else { throw Cancelled() }
            // The oldest interaction kept. Everything before it is archived; fixed now, so interactions
            // that arrive while the AI works never join a set the summary did not cover.
            let boundary = try database.query(
                """
                SELECT created_at, id FROM world_interactions WHERE world_id = $1 AND archived_at IS NULL
                 ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1
                """, [world, String(thresholds.consolidateKeep - 1)])
            guard boundary.count == 1, let keptAt = boundary[0, 0], let keptID = boundary[0, 1] else { continue }
            let older = "world_id = $1 AND archived_at IS NULL AND (created_at, id) < ($2::timestamptz, $3::bigint)"
            let count = try database.query("SELECT count(*) FROM world_interactions WHERE \(older)", [world, keptAt, keptID]).int(0, 0) ?? 0
            guard count > 0 else { continue }
            let excerpt = try database.query(
                """
                SELECT left(content, \(interactionExcerptCharacters)) FROM world_interactions WHERE \(older)
                 ORDER BY created_at DESC, id DESC LIMIT $4
                """, [world, keptAt, keptID, String(thresholds.summaryExcerpt)])
            let interactions = (0..<excerpt.count).compactMap { excerpt[$0, 0] }.reversed() as [String]

            let summary: String
            do {
                let prompt = try JSONSerialization.data(withJSONObject: [
                    "task": "worlds.summarize", "world_id": Int(world) ?? 0, "count": count, "interactions": interactions,
                ], options: [.sortedKeys])
                summary = try services.ai.complete(
                    system: """
                        You keep the long-term memory of a story world. Summarise what happened in these interactions \
                        (the latest ones of `count`, oldest first), keeping names, places and open threads. \
                        Answer with JSON: {"summary": "..."}.
                        """,
                    user: String(decoding: prompt, as: UTF8.self), as: Summary.self
                ).summary
            } catch let error as AIError {
                metrics.worldsFailed += 1
                failures.append((world, error))
                continue
            }

            do {
                let archived = try database.transaction { transaction -> Int in
                    // One consolidation of a world at a time: a second one waits, then finds nothing to archive.
                    _ = try transaction.query("SELECT id FROM worlds WHERE id = $1 FOR UPDATE", [world])
                    let archived = try transaction.query(
                        """
                        WITH archived AS (
                            UPDATE world_interactions SET archived_at = now() WHERE \(older) RETURNING 1
                        ) SELECT count(*) FROM archived
                        """, [world, keptAt, keptID]).int(0, 0) ?? 0
                    guard archived > 0 else { throw AlreadyDone() }
                    let memory = try transaction.query(
                        """
                        INSERT INTO world_memories (world_id, summary, interactions_archived, source_job)
                        VALUES ($1, $2, $3, $4)
                        ON CONFLICT (world_id, source_job) DO NOTHING
                        RETURNING id
                        """, [world, summary, String(archived), job.id])
                    guard memory.count == 1 else { throw AlreadyDone() }
                    return archived
                }
                metrics.worldsConsolidated += 1
                metrics.memoriesCreated += 1
                metrics.interactionsArchived += archived
            } catch is AlreadyDone {
                continue
            }
            host.heartbeat(progress: Double(metrics.worldsConsolidated + metrics.worldsFailed) / Double(worlds.count))
        }
        report("worlds.consolidate_memory", metrics, host)
        return failuresOutcome("consolidate memory", failures, job)
    } catch is Cancelled {
        return cancelled("worlds.consolidate_memory", metrics, host)
    }
}

/// The worlds done are kept; the job is retried for the others while attempts remain and any error may pass.
func failuresOutcome(_ what: String, _ failures: [(world: String, error: AIError)], _ job: Job) -> Outcome {
    guard !failures.isEmpty else { return .success }
    let list = failures.map { "world \($0.world): \($0.error)" }.joined(separator: "; ")
    if failures.contains(where: { $0.error.isTransient }) && !job.isLastAttempt {
        return .retry("\(what) failed for \(plural(failures.count, "world")), retried without the others: \(list)")
    }
    return .discard("\(what) failed for \(plural(failures.count, "world")): \(list)")
}

// MARK: - worlds.emergent_events

struct EventsMetrics: Metrics {
    var worldsEligible = 0
    var eventsCreated = 0
    /// Given their event by an earlier run of this same job.
    var worldsAlreadyDone = 0
    var worldsFailed = 0

    var summary: String {
        "\(plural(eventsCreated, "event")) created for \(plural(worldsEligible, "eligible world")), "
            + "\(worldsAlreadyDone) already done by this job, \(worldsFailed) failed"
    }
}

struct Events: Decodable {
    struct Event: Decodable {
        let title: String
        let description: String
    }

    let events: [Event]
}

/// A world's state larger than this is not sent to the AI (its name and recent events still are).
let stateExcerptBytes = 4000

func emergentEvents(_ job: Job, _ host: Host) throws -> Outcome {
    let services = try ready()
    let database = services.store.database
    var metrics = EventsMetrics()
    var failures: [(world: String, error: AIError)] = []
    do {
        let eligible = try database.query(
            """
            SELECT w.id, w.name, CASE WHEN octet_length(w.state::text) <= \(stateExcerptBytes) THEN w.state::text END,
                   EXISTS (SELECT 1 FROM world_events e WHERE e.world_id = w.id AND e.source_job = $2)
              FROM worlds w
             WHERE w.status = 'ACTIVE' AND w.story_mode AND w.last_active_at >= now() - make_interval(secs => $1::double precision)
             ORDER BY w.id
            """, [String(services.thresholds.eventsActiveWithinSeconds), job.id])
        metrics.worldsEligible = eligible.count
        for row in 0..<eligible.count {
            guard let world = eligible[row, 0] else { continue }
            if eligible[row, 3] == "t" {
                metrics.worldsAlreadyDone += 1
                continue
            }
            guard !host.isCancelled else { throw Cancelled() }
            let recent = try database.query(
                "SELECT title FROM world_events WHERE world_id = $1 ORDER BY created_at DESC, id DESC LIMIT 5", [world])
            var request: [String: Any] = [
                "task": "worlds.events", "world_id": Int(world) ?? 0, "name": eligible[row, 1] ?? "",
                "recent_events": (0..<recent.count).compactMap { recent[$0, 0] },
            ]
            if let state = eligible[row, 2], let object = try? JSONSerialization.jsonObject(with: Data(state.utf8)) {
                request["state"] = object
            }
            let event: Events.Event
            do {
                let prompt = try JSONSerialization.data(withJSONObject: request, options: [.sortedKeys])
                let answer = try services.ai.complete(
                    system: """
                        You are the narrator of a living story world. Invent one event that could happen next, \
                        consistent with its state and recent events. Answer with JSON: \
                        {"events": [{"title": "...", "description": "..."}]}.
                        """,
                    user: String(decoding: prompt, as: UTF8.self), as: Events.self)
                // One event per world and run: (world_id, source_job) is what makes a re-run add none.
                guard let first = answer.events.first(where: { !$0.title.trimmingCharacters(in: .whitespaces).isEmpty }) else {
                    throw AIError.unexpectedShape("no event with a title")
                }
                event = first
            } catch let error as AIError {
                metrics.worldsFailed += 1
                failures.append((world, error))
                continue
            }
            let stored = try database.query(
                """
                INSERT INTO world_events (world_id, title, description, source_job) VALUES ($1, $2, $3, $4)
                ON CONFLICT (world_id, source_job) DO NOTHING
                RETURNING id
                """, [world, event.title, event.description, job.id])
            if stored.count == 1 { metrics.eventsCreated += 1 } else { metrics.worldsAlreadyDone += 1 }
            host.heartbeat(progress: Double(row + 1) / Double(eligible.count))
        }
        report("worlds.emergent_events", metrics, host)
        return failuresOutcome("emergent events", failures, job)
    } catch is Cancelled {
        return cancelled("worlds.emergent_events", metrics, host)
    }
}

// MARK: - The plugin

let plugin = Plugin(
    name: "worlds",
    version: "1.0.0",
    description: "Upkeep of story worlds: Redis cleanup, state sync, auto-pause, memory consolidation, emergent events",
    handlers: [
        Handler("worlds.cleanup", description: "Removes idle states, orphan locks and old temporary events from Redis (hourly)",
                timeout: .seconds(600), run: cleanup),
        Handler("worlds.sync", description: "Writes dirty worlds' Redis state to the database (every 5 min)",
                timeout: .seconds(240), run: sync),
        Handler("worlds.auto_pause", description: "Pauses worlds idle for 24 h and frees their Redis keys (every 6 h)",
                timeout: .seconds(600), run: autoPause),
        Handler("worlds.consolidate_memory", description: "Summarises and archives old interactions of busy worlds (daily)",
                timeout: .seconds(1800), run: consolidateMemory),
        Handler("worlds.emergent_events", description: "Gives active story-mode worlds a new event from the AI (every 30 min)",
                timeout: .seconds(1200), run: emergentEvents),
    ],
    onInit: { config, host in
        let (settings, ai) = try config.decode(Settings.self, AIConfiguration.self)
        let thresholds = try Thresholds(settings)
        let prefix = settings.redisPrefix ?? "worlds:"
        guard !prefix.isEmpty else { throw PluginConfigurationError(at: "redis_prefix", message: "must not be empty") }
        var logger = Logger(label: "jobhost.worlds", factory: { _ in SwiftLogNoOpLogHandler() })
        logger.logLevel = .critical
        let store = try Store(databaseURL: settings.databaseURL, logger: logger)
        let redis = try RedisClient(url: settings.redisURL, logger: logger)
        services.withLock {
            $0 = Services(store: store, redis: redis, ai: AIClient(configuration: ai), keys: Keys(prefix: prefix), thresholds: thresholds)
        }
    }
)

@_cdecl("jh_plugin_entry") public func entry() -> UnsafeRawPointer { plugin.entry }
