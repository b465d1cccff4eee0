import Backend
import Foundation
import Glibc
import JobHostTesting
import Logging
import PostgresBackend
import RedisBackend
import Testing

/// `host run` as a process: jobs from `host enqueue` run; SIGTERM and SIGKILL lose nothing.
final class HostRunHarness {
    enum Kind: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case redis, postgres
        var testDescription: String { rawValue }
    }

    let kind: Kind
    let redis: RedisServer?
    let postgres: PostgresServer?
    let backendURL: String
    let directory: TemporaryDirectory
    let configPath: String
    let recordFile: String
    let backend: any JobBackend
    private var hosts: [BackgroundProcess] = []

    /// - Parameter backendURL: a server the test manages itself; nil starts a private one of `kind`.
    init(
        _ kind: Kind = .redis, concurrency: Int = 4, lease: String = "3s", timeout: String = "2s", shutdownTimeout: String = "2s",
        backendURL: String? = nil, hostYAML: String = "", queuesYAML: String = "", extraYAML: String = ""
    ) async throws {
        self.kind = kind
        switch (kind, backendURL) {
        case (_, .some(let url)):
            (redis, postgres, self.backendURL) = (nil, nil, url)
        case (.redis, nil):
            let server = try await RedisServer.start()
            (redis, postgres, self.backendURL) = (server, nil, server.url)
        case (.postgres, nil):
            let server = try await PostgresServer.start()
            (redis, postgres, self.backendURL) = (nil, server, server.url)
        }
        directory = try TemporaryDirectory.create()
        recordFile = directory.url.appendingPathComponent("ran.txt").path
        _ = FileManager.default.createFile(atPath: recordFile, contents: nil)
        configPath = directory.url.appendingPathComponent("host.yaml").path
        let backendYAML = kind == .redis
            ? "{ type: redis, url: \"\(self.backendURL)\", key_prefix: run, connect_timeout: 500ms }"
            : "{ type: postgres, url: \"\(self.backendURL)\", auto_migrate: true, connect_timeout: 2s }"
        try """
            host: { shutdown_timeout: \(shutdownTimeout), log_level: info\(hostYAML) }
            backends:
              main: \(backendYAML)
            plugins:
              TestPlugin: {}
            queues:
              default: { concurrency: \(concurrency), timeout: \(timeout), lease: \(lease), retention: 1h }
            \(queuesYAML)
            \(extraYAML)
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        switch kind {
        case .redis:
            backend = RedisBackend(url: self.backendURL, keyPrefix: "run", connectTimeout: .seconds(2), logger: logger)
        case .postgres:
            try PostgresMigrator(url: self.backendURL, schema: "jobhost", connectTimeout: .seconds(5), logger: logger).migrate()
            backend = PostgresBackend(url: self.backendURL, schema: "jobhost", poolSize: 4, connectTimeout: .seconds(5), logger: logger)
        }
    }

    var clock: any ScheduleStore {
        get throws {
            guard let store = backend as? any ScheduleStore else { throw BackendError(.invalid, "\(kind) backend records no schedule fires") }
            return store
        }
    }

    deinit {
        for host in hosts { host.send(SIGKILL) }
        redis?.stop()
        postgres?.stop()
        try? directory.remove()
    }

    /// Starts `host run` on the config, with `environment` added to this process's.
    func startHost(_ name: String = "host", environment: [String: String] = [:]) throws -> BackgroundProcess {
        let process = try BackgroundProcess(
            BuildProducts.host.path, ["run", "--config", configPath],
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
            logPath: directory.url.appendingPathComponent("\(name)-\(hosts.count).log").path)
        hosts.append(process)
        return process
    }

    func host(_ arguments: [String]) throws -> ChildProcess.Output {
        try ChildProcess.run(BuildProducts.host.path, arguments + ["--config", configPath], timeout: .seconds(30))
    }

    func enqueue(_ count: Int, handler: String, queue: String = "default", maxAttempts: Int = 5, payload: (Int) -> String) throws -> [String] {
        var ids: [String] = []
        for start in stride(from: 0, to: count, by: 500) {
            let jobs = (start..<min(start + 500, count)).map {
                NewJob(queue: queue, handler: handler, payload: Data(payload($0).utf8), maxAttempts: maxAttempts)
            }
            ids += try backend.enqueue(jobs)
        }
        return ids
    }

    /// The ids the test plugin recorded, one per run.
    func recordedIDs() throws -> [String] {
        try String(contentsOfFile: recordFile, encoding: .utf8).split(separator: "\n").map { String($0.split(separator: " ")[0]) }
    }

    func waitUntil(timeout: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return try await condition()
    }
}

@Suite(.serialized)
struct HostRunTests {
    @Test(arguments: HostRunHarness.Kind.allCases)
    func runsJobsEnqueuedWithHostEnqueueAndStopsCleanlyOnSIGTERM(_ kind: HostRunHarness.Kind) async throws {
        let harness = try await HostRunHarness(kind)
        let host = try harness.startHost()
        var ids: [String] = []
        for index in 0..<10 {
            let output = try harness.host(["enqueue", "test.record", #"{"record": "\#(harness.recordFile)", "n": \#(index)}"#])
            #expect(output.status == 0, "\(output.stderr)")
            ids.append(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(ids.allSatisfy { $0.count == 26 })
        if let postgres = harness.postgres {
            // An application enqueues inside its own transaction, through the SQL function.
            let sqlID = try await postgres.psql(
                "BEGIN; SELECT jobhost.enqueue('test.record', '{\"record\": \"\(harness.recordFile)\"}'::jsonb); COMMIT;")
            ids.append(sqlID.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let ran = try await harness.waitUntil(timeout: .seconds(20)) { try Set(harness.recordedIDs()) == Set(ids) }
        #expect(ran, "\(host.log)")

        let queues = try harness.host(["queues", "--json"])
        #expect(queues.status == 0, "\(queues.stderr)")
        struct Row: Decodable {
            let queue: String
            let ready: Int
            let processed: Int
        }
        let rows = try JSONDecoder().decode([Row].self, from: Data(queues.stdout.utf8))
        #expect(rows.first { $0.queue == "default" }?.processed == ids.count)

        host.send(SIGTERM)
        let status = await host.waitUntilExit(timeout: .seconds(3))
        #expect(status == 0, "\(host.log)")
    }

    @Test func enqueueRefusesAPayloadThatIsNotJSONAndEnqueuesNothing() async throws {
        let harness = try await HostRunHarness()
        let output = try harness.host(["enqueue", "test.record", "{not json"])
        #expect(output.status == 1)
        #expect(output.stderr.contains("the payload is not valid JSON (starts with: {not json); nothing was enqueued"))
        #expect(try harness.backend.stats(queue: "default").ready == 0)
        let unknownQueue = try harness.host(["enqueue", "test.record", "{}", "--queue", "nope"])
        #expect(unknownQueue.status == 1)
        #expect(unknownQueue.stderr.contains("unknown queue 'nope'"))
    }

    @Test(arguments: HostRunHarness.Kind.allCases)
    func sigkillLosesNothing(_ kind: HostRunHarness.Kind) async throws {
        let harness = try await HostRunHarness(kind, concurrency: 4, lease: "2s", timeout: "1s")
        let ids = try harness.enqueue(400, handler: "test.sleep") { _ in #"{"record": "\#(harness.recordFile)", "ms": 20}"# }
        let first = try harness.startHost()
        let busy = try await harness.waitUntil(timeout: .seconds(20)) { try harness.recordedIDs().count >= 40 }
        #expect(busy, "\(first.log)")
        #expect(first.exitStatus == nil, "the host exited by itself: \(first.log)")
        first.send(SIGKILL)
        #expect(await first.waitUntilExit(timeout: .seconds(5)) == 128 + SIGKILL)
        let inFlight = try harness.backend.stats(queue: "default").running
        let restarted = ContinuousClock.now
        let second = try harness.startHost()
        let finished = try await harness.waitUntil(timeout: .seconds(60)) {
            try harness.backend.stats(queue: "default").processed == 400
        }
        let recovery = ContinuousClock.now - restarted
        #expect(finished, "\(second.log)")
        let recorded = try harness.recordedIDs()
        #expect(Set(recorded) == Set(ids), "every job ran: \(Set(ids).subtracting(recorded).count) did not")
        // Only jobs in flight when the host died (leased: running, fetched ahead, or finished with the
        // outcome not yet recorded) can run twice.
        #expect(recorded.count - ids.count <= inFlight, "duplicates: \(recorded.count - ids.count), leased at the kill: \(inFlight)")
        #expect(inFlight <= 8, "at most concurrency × 2 are leased at once")
        let stats = try harness.backend.stats(queue: "default")
        #expect(stats.ready == 0 && stats.running == 0 && stats.dead == 0 && stats.scheduled == 0)
        // Leases of 2 s and a 1 s sweep: the rescued jobs ran again within seconds.
        #expect(recovery < .seconds(20))
        second.send(SIGTERM)
        #expect(await second.waitUntilExit(timeout: .seconds(4)) == 0)
    }

    @Test(arguments: HostRunHarness.Kind.allCases)
    func aServerRestartMidRunLosesNothing(_ kind: HostRunHarness.Kind) async throws {
        // Redis with every write fsynced to its append-only file; PostgreSQL crashed with `-m immediate`.
        let redis = kind == .redis ? try await DurableRedisServer.start() : nil
        let postgres = kind == .postgres ? try await DurablePostgresServer.start() : nil
        let harness = try await HostRunHarness(kind, concurrency: 4, lease: "3s", timeout: "2s", backendURL: redis?.url ?? postgres!.url)
        let ids = try harness.enqueue(300, handler: "test.sleep") { _ in #"{"record": "\#(harness.recordFile)", "ms": 20}"# }
        let host = try harness.startHost()
        let busy = try await harness.waitUntil(timeout: .seconds(20)) { try harness.recordedIDs().count >= 30 }
        #expect(busy, "\(host.log)")
        await redis?.kill(SIGKILL)
        await postgres?.crash()
        try await Task.sleep(for: .seconds(1))
        #expect(host.exitStatus == nil, "the host must survive its backend going away: \(host.log)")
        try await redis?.start()
        try await postgres?.start()
        let finished = try await harness.waitUntil(timeout: .seconds(60)) {
            (try? harness.backend.stats(queue: "default").processed) == 300
        }
        #expect(finished, "\(host.log.suffix(3000))")
        #expect(Set(try harness.recordedIDs()).isSuperset(of: ids), "every job ran")
        let stats = try harness.backend.stats(queue: "default")
        #expect(stats.ready == 0 && stats.running == 0 && stats.dead == 0 && stats.scheduled == 0, "\(stats)")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(5)) == 0)
    }

    @Test(arguments: HostRunHarness.Kind.allCases)
    func threeHostsFireEachScheduleTimeOnceThroughAKillAndAPause(_ kind: HostRunHarness.Kind) async throws {
        let harness = try await HostRunHarness(kind, extraYAML: """
            schedules:
              tick: { every: 1s, handler: test.noop }
            """)
        let hosts = try (0..<3).map { try harness.startHost("host\($0)") }
        try await Task.sleep(for: .seconds(2))
        let started = try harness.clock.now()
        try await Task.sleep(for: .seconds(5))
        hosts[0].send(SIGKILL)
        hosts[1].send(SIGSTOP)
        try await Task.sleep(for: .seconds(3))
        hosts[1].send(SIGCONT)
        try await Task.sleep(for: .seconds(7))
        let ended = try harness.clock.now()
        try await Task.sleep(for: .seconds(1))  // the fire times up to `ended` are all claimed by now
        for host in hosts.dropFirst() { host.send(SIGTERM) }
        for host in hosts.dropFirst() { #expect(await host.waitUntilExit(timeout: .seconds(5)) == 0, "\(host.log)") }

        var fireTimes: [String] = []
        for state in JobState.allCases {
            for job in try harness.backend.list(queue: "default", state: state, offset: 0, limit: 10_000) {
                if let origin = job.origin, origin.hasPrefix("schedule tick ") { fireTimes.append(String(origin.split(separator: " ")[2])) }
            }
        }
        #expect(Set(fireTimes).count == fireTimes.count, "a fire time enqueued twice: \(fireTimes.sorted())")
        let formatter = ISO8601DateFormatter()
        let inWindow = fireTimes.compactMap { formatter.date(from: $0) }.filter { $0 > started && $0 <= ended }
        let elapsed = Int(ended.timeIntervalSince1970.rounded(.down)) - Int(started.timeIntervalSince1970.rounded(.down))
        #expect(inWindow.count == elapsed, "\(inWindow.count) jobs for \(elapsed) fire times")
    }

    @Test func schedulesShowsNextFiresAndTriggerEnqueuesAManualJob() async throws {
        let harness = try await HostRunHarness(extraYAML: """
            schedules:
              nightly: { cron: "0 3 * * *", timezone: Europe/Madrid, handler: test.noop, payload: { full: true } }
              paused: { every: 1m, handler: test.noop, enabled: false }
            """)
        let triggered = try harness.host(["trigger", "nightly"])
        #expect(triggered.status == 0, "\(triggered.stderr)")
        let id = triggered.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let job = try #require(try harness.backend.job(queue: "default", id: id))
        #expect(job.origin == "manual trigger of schedule nightly" && job.payload == #"{"full":true}"#)

        let listed = try harness.host(["schedules", "--json"])
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

        let unknown = try harness.host(["trigger", "nope"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no schedule named 'nope'; the config has: nightly, paused"))
    }

    @Test(arguments: HostRunHarness.Kind.allCases)
    func jobsListsShowsRetriesAndDiscardsDeadJobs(_ kind: HostRunHarness.Kind) async throws {
        let harness = try await HostRunHarness(kind)
        let ids = try harness.enqueue(3, handler: "test.noop") { #"{"n": \#($0)}"# }
        let leased = try harness.backend.fetch(queue: "default", limit: 3, lease: .seconds(30))
        _ = try harness.backend.settle(leased.map { ($0.lease, .dead(error: "broken on purpose")) })

        let listed = try harness.host(["jobs", "list", "--state", "dead", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        struct Row: Decodable {
            let id: String
            let state: String
            let last_error: String?
        }
        let rows = try JSONDecoder().decode([Row].self, from: Data(listed.stdout.utf8))
        #expect(Set(rows.map(\.id)) == Set(ids) && rows.allSatisfy { $0.state == "dead" && $0.last_error == "broken on purpose" })

        let shown = try harness.host(["jobs", "show", ids[0]])
        #expect(shown.status == 0 && shown.stdout.contains(#""payload" : "{\"n\": 0}""#), "\(shown.stdout)")

        let retried = try harness.host(["jobs", "retry", ids[0]])
        #expect(retried.status == 0 && retried.stdout == "\(ids[0]): retried\n")
        #expect(try harness.backend.job(queue: "default", id: ids[0])?.state == .ready)

        let discarded = try harness.host(["jobs", "discard", "--all", "--queue", "default"])
        #expect(discarded.status == 0 && discarded.stdout == "2 dead jobs discarded\n", "\(discarded.stdout)\(discarded.stderr)")
        #expect(try harness.backend.stats(queue: "default").dead == 0)
        #expect(try harness.backend.job(queue: "default", id: ids[1]) == nil)

        let missing = try harness.host(["jobs", "retry", "NOPE"])
        #expect(missing.status == 1 && missing.stderr.contains("no job NOPE in any queue"))
        let both = try harness.host(["jobs", "retry", "X", "--all"])
        #expect(both.status != 0 && both.stderr.contains("give a job id, or --all (not both)"))
    }

    @Test func migrateShowsPrintsAndAppliesTheSchema() async throws {
        let postgres = try await PostgresServer.start()
        defer { postgres.stop() }
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        let config = directory.url.appendingPathComponent("host.yaml").path
        try """
            backends:
              db: { type: postgres, url: "\(postgres.url)", schema: jobs_cli }
            queues:
              default: {}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        func host(_ arguments: [String]) throws -> ChildProcess.Output {
            try ChildProcess.run(BuildProducts.host.path, arguments + ["--config", config], timeout: .seconds(60))
        }
        let before = try host(["migrate", "--status"])
        #expect(before.status == 0, "\(before.stderr)")
        #expect(before.stdout.contains("pending") && !before.stdout.contains("applied"), "\(before.stdout)")
        let dryRun = try host(["migrate", "--dry-run"])
        #expect(dryRun.status == 0 && dryRun.stdout.contains("CREATE TABLE"), "\(dryRun.stdout)")
        #expect(try await postgres.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'jobs_cli'") == "0", "a dry run changes nothing")
        // `host run` refuses a schema that is behind when auto_migrate is off.
        let refused = try host(["run"])
        #expect(refused.status == 1 && refused.stderr.contains("pending migrations; run `host migrate`"), "\(refused.stderr)")
        let applied = try host(["migrate"])
        #expect(applied.status == 0 && applied.stdout.hasPrefix("db: applied 1"), "\(applied.stdout)\(applied.stderr)")
        let again = try host(["migrate"])
        #expect(again.stdout == "db: up to date\n")
        let after = try host(["migrate", "--status"])
        #expect(after.stdout.contains("applied") && !after.stdout.contains("pending"))
    }

    @Test(arguments: HostRunHarness.Kind.allCases)
    func sigtermUnderLoadExitsInTimeAndLosesNothing(_ kind: HostRunHarness.Kind) async throws {
        let harness = try await HostRunHarness(kind, concurrency: 4, lease: "20s", timeout: "10s", shutdownTimeout: "1s")
        let ids = try harness.enqueue(200, handler: "test.sleep") { _ in #"{"record": "\#(harness.recordFile)", "ms": 50}"# }
        let first = try harness.startHost()
        let busy = try await harness.waitUntil(timeout: .seconds(20)) { try harness.recordedIDs().count >= 20 }
        #expect(busy, "\(first.log)")
        let signalled = ContinuousClock.now
        first.send(SIGTERM)
        let status = await first.waitUntilExit(timeout: .seconds(5))
        #expect(status == 0, "\(first.log)")
        #expect(ContinuousClock.now - signalled < .seconds(2), "shutdown_timeout 1s + 1s")
        // Nothing is left leased: the next host starts at once, no lease has to expire.
        #expect(try harness.backend.stats(queue: "default").running == 0)
        let second = try harness.startHost()
        let finished = try await harness.waitUntil(timeout: .seconds(30)) {
            try harness.backend.stats(queue: "default").processed == 200
        }
        #expect(finished, "\(second.log)")
        #expect(Set(try harness.recordedIDs()) == Set(ids), "every job ran")
        second.send(SIGTERM)
        #expect(await second.waitUntilExit(timeout: .seconds(4)) == 0)
    }
}
