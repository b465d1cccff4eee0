import Backend
import Foundation
import Glibc
import JobHostTesting
import Logging
import RedisBackend
import RedisClient
import Testing

/// worlds end to end: each scheduled job on a seeded Redis and database, its effect counted in both
/// and in the metrics it logs and keeps as its result, then run again to show a second run finds nothing left to do.
@Suite(.serialized)
struct WorldsFlowTests {
    let now = Int(Date().timeIntervalSince1970)

    /// Runs one job of `handler` to the end and returns the metrics of each log line it wrote (one per attempt).
    func run(
        _ handler: String, _ harness: HostHarness, _ host: BackgroundProcess, expect state: JobState = .done
    ) async throws -> (job: String, attempts: [[String: Int]]) {
        let before = metrics(handler, in: host.log).count
        let job = try await harness.enqueue(handler, "{}")
        #expect(try await harness.finish(job) == state, "\(host.log.suffix(3000))")
        let attempts = try harness.backend.job(queue: "default", id: job)?.attempt ?? 0
        // The line comes from a worker process; it may reach the host's log just after the job finished.
        try await harness.waitUntil("the metrics line of each attempt in the log") { metrics(handler, in: host.log).count >= before + attempts }
        let logged = Array(metrics(handler, in: host.log).dropFirst(before))
        if state == .done {
            // The last attempt's metrics are the job's result too.
            let result = try harness.backend.job(queue: "default", id: job)?.result
            #expect(result.flatMap { try? JSONDecoder().decode([String: Int].self, from: Data($0.utf8)) } == logged.last, "result \(result ?? "none")")
        }
        return (job, logged)
    }

    /// The JSON object that ends each `<handler>: …` log message (the host logs JSON lines here: its
    /// stderr is not a terminal).
    func metrics(_ handler: String, in log: String) -> [[String: Int]] {
        log.split(separator: "\n").compactMap { raw -> [String: Int]? in
            let object = try? JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any]
            let line = (object?["message"] as? String).map { Substring($0) } ?? raw
            guard let tag = line.range(of: "\(handler): "), let open = line[tag.upperBound...].firstIndex(of: "{"),
                  let close = line[open...].firstIndex(of: "}")
            else { return nil }
            return try? JSONDecoder().decode([String: Int].self, from: Data(line[open...close].utf8))
        }
    }

    func redis(_ harness: HostHarness) throws -> RedisClient {
        var logger = Logger(label: "worlds-test")
        logger.logLevel = .critical
        return try RedisClient(url: harness.backendURL, logger: logger)
    }

    func exists(_ redis: RedisClient, _ keys: [String]) throws -> [Int] {
        try keys.map { try redis.command(["EXISTS", $0]).int ?? -1 }
    }

    @Test func cleanupFreesIdleStatesOrphanLocksAndOldEventsAndKeepsTheRest() async throws {
        let harness = try await HostHarness.flow(plugins: ["Worlds"])
        let redis = try redis(harness)
        var seed: [[String]] = [
            ["HSET", "worlds:state:1", "data", #"{"hp":1}"#, "last_active", String(now - 7200)],  // idle: removed
            ["HSET", "worlds:state:2", "data", "{}", "last_active", String(now - 7200)],  // idle but dirty: kept
            ["SADD", "worlds:dirty", "2"],
            ["HSET", "worlds:state:3", "data", "{}", "last_active", String(now - 60)],  // active: kept
            ["HSET", "worlds:state:4", "data", "{}", "last_active", String(now - 4000)],  // idle: removed
            ["HSET", "worlds:state:5", "data", "{}"],  // undated: kept
            ["HSET", "other:state:1", "data", "{}", "last_active", String(now - 7200)],  // another prefix: untouched
            ["SET", "worlds:lock:1", "x"],  // no TTL: removed
            ["SET", "worlds:lock:2", "x"],  // no TTL, though its world has state: removed
            ["SET", "worlds:lock:3", "x", "PX", "60000"],  // TTL and state: kept
            ["SET", "worlds:lock:7", "x", "PX", "60000"],  // no state for world 7: removed
            ["SET", "other:lock:9", "x"],  // another prefix: untouched
        ]
        for index in 0..<10 { seed.append(["ZADD", "worlds:events:3", String(now - 7200 + index), "old \(index)"]) }
        for index in 0..<5 { seed.append(["ZADD", "worlds:events:3", String(now - index), "new \(index)"]) }
        for index in 0..<3 { seed.append(["ZADD", "worlds:events:8", String(now - 4000 - index), "old \(index)"]) }
        #expect(try redis.pipeline(seed).allSatisfy { $0.error == nil })

        let host = try harness.startHost()
        let first = try await run("worlds.cleanup", harness, host)
        #expect(first.attempts == [[
            "states_removed": 2, "dirty_states_kept": 1, "orphan_locks_removed": 3, "temp_events_removed": 13,
            "bytes_freed": first.attempts.first?["bytes_freed"] ?? -1, "errors": 0,
        ]])
        #expect((first.attempts.first?["bytes_freed"] ?? 0) > 0)
        #expect(host.log.contains("worlds.cleanup: 2 states, 3 orphan locks, 13 temp events removed"), "\(host.log.suffix(2000))")
        #expect(try exists(redis, ["worlds:state:1", "worlds:state:2", "worlds:state:3", "worlds:state:4", "worlds:state:5", "other:state:1"])
            == [0, 1, 1, 0, 1, 1])
        #expect(try exists(redis, ["worlds:lock:1", "worlds:lock:2", "worlds:lock:3", "worlds:lock:7", "other:lock:9"]) == [0, 0, 1, 0, 1])
        #expect(try redis.command(["ZCARD", "worlds:events:3"]).int == 5)
        #expect(try exists(redis, ["worlds:events:8"]) == [0])

        let second = try await run("worlds.cleanup", harness, host)
        #expect(second.attempts == [[
            "states_removed": 0, "dirty_states_kept": 1, "orphan_locks_removed": 0, "temp_events_removed": 0, "bytes_freed": 0, "errors": 0,
        ]])
        // One SCAN call sees every key of a database this small.
        let left = try redis.command(["SCAN", "0", "MATCH", "worlds:*", "COUNT", "100000"]).array?.last?.array?.compactMap(\.text) ?? []
        #expect(left.sorted() == ["worlds:dirty", "worlds:events:3", "worlds:lock:3", "worlds:state:2", "worlds:state:3", "worlds:state:5"])
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func syncWritesDirtyStatesAndAutoPauseSkipsWorldsActiveInRedis() async throws {
        let harness = try await HostHarness.flow(plugins: ["Worlds"])
        let redis = try redis(harness)
        let host = try harness.startHost()
        // The first run creates the plugin's tables; nothing is dirty yet.
        let empty = try await run("worlds.sync", harness, host)
        #expect(empty.attempts.first?["worlds_synced"] == 0)

        _ = try harness.sql("INSERT INTO worlds (id, name) VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four'), (5, 'five')")
        #expect(try redis.pipeline([
            ["HSET", "worlds:state:1", "data", #"{"hp": 7, "name": "Zoë"}"#, "last_active", String(now - 30)],
            ["HSET", "worlds:state:2", "data", "[1, 2]", "last_active", String(now - 100)],
            ["HSET", "worlds:state:3", "data", "not json {", "last_active", String(now)],
            // JSON, but jsonb refuses a NUL character: it must not stop the other worlds' sync.
            ["HSET", "worlds:state:5", "data", #"{"note": "a\u0000b"}"#, "last_active", String(now)],
            ["HSET", "worlds:state:99", "data", "{}", "last_active", String(now)],
            ["SADD", "worlds:dirty", "1", "2", "3", "4", "5", "99"],
        ]).allSatisfy { $0.error == nil })

        let sync = try await run("worlds.sync", harness, host)
        #expect(sync.attempts == [[
            "worlds_synced": 2, "changed_during_sync": 0, "without_state": 1, "unknown_worlds": 1, "invalid_state": 2,
        ]])
        #expect(try harness.sql(#"SELECT state = '{"hp": 7, "name": "Zoë"}'::jsonb, extract(epoch FROM last_active_at)::bigint FROM worlds WHERE id = 1"#)
            == "t|\(now - 30)")
        #expect(try harness.sql("SELECT state::text, extract(epoch FROM last_active_at)::bigint FROM worlds WHERE id = 2") == "[1, 2]|\(now - 100)")
        #expect(try harness.sql("SELECT count(*) FROM worlds WHERE id IN (3, 4, 5) AND state = '{}' AND last_active_at IS NULL") == "3")
        #expect(try redis.command(["SMEMBERS", "worlds:dirty"]).array?.compactMap(\.text).sorted() == ["3", "5"], "only invalid states stay dirty")
        #expect(host.log.contains("is not JSON the database accepts; they stay dirty"))

        let again = try await run("worlds.sync", harness, host)
        #expect(again.attempts == [[
            "worlds_synced": 0, "changed_during_sync": 0, "without_state": 0, "unknown_worlds": 0, "invalid_state": 2,
        ]])

        // auto_pause: idle for two days in the database; 11 is active in Redis, 15 is dirty there.
        _ = try harness.sql("""
            INSERT INTO worlds (id, name, status, last_active_at) VALUES
              (10, 'ten', 'ACTIVE', now() - interval '2 days'), (11, 'eleven', 'ACTIVE', now() - interval '2 days'),
              (12, 'twelve', 'ACTIVE', now() - interval '1 hour'), (13, 'thirteen', 'PAUSED', now() - interval '3 days'),
              (14, 'fourteen', 'ACTIVE', now() - interval '2 days'), (15, 'fifteen', 'ACTIVE', now() - interval '2 days')
            """)
        #expect(try redis.pipeline([
            ["HSET", "worlds:state:10", "data", "{}", "last_active", String(now - 172_800)],
            ["SET", "worlds:lock:10", "x", "PX", "60000"],
            ["ZADD", "worlds:events:10", String(now), "storm"],
            ["HSET", "worlds:state:11", "data", "{}", "last_active", String(now - 10)],
            ["HSET", "worlds:state:15", "data", "{}", "last_active", String(now - 172_800)],
            ["SADD", "worlds:dirty", "15"],
        ]).allSatisfy { $0.error == nil })

        let pause = try await run("worlds.auto_pause", harness, host)
        #expect(pause.attempts == [[
            "worlds_paused": 2, "redis_keys_deleted": 3, "skipped_active_in_redis": 2, "bytes_freed": pause.attempts.first?["bytes_freed"] ?? -1,
        ]])
        #expect((pause.attempts.first?["bytes_freed"] ?? 0) > 0)
        #expect(try harness.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM worlds WHERE status = 'PAUSED' AND paused_at IS NOT NULL") == "10,14")
        #expect(try harness.sql("SELECT status, paused_at IS NULL FROM worlds WHERE id = 13") == "PAUSED|t", "already paused: untouched")
        #expect(try harness.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM worlds WHERE status = 'ACTIVE'") == "1,2,3,4,5,11,12,15")
        #expect(try exists(redis, ["worlds:state:10", "worlds:lock:10", "worlds:events:10", "worlds:state:11", "worlds:state:15"]) == [0, 0, 0, 1, 1])

        let pauseAgain = try await run("worlds.auto_pause", harness, host)
        #expect(pauseAgain.attempts == [["worlds_paused": 0, "redis_keys_deleted": 0, "skipped_active_in_redis": 2, "bytes_freed": 0]])
        #expect(try harness.sql("SELECT count(*) FROM worlds WHERE status = 'PAUSED'") == "3")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func consolidateMemoryArchivesAllButTheNewestHundredInOneTransactionPerWorld() async throws {
        let harness = try await HostHarness.flow(plugins: ["Worlds"])
        let host = try harness.startHost()
        _ = try await run("worlds.sync", harness, host)  // creates the tables
        _ = try harness.sql("""
            INSERT INTO worlds (id, name) VALUES (1, 'one'), (2, 'two'), (3, 'three');
            INSERT INTO world_interactions (world_id, content, created_at)
              SELECT w, 'w' || w || ' interaction ' || i, now() - (n - i) * interval '1 minute'
                FROM (VALUES (1, 1200), (2, 1001), (3, 1000)) AS sizes (w, n), generate_series(1, n) AS i;
            """)
        // The first summary fails: world 1's. World 2 is consolidated all the same; the retry does world 1 only.
        try harness.fakeAI.control(mode: "error500", count: 1, task: "worlds.summarize")

        let first = try await run("worlds.consolidate_memory", harness, host)
        #expect(first.attempts == [
            ["worlds_consolidated": 1, "interactions_archived": 901, "memories_created": 1, "worlds_failed": 1],
            ["worlds_consolidated": 1, "interactions_archived": 1100, "memories_created": 1, "worlds_failed": 0],
        ])
        #expect(try harness.fakeAI.stats().byTask["worlds.summarize"] == 3)
        #expect(try harness.sql("""
            SELECT string_agg(world_id || ':' || interactions_archived || ':' || summary || ':' || (source_job = '\(first.job)'), ' / ' ORDER BY world_id)
              FROM world_memories
            """) == "1:1100:Summary of 200 interactions of world 1:true / 2:901:Summary of 200 interactions of world 2:true",
            "at most 200 interactions sent")
        #expect(try harness.sql("""
            SELECT world_id || ':' || count(*) FILTER (WHERE archived_at IS NULL) FROM world_interactions GROUP BY world_id ORDER BY world_id
            """) == "1:100\n2:100\n3:1000")
        // What is kept is the newest: no archived interaction is newer than a kept one of its world.
        #expect(try harness.sql("""
            SELECT count(*) FROM world_interactions a JOIN world_interactions k ON a.world_id = k.world_id
             WHERE a.archived_at IS NOT NULL AND k.archived_at IS NULL AND a.created_at >= k.created_at
            """) == "0")
        #expect(try harness.sql("SELECT content FROM world_interactions WHERE world_id = 1 AND archived_at IS NULL ORDER BY created_at LIMIT 1")
            == "w1 interaction 1101")
        #expect(try harness.sql("SELECT count(DISTINCT archived_at) FROM world_interactions WHERE world_id = 1 AND archived_at IS NOT NULL") == "1",
            "archived in one statement")

        let second = try await run("worlds.consolidate_memory", harness, host)
        #expect(second.attempts == [["worlds_consolidated": 0, "interactions_archived": 0, "memories_created": 0, "worlds_failed": 0]])
        #expect(try harness.fakeAI.stats().byTask["worlds.summarize"] == 3)
        #expect(try harness.sql("SELECT count(*) FROM world_memories") == "2")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func emergentEventsGiveEachActiveStoryWorldOneEventPerJobEvenThroughARetry() async throws {
        let harness = try await HostHarness.flow(plugins: ["Worlds"])
        let host = try harness.startHost()
        _ = try await run("worlds.sync", harness, host)  // creates the tables
        _ = try harness.sql("""
            INSERT INTO worlds (id, name, status, story_mode, last_active_at) VALUES
              (1, 'Aster', 'ACTIVE', true, now() - interval '1 hour'), (2, 'Bryn', 'ACTIVE', true, now() - interval '5 minutes'),
              (3, 'Cole', 'ACTIVE', true, now() - interval '2 days'), (4, 'Dune', 'ACTIVE', false, now()),
              (5, 'Elm', 'PAUSED', true, now()), (6, 'Fen', 'ACTIVE', true, now()), (7, 'Gale', 'ACTIVE', true, NULL)
            """)
        // World 1's call fails once: 2 and 6 get their events; the retry of the same job asks for world 1 only.
        try harness.fakeAI.control(mode: "error500", count: 1, task: "worlds.events")

        let first = try await run("worlds.emergent_events", harness, host)
        #expect(first.attempts == [
            ["worlds_eligible": 3, "events_created": 2, "worlds_already_done": 0, "worlds_failed": 1],
            ["worlds_eligible": 3, "events_created": 1, "worlds_already_done": 2, "worlds_failed": 0],
        ])
        #expect(try harness.fakeAI.stats().byTask["worlds.events"] == 4)
        #expect(try harness.sql("""
            SELECT string_agg(world_id || ':' || title, ',' ORDER BY world_id) FROM world_events WHERE source_job = '\(first.job)'
            """) == "1:An omen over world 1,2:An omen over world 2,6:An omen over world 6")
        #expect(try harness.sql("SELECT count(*) FROM world_events") == "3")

        // A later run is a new job: one more event for each world.
        let second = try await run("worlds.emergent_events", harness, host)
        #expect(second.attempts == [["worlds_eligible": 3, "events_created": 3, "worlds_already_done": 0, "worlds_failed": 0]])
        #expect(try harness.sql("SELECT count(*), count(DISTINCT source_job), count(DISTINCT (world_id, source_job)) FROM world_events") == "6|2|6")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }
}
