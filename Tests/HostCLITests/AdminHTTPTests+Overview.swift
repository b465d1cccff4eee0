import Backend
import Foundation
import JobHostTesting
import Testing

/// The overview's endpoints: throughput, hosts and workers, schedules' recent runs, handlers' streaks.
extension AdminHTTPTests {
    /// The points of `queue` in `/api/v1/throughput`, or nil when the answer is not one.
    static func throughputPoints(_ admin: AdminHarness, queue: String = "default") async throws -> [[String: Any]]? {
        let answer = try await admin.get("/api/v1/throughput")
        guard answer.status == 200, let queues = try answer.json()["queues"] as? [[String: Any]] else { return nil }
        return queues.first { $0["queue"] as? String == queue }?["points"] as? [[String: Any]]
    }

    /// After a known workload the throughput points add up to the jobs run and failed, and each
    /// handler's streak says how its last runs went.
    @Test func throughputAddsUpToAKnownWorkloadAndHandlersShowTheirStreaks() async throws {
        let admin = try await AdminHarness()
        let host = try await admin.startHost()
        // The sampler's first read is its base: once a point is there, every job run later shows.
        try await admin.run.waitUntil("a first throughput point") { try await Self.throughputPoints(admin)?.isEmpty == false }
        let answer = try await admin.get("/api/v1/throughput")
        #expect(try answer.json()["interval_seconds"] as? Int == 5, "\(answer.text)")

        let noops = try admin.run.enqueue(12, handler: "test.noop") { _ in "{}" }
        let throwing = try admin.run.enqueue(3, handler: "test.throw", maxAttempts: 1) { _ in "{}" }
        let flaky = try admin.run.enqueue(2, handler: "test.flaky", maxAttempts: 3) { _ in #"{"failures": 1}"# }
        try await admin.run.waitUntil("every enqueued job done or dead") {
            try (noops + flaky).allSatisfy { try admin.run.backend.job(queue: "default", id: $0)?.state == .done }
                && throwing.allSatisfy { try admin.run.backend.job(queue: "default", id: $0)?.state == .dead }
        }
        // 14 runs succeeded; 3 throws and the flaky jobs' first attempts failed.
        var points: [[String: Any]] = []
        try await admin.run.waitUntil("points adding up to 14 processed and 5 failed", timeout: .seconds(90)) {
            points = try await Self.throughputPoints(admin) ?? []
            return points.reduce(0) { $0 + ($1["processed"] as? Int ?? 0) } == 14 && points.reduce(0) { $0 + ($1["failed"] as? Int ?? 0) } == 5
        }
        #expect(points.allSatisfy { ($0["processed"] as? Int ?? -1) >= 0 && ($0["failed"] as? Int ?? -1) >= 0 })
        let formatter = ISO8601DateFormatter()
        let times = points.compactMap { ($0["at"] as? String).flatMap(formatter.date(from:)) }
        #expect(times.count == points.count, "every point has its time")
        #expect(times == times.sorted(), "oldest first")
        #expect(points.count <= 120, "ten minutes of five-second points at most")

        let plugins = try await admin.get("/api/v1/plugins")
        #expect(plugins.status == 200, "\(plugins.text)")
        let handlers = (try plugins.json()["plugins"] as? [[String: Any]] ?? []).flatMap { $0["handlers"] as? [[String: Any]] ?? [] }
        let streaks = Dictionary(handlers.map { ($0["name"] as? String ?? "", $0["streak"] as? [String: Any] ?? [:]) }) { first, _ in first }
        #expect(streaks["test.throw"]?["failures"] as? Int == 3, "\(plugins.text)")
        #expect(streaks["test.throw"]?["successes"] as? Int == 0)
        #expect(streaks["test.throw"]?["last_error"] as? String == "planned error")
        #expect((streaks["test.throw"]?["last_run_at"] as? String).flatMap(formatter.date(from:)) != nil)
        #expect(streaks["test.noop"]?["successes"] as? Int == 12)
        #expect(streaks["test.noop"]?["failures"] as? Int == 0)
        #expect(streaks["test.noop"]?["last_error"] == nil)
        #expect(streaks["test.sleep"]?["successes"] as? Int == 0 && streaks["test.sleep"]?["last_run_at"] == nil, "a handler that never ran")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    /// The host's own record on its backend, alive, and its worker process with the jobs it ran.
    @Test(arguments: HostHarness.BackendKind.allCases)
    func hostsListThisHostAndItsWorker(_ kind: HostHarness.BackendKind) async throws {
        let admin = try await AdminHarness(kind)
        let host = try await admin.startHost()
        let ids = try admin.run.enqueue(4, handler: "test.noop") { _ in "{}" }
        try await admin.run.waitUntil("the jobs done") { try ids.allSatisfy { try admin.run.backend.job(queue: "default", id: $0)?.state == .done } }

        var body: [String: Any] = [:]
        try await admin.run.waitUntil("the worker's runs counted") {
            let answer = try await admin.get("/api/v1/hosts")
            guard answer.status == 200 else { return false }
            body = try answer.json()
            return ((body["workers"] as? [[String: Any]])?.first?["jobs_run"] as? Int) == 4
        }
        let hosts = try #require(body["hosts"] as? [[String: Any]])
        #expect(hosts.count == 1, "\(body)")
        let record = try #require(hosts.first)
        #expect(record["pid"] as? Int == Int(host.pid))
        #expect(record["alive"] as? Bool == true)
        #expect(record["backend"] as? String == "main")
        #expect(record["machine"] as? String == ProcessInfo.processInfo.hostName)
        #expect((record["instance"] as? String)?.isEmpty == false)
        let formatter = ISO8601DateFormatter()
        let started = try #require((record["started_at"] as? String).flatMap(formatter.date(from:)), "\(record)")
        let seen = try #require((record["last_seen_at"] as? String).flatMap(formatter.date(from:)), "\(record)")
        #expect(seen >= started)
        #expect(body["errors"] == nil)

        let workers = try #require(body["workers"] as? [[String: Any]])
        #expect(workers.count == 1, "\(workers)")
        let worker = try #require(workers.first)
        #expect(worker["queues"] as? [String] == ["default"])
        let workerPID = try #require(worker["pid"] as? Int)
        #expect(workerPID != Int(host.pid) && workerPID > 0)
        #expect((worker["started_at"] as? String).flatMap(formatter.date(from:)) != nil)
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    /// A schedule's recent runs, newest first, each with its job's state; a job no longer stored is
    /// `pruned`. `host schedules --json` shows the same.
    @Test func schedulesShowTheirRecentRuns() async throws {
        // overlap: allow: a run still going at the next fire (a busy machine) must not turn it into a
        // skip, which this test does not expect (OverlapTests covers skips).
        let admin = try await AdminHarness(extraYAML: "schedules:\n  tick: { every: 1s, handler: test.noop, overlap: allow }")
        let host = try await admin.startHost()
        var runs: [[String: Any]] = []
        func recentRuns() async throws -> [[String: Any]] {
            let answer = try await admin.get("/api/v1/schedules")
            let tick = (try answer.json()["schedules"] as? [[String: Any]])?.first { $0["name"] as? String == "tick" }
            return tick?["recent_runs"] as? [[String: Any]] ?? []
        }
        try await admin.run.waitUntil("three runs of tick done") {
            runs = try await recentRuns()
            return runs.filter { $0["state"] as? String == "done" }.count >= 3
        }
        let formatter = ISO8601DateFormatter()
        let times = runs.compactMap { ($0["fire_time"] as? String).flatMap(formatter.date(from:)) }
        #expect(times.count == runs.count)
        #expect(times == times.sorted(by: >), "newest first: \(runs)")
        let done = try #require(runs.first { $0["state"] as? String == "done" })
        let id = try #require(done["job_id"] as? String)
        let job = try #require(try admin.run.backend.job(queue: "default", id: id))
        #expect(job.origin?.hasPrefix("schedule tick ") == true)
        #expect((done["finished_at"] as? String).flatMap(formatter.date(from:)) != nil, "\(done)")

        // Ten at most, however many fired.
        try await admin.run.waitUntil("more than ten fires", timeout: .seconds(90)) {
            try fireTimes(admin.run, "tick").count > 11
        }
        runs = try await recentRuns()
        #expect(runs.count == 10, "\(runs.count) runs")

        // Done jobs past their retention are pruned: their runs say so. The schedule is switched off
        // first, and its last job waited for, so every run is done before the prune.
        #expect(try await admin.post("/api/v1/schedules/tick/disable").status == 200)
        try await admin.run.waitUntil("every job of tick done") {
            let stats = try admin.run.backend.stats(queue: "default")
            return stats.ready + stats.running + stats.scheduled == 0
        }
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
        _ = try admin.run.backend.prune(queue: "default", retention: .zero, limit: 10_000)
        let output = try await admin.run.host(["schedules", "--json"])
        #expect(output.status == 0, "\(output.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [[String: Any]])
        let row = try #require(rows.first { $0["name"] as? String == "tick" })
        let cliRuns = try #require(row["recent_runs"] as? [[String: Any]], "\(output.stdout)")
        #expect(cliRuns.count == 10)
        #expect(cliRuns.allSatisfy { $0["state"] as? String == "pruned" }, "\(cliRuns)")
        #expect(row["last_outcome"] as? String == "pruned")
        #expect((cliRuns.first?["job_id"] as? String) == (row["last_job"] as? String))
    }
}
