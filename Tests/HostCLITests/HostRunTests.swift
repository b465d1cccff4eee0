import Backend
import Foundation
import Glibc
import JobHostTesting
import Logging
import PostgresBackend
import RedisBackend
import Testing

/// `host run` as a process: jobs from `host enqueue` run; SIGTERM and SIGKILL lose nothing.
@Suite(.serialized)
struct HostRunTests {
    @Test(arguments: HostHarness.BackendKind.allCases)
    func runsJobsEnqueuedWithHostEnqueueAndStopsCleanlyOnSIGTERM(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind)
        let host = try harness.startHost()
        var ids: [String] = []
        for index in 0..<10 {
            let output = try await harness.host(["enqueue", "test.record", #"{"record": "\#(harness.recordFile)", "n": \#(index)}"#])
            #expect(output.status == 0, "\(output.stderr)")
            ids.append(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(ids.allSatisfy { $0.count == 26 })
        if let postgres = harness.postgres {
            // An application enqueues inside its own transaction, through the SQL function, without a
            // queue: the route the host published at start sends the job to `default`.
            try await harness.waitUntil("the host published its routes") {
                try (harness.backend as? any RouteStore)?.publishedRoutes().contains { $0.entry.handler == "test.record" } == true
            }
            let sqlID = try await postgres.psql(
                "BEGIN; SELECT jobhost.enqueue('test.record', '{\"record\": \"\(harness.recordFile)\"}'::jsonb); COMMIT;")
            ids.append(sqlID.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        if kind == .sqlite {
            // An application on the same machine enqueues with one INSERT into the file; the host sees
            // the change without being told.
            let inserted = try await ChildProcess.run(
                "sqlite3", [
                    "-cmd", ".timeout 10000", harness.backendURL,
                    "INSERT INTO jobs (handler, payload) VALUES ('test.record', '{\"record\": \"\(harness.recordFile)\"}') RETURNING id;",
                ])
            #expect(inserted.status == 0, "\(inserted.stderr)")
            ids.append(inserted.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        try await harness.waitUntil("every enqueued job ran") { try Set(harness.recordedIDs()) == Set(ids) }

        let queues = try await harness.host(["queues", "--json"])
        #expect(queues.status == 0, "\(queues.stderr)")
        struct Row: Decodable {
            let queue: String
            let ready: Int
            let processed: Int
        }
        let rows = try JSONDecoder().decode([Row].self, from: Data(queues.stdout.utf8))
        #expect(rows.first { $0.queue == "default" }?.processed == ids.count)

        host.send(SIGTERM)
        let status = await host.waitUntilExit(timeout: .seconds(60))
        #expect(status == 0, "\(host.log)")
    }

    @Test func enqueueRefusesAPayloadThatIsNotJSONAndEnqueuesNothing() async throws {
        let harness = try await HostHarness.testPlugin()
        let output = try await harness.host(["enqueue", "test.record", "{not json"])
        #expect(output.status == 1)
        #expect(output.stderr.contains("the payload is not valid JSON (starts with: {not json); nothing was enqueued"))
        #expect(try harness.backend.stats(queue: "default").ready == 0)
        let unknownQueue = try await harness.host(["enqueue", "test.record", "{}", "--queue", "nope"])
        #expect(unknownQueue.status == 1)
        #expect(unknownQueue.stderr.contains("unknown queue 'nope'"))
    }

    @Test(arguments: HostHarness.BackendKind.allCases)
    func sigkillLosesNothing(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind, concurrency: 4, lease: "2s", timeout: "1s")
        let ids = try harness.enqueue(400, handler: "test.sleep") { _ in #"{"record": "\#(harness.recordFile)", "ms": 20}"# }
        let first = try harness.startHost()
        try await harness.waitUntil("the host is running jobs") { try harness.recordedIDs().count >= 40 }
        #expect(first.exitStatus == nil, "the host exited by itself: \(first.log)")
        first.send(SIGKILL)
        #expect(await first.waitUntilExit(timeout: .seconds(60)) == 128 + SIGKILL)
        let inFlight = try harness.backend.stats(queue: "default").running
        let second = try harness.startHost()
        try await harness.waitUntil("every job processed") {
            try harness.backend.stats(queue: "default").processed == 400
        }
        let recorded = try harness.recordedIDs()
        #expect(Set(recorded) == Set(ids), "every job ran: \(Set(ids).subtracting(recorded).count) did not")
        // Only jobs in flight when the host died (leased: running, fetched ahead, or finished with the
        // outcome not yet recorded) can run twice.
        #expect(recorded.count - ids.count <= inFlight, "duplicates: \(recorded.count - ids.count), leased at the kill: \(inFlight)")
        // Twice the slots, plus what finishes during the backend's round trips: never all of them (FetchAhead).
        #expect(inFlight <= 4 * 50, "at most 50 per slot are leased at once: \(inFlight)")
        let stats = try harness.backend.stats(queue: "default")
        #expect(stats.ready == 0 && stats.running == 0 && stats.dead == 0 && stats.scheduled == 0)
        second.send(SIGTERM)
        #expect(await second.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    /// Not SQLite: the file is the backend, with no server to restart (a killed host is `sigkillLosesNothing`).
    @Test(arguments: [HostHarness.BackendKind.redis, .postgres])
    func aServerRestartMidRunLosesNothing(_ kind: HostHarness.BackendKind) async throws {
        // Redis with every write fsynced to its append-only file; PostgreSQL crashed with `-m immediate`.
        let redis = kind == .redis ? try await DurableRedisServer.start() : nil
        let postgres = kind == .postgres ? try await DurablePostgresServer.start() : nil
        let harness = try await HostHarness.testPlugin(kind, concurrency: 4, lease: "3s", timeout: "2s", backendURL: redis?.url ?? postgres!.url)
        let ids = try harness.enqueue(300, handler: "test.sleep") { _ in #"{"record": "\#(harness.recordFile)", "ms": 20}"# }
        let host = try harness.startHost()
        try await harness.waitUntil("the host is running jobs") { try harness.recordedIDs().count >= 30 }
        await redis?.kill(SIGKILL)
        await postgres?.crash()
        try await Task.sleep(for: .seconds(1))
        #expect(host.exitStatus == nil, "the host must survive its backend going away: \(host.log)")
        try await redis?.start()
        try await postgres?.start()
        try await harness.waitUntil("every job processed") {
            (try? harness.backend.stats(queue: "default").processed) == 300
        }
        #expect(Set(try harness.recordedIDs()).isSuperset(of: ids), "every job ran")
        let stats = try harness.backend.stats(queue: "default")
        #expect(stats.ready == 0 && stats.running == 0 && stats.dead == 0 && stats.scheduled == 0, "\(stats)")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test(arguments: HostHarness.BackendKind.allCases)
    func threeHostsFireEachScheduleTimeOnceThroughAKillAndAPause(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind, extraYAML: """
            schedules:
              tick: { every: 1s, handler: test.noop, overlap: allow }
            """)
        // overlap: allow: the killed host's leased job stays running until its lease expires, and every
        // fire time must enqueue all the same.
        let hosts = try (0..<3).map { try harness.startHost("host\($0)") }
        try await Task.sleep(for: .seconds(2))
        let started = try harness.scheduleStore.now()
        try await Task.sleep(for: .seconds(5))
        hosts[0].send(SIGKILL)
        hosts[1].send(SIGSTOP)
        try await Task.sleep(for: .seconds(3))
        hosts[1].send(SIGCONT)
        try await Task.sleep(for: .seconds(7))
        let ended = try harness.scheduleStore.now()
        let lastDue = Date(timeIntervalSince1970: ended.timeIntervalSince1970.rounded(.down))
        try await harness.waitUntil("the last fire time before the end claimed") { try fireTimes(harness, "tick").contains(lastDue) }
        for host in hosts.dropFirst() { host.send(SIGTERM) }
        for host in hosts.dropFirst() { #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0, "\(host.log)") }

        let fired = try fireTimes(harness, "tick")
        #expect(Set(fired).count == fired.count, "a fire time enqueued twice: \(fired.sorted())")
        let inWindow = fired.filter { $0 > started && $0 <= ended }
        let elapsed = Int(ended.timeIntervalSince1970.rounded(.down)) - Int(started.timeIntervalSince1970.rounded(.down))
        #expect(inWindow.count == elapsed, "\(inWindow.count) jobs for \(elapsed) fire times")
    }

    @Test func schedulesShowsNextFiresAndTriggerEnqueuesAManualJob() async throws {
        let harness = try await HostHarness.testPlugin(extraYAML: """
            schedules:
              nightly: { cron: "0 3 * * *", timezone: Europe/Madrid, handler: test.noop, payload: { full: true } }
              paused: { every: 1m, handler: test.noop, enabled: false }
            """)
        let triggered = try await harness.host(["trigger", "nightly"])
        #expect(triggered.status == 0, "\(triggered.stderr)")
        let id = triggered.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let job = try #require(try harness.backend.job(queue: "default", id: id))
        #expect(job.origin == "manual trigger of schedule nightly" && job.payload == #"{"full":true}"#)

        let listed = try await harness.host(["schedules", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        struct Row: Decodable {
            let name: String
            let spec: String
            let time_zone: String
            let enabled: Bool
            let next: [Date]
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let rows = try decoder.decode([Row].self, from: Data(listed.stdout.utf8))
        #expect(rows.map(\.name) == ["nightly", "paused"])
        #expect(rows[0].spec == "cron 0 3 * * *" && rows[0].time_zone == "Europe/Madrid" && rows[0].enabled)
        #expect(rows[0].next.count == 3)
        var madrid = Calendar(identifier: .gregorian)
        madrid.timeZone = TimeZone(identifier: "Europe/Madrid")!
        #expect(rows[0].next.allSatisfy { madrid.component(.hour, from: $0) == 3 && madrid.component(.minute, from: $0) == 0 })
        #expect(rows[1].enabled == false && rows[1].next.isEmpty)

        let unknown = try await harness.host(["trigger", "nope"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no schedule named 'nope'; the config has: nightly, paused"))
    }

    @Test(arguments: HostHarness.BackendKind.allCases)
    func jobsListsShowsRetriesAndDiscardsDeadJobs(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind)
        let ids = try harness.enqueue(3, handler: "test.noop") { #"{"n": \#($0)}"# }
        let leased = try harness.backend.fetch(queue: "default", limit: 3, lease: .seconds(30))
        _ = try harness.backend.settle(leased.map { ($0.lease, .dead(error: "broken on purpose")) })

        let listed = try await harness.host(["jobs", "list", "--state", "dead", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        struct Row: Decodable {
            let id: String
            let state: String
            let last_error: String?
        }
        let rows = try JSONDecoder().decode([Row].self, from: Data(listed.stdout.utf8))
        #expect(Set(rows.map(\.id)) == Set(ids) && rows.allSatisfy { $0.state == "dead" && $0.last_error == "broken on purpose" })

        let shown = try await harness.host(["jobs", "show", ids[0], "--json"])
        #expect(shown.status == 0 && shown.stdout.contains(#""payload" : "{\"n\": 0}""#), "\(shown.stdout)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any], "\(shown.stdout)")
        let runs = try #require(object["attempts"] as? [[String: Any]], "no attempts in \(shown.stdout)")
        #expect(runs.count == 1 && runs[0]["number"] as? Int == 1 && runs[0]["outcome"] as? String == "dead"
            && runs[0]["error"] as? String == "broken on purpose" && runs[0]["run_seconds"] is Double, "\(runs)")

        // For people: the fields, then one table row per run.
        let text = try await harness.host(["jobs", "show", ids[0]])
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(text.status == 0 && lines.contains { $0.hasPrefix("state:") && $0.hasSuffix(" dead") }, "\(text.stdout)")
        let header = try #require(lines.firstIndex { $0.hasPrefix("#  OUTCOME") }, "no table of runs in \(text.stdout)")
        #expect(lines.count == header + 2, "one run: \(text.stdout)")
        let row = lines[header + 1].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        #expect(row.first == "1" && row.dropFirst().first == "dead" && lines[header + 1].hasSuffix("broken on purpose"), "\(text.stdout)")

        let retried = try await harness.host(["jobs", "retry", ids[0]])
        #expect(retried.status == 0 && retried.stdout == "\(ids[0]): retried\n")
        #expect(try harness.backend.job(queue: "default", id: ids[0])?.state == .ready)

        let discarded = try await harness.host(["jobs", "discard", "--all", "--queue", "default"])
        #expect(discarded.status == 0 && discarded.stdout == "2 dead jobs discarded\n", "\(discarded.stdout)\(discarded.stderr)")
        #expect(try harness.backend.stats(queue: "default").dead == 0)
        #expect(try harness.backend.job(queue: "default", id: ids[1]) == nil)

        let missing = try await harness.host(["jobs", "retry", "NOPE"])
        #expect(missing.status == 1 && missing.stderr.contains("no job NOPE in any queue"))
        let both = try await harness.host(["jobs", "retry", "X", "--all"])
        #expect(both.status != 0 && both.stderr.contains("give a job id, or --all (not both)"))
    }

    @Test func migrateShowsPrintsAndAppliesTheSchema() async throws {
        let harness = try await HostHarness(.postgres, migrate: false)
        let postgres = try #require(harness.postgres)
        try harness.writeConfig(queues: "  default: {}", backends: "  db: { type: postgres, url: \"\(postgres.url)\", schema: jobs_cli }")
        func host(_ arguments: [String]) async throws -> ChildProcess.Output { try await harness.host(arguments) }
        let before = try await host(["migrate", "--status"])
        #expect(before.status == 0, "\(before.stderr)")
        #expect(before.stdout.contains("pending") && !before.stdout.contains("applied"), "\(before.stdout)")
        let dryRun = try await host(["migrate", "--dry-run"])
        #expect(dryRun.status == 0 && dryRun.stdout.contains("CREATE TABLE"), "\(dryRun.stdout)")
        #expect(try await postgres.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'jobs_cli'") == "0", "a dry run changes nothing")
        // `host run` refuses a schema that is behind when auto_migrate is off.
        let refused = try await host(["run"])
        #expect(refused.status == 1 && refused.stderr.contains("pending migrations; run `host migrate`"), "\(refused.stderr)")
        let applied = try await host(["migrate"])
        #expect(applied.status == 0 && applied.stdout.hasPrefix("db: applied 1"), "\(applied.stdout)\(applied.stderr)")
        let again = try await host(["migrate"])
        #expect(again.stdout == "db: up to date\n")
        let after = try await host(["migrate", "--status"])
        #expect(after.stdout.contains("applied") && !after.stdout.contains("pending"))
    }

    @Test func migrateShowsPrintsAndAppliesTheSQLiteSchemaAndLooksWithoutCreatingTheFile() async throws {
        let harness = try await HostHarness(.sqlite)
        let file = harness.directory.url.appendingPathComponent("data/jobs.sqlite").path
        // Relative to the config file's directory, like a plugin's path.
        try harness.writeConfig(queues: "  default: {}", backends: "  local: { type: sqlite, path: data/jobs.sqlite, synchronous: normal }")
        func host(_ arguments: [String]) async throws -> ChildProcess.Output { try await harness.host(arguments) }
        let before = try await host(["migrate", "--status"])
        #expect(before.status == 0, "\(before.stderr)")
        #expect(before.stdout.hasPrefix("local (\(file)):\n") && before.stdout.contains("pending") && !before.stdout.contains("applied"), "\(before.stdout)")
        let dryRun = try await host(["migrate", "--dry-run"])
        #expect(dryRun.status == 0 && dryRun.stdout.contains("CREATE TABLE jobs"), "\(dryRun.stdout)")
        #expect(!FileManager.default.fileExists(atPath: (file as NSString).deletingLastPathComponent), "looking created nothing")
        let applied = try await host(["migrate"])
        #expect(applied.status == 0 && applied.stdout.hasPrefix("local: applied 1"), "\(applied.stdout)\(applied.stderr)")
        #expect(FileManager.default.fileExists(atPath: file))
        let again = try await host(["migrate", "--backend", "local"])
        #expect(again.stdout == "local: up to date\n")
        let after = try await host(["migrate", "--status"])
        #expect(after.stdout.contains("applied") && !after.stdout.contains("pending"), "\(after.stdout)")
        let upToDate = try await host(["migrate", "--dry-run"])
        #expect(upToDate.stdout.contains("-- up to date: nothing would run"), "\(upToDate.stdout)")
        let unknown = try await host(["migrate", "--backend", "nope"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no PostgreSQL or SQLite backend named 'nope'"), "\(unknown.stderr)")
    }

    /// A SQLite path the host cannot use stops `host run` at start, saying why, rather than failing every call.
    @Test func aSQLiteFileThatCannotBeCreatedStopsTheHostAtStart() async throws {
        let harness = try await HostHarness(.sqlite)
        let blocker = harness.directory.url.appendingPathComponent("not-a-directory")
        try "".write(to: blocker, atomically: true, encoding: .utf8)
        try harness.writeConfig(queues: "  default: {}", backends: "  local: { type: sqlite, path: not-a-directory/jobs.sqlite }")
        let refused = try await harness.host(["run"])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("backend 'local': ") && refused.stderr.contains("not-a-directory is not a directory"), "\(refused.stderr)")
    }

    /// SIGTERM while jobs run that would outlast any wait here: the host does not wait for them past
    /// `shutdown_timeout`, it hands them back and exits 0; nothing stays leased (leases of an hour
    /// would otherwise hold them), nothing is lost, and the next host runs the rest.
    @Test(arguments: HostHarness.BackendKind.allCases)
    func sigtermUnderLoadHandsBackWhatOutlastsTheShutdownTimeoutAndLosesNothing(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(
            kind, concurrency: 4, lease: "1h", timeout: "10m", shutdownTimeout: "1s", queuesYAML: "  long: { concurrency: 4, timeout: 10m, lease: 1h }")
        // Four jobs of two minutes each (they stop early only when cancelled) on a queue of their own, short ones on the other.
        let long = try harness.enqueue(4, handler: "test.sleep", queue: "long") { _ in #"{"record": "\#(harness.recordFile)", "ms": 120000}"# }
        let short = try harness.enqueue(100, handler: "test.sleep") { _ in #"{"record": "\#(harness.recordFile)", "ms": 20}"# }
        let first = try harness.startHost()
        try await harness.waitUntil("the four long jobs running") { try Set(harness.recordedIDs()).isSuperset(of: long) }
        first.send(SIGTERM)
        #expect(await first.waitUntilExit(timeout: .seconds(60)) == 0, "\(first.log.suffix(3000))")
        for id in long {
            let job = try #require(try harness.backend.job(queue: "long", id: id))
            #expect(job.state == .ready, "handed back without penalty, neither waited for nor retried: \(job)")
        }
        func accounted() throws -> Bool {
            let (longStats, shortStats) = (try harness.backend.stats(queue: "long"), try harness.backend.stats(queue: "default"))
            return longStats.running == 0 && shortStats.running == 0 && longStats.dead == 0 && shortStats.dead == 0
                && longStats.processed + longStats.ready + longStats.scheduled == long.count
                && shortStats.processed + shortStats.ready + shortStats.scheduled == short.count
        }
        #expect(try accounted(), "nothing left leased, nothing lost")

        let second = try harness.startHost()
        try await harness.waitUntil("every short job done") {
            try short.allSatisfy { try harness.backend.job(queue: "default", id: $0)?.state == .done }
        }
        second.send(SIGTERM)
        #expect(await second.waitUntilExit(timeout: .seconds(60)) == 0)
        #expect(try accounted(), "nothing left leased, nothing lost")
    }
}
