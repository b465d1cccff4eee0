import Backend
import Foundation
import JobHostTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A host with its admin server on a private port, and a client for it.
final class AdminHarness {
    static let token = "admin-token-5d1c0e9f7a2b"
    let run: HostHarness
    /// The admin server's port: free when chosen, and chosen again if another process took it
    /// before the host could bind it.
    private(set) var port: Int
    let failFlag: String

    /// - Parameters:
    ///   - extraYAML: more config (schedules, alerts) after the admin block.
    ///   - queuesYAML: more queues, two-space indented.
    init(
        _ kind: HostHarness.BackendKind = .redis, concurrency: Int = 4, backendURL: String? = nil, openReads: Bool = false, extraYAML: String = "",
        queuesYAML: String = ""
    ) async throws {
        let port = try Loopback.freePort()
        run = try await HostHarness.testPlugin(
            kind, concurrency: concurrency, backendURL: backendURL, queuesYAML: queuesYAML,
            extraYAML: """
                admin: { listen: "127.0.0.1:\(port)", token_env: JOBHOST_TEST_ADMIN_TOKEN, open_reads: \(openReads) }
                \(extraYAML)
                """)
        self.port = port
        failFlag = run.directory.url.appendingPathComponent("failing").path
    }

    /// Starts `host run` and waits until its admin server answers.
    func startHost(environment: [String: String] = [:]) async throws -> BackgroundProcess {
        for _ in 1..<3 {
            let host = try run.startHost(environment: environment.merging(["JOBHOST_TEST_ADMIN_TOKEN": Self.token]) { $1 })
            try await run.waitUntil("the admin server answering /live, or the host exiting") {
                (try? await get("/live").status) == 200 || host.exitStatus != nil
            }
            guard host.exitStatus != nil, host.log.contains("Address already in use") else { return host }
            // Another process took the port between choosing it and the host binding it.
            let taken = port
            port = try Loopback.freePort()
            try run.editConfig { $0.replacingOccurrences(of: "127.0.0.1:\(taken)", with: "127.0.0.1:\(port)") }
        }
        let host = try run.startHost(environment: environment.merging(["JOBHOST_TEST_ADMIN_TOKEN": Self.token]) { $1 })
        try await run.waitUntil("the admin server answering /live") { (try? await get("/live").status) == 200 }
        return host
    }

    struct Answer {
        var status: Int
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> [String: Any] {
            try #require(JSONSerialization.jsonObject(with: body) as? [String: Any], "not a JSON object: \(text)")
        }
    }

    func get(_ path: String, token: String? = AdminHarness.token) async throws -> Answer {
        try await send("GET", path, token: token)
    }

    func post(_ path: String, token: String? = AdminHarness.token, headers: [String: String] = [:]) async throws -> Answer {
        try await send("POST", path, token: token, headers: headers)
    }

    func send(_ method: String, _ path: String, token: String?, headers: [String: String] = [:]) async throws -> Answer {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!, timeoutInterval: 30)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (body, response) = try await URLSession.shared.data(for: request)
        return Answer(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: body)
    }

    /// Enqueues jobs that fail while the fail flag exists (created here), with one attempt each.
    func enqueueFailing(_ count: Int) throws -> [String] {
        FileManager.default.createFile(atPath: failFlag, contents: nil)
        return try run.enqueue(count, handler: "test.fail_while", maxAttempts: 1) { _ in #"{"path": "\#(failFlag)"}"# }
    }
}

/// The fire times of the jobs schedule `name` enqueued into `queue`, from their origins.
func fireTimes(_ harness: HostHarness, _ name: String, queue: String = "default") throws -> [Date] {
    let formatter = ISO8601DateFormatter()
    return try JobState.allCases.flatMap { state in
        try harness.backend.list(queue: queue, state: state, offset: 0, limit: 10_000).compactMap { job -> Date? in
            guard let origin = job.origin, origin.hasPrefix("schedule \(name) ") else { return nil }
            return formatter.date(from: String(origin.split(separator: " ")[2]))
        }
    }
}

/// Prometheus text: the value of one sample, found by its name and labels as written.
func sample(_ exposition: String, _ series: String) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}

@Suite(.serialized)
struct AdminHTTPTests {
    @Test func healthTurnsUnavailableWhileRedisIsDownAndRecoversWithIt() async throws {
        let redis = try await DurableRedisServer.start()
        let admin = try await AdminHarness(backendURL: redis.url)
        let host = try await admin.startHost()
        try await admin.run.waitUntil("/health answering 200") { (try? await admin.get("/health", token: nil).status) == 200 }
        #expect(try await admin.get("/ready", token: nil).status == 200)
        // Probes and scrapes arriving together share one backend check: none of them sees it as down.
        let port = admin.port
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<20 {
                group.addTask {
                    let url = URL(string: "http://127.0.0.1:\(port)\(index % 2 == 0 ? "/ready" : "/health")")!
                    let (_, response) = try await URLSession.shared.data(from: url)
                    return (response as? HTTPURLResponse)?.statusCode ?? 0
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")

        await redis.kill(SIGKILL)
        var answer = try await admin.get("/health", token: nil)
        #expect(answer.status == 503, "\(answer.text)")
        let health = try answer.json()
        #expect(health["status"] as? String == "unhealthy")
        #expect((health["problems"] as? [String])?.contains { $0.contains("backend 'main' does not answer") } == true, "\(answer.text)")
        #expect(try await admin.get("/ready", token: nil).status == 503)
        #expect(try await admin.get("/live", token: nil).status == 200, "liveness does not depend on the backend")

        try await redis.start()
        try await admin.run.waitUntil("recovery") { (try? await admin.get("/health", token: nil).status) == 200 }
        answer = try await admin.get("/health", token: nil)
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    /// A draining host is not ready, yet still alive and answering.
    @Test func readinessTurnsOffAsDrainingBegins() async throws {
        let admin = try await AdminHarness()
        let host = try await admin.startHost()
        #expect(try await admin.get("/ready", token: nil).status == 200)
        _ = try admin.run.enqueue(1, handler: "test.sleep") { _ in #"{"record": "\#(admin.run.recordFile)", "ms": 1500}"# }
        try await admin.run.waitUntil("the job started") { try admin.run.recordedIDs().count == 1 }
        host.send(SIGTERM)
        try await admin.run.waitUntil("/ready saying draining") {
            (try? await admin.get("/ready", token: nil))?.text.contains("draining") == true
        }
        #expect(try await admin.get("/ready", token: nil).status == 503)
        #expect(try await admin.get("/live", token: nil).status == 200)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
        #expect(try admin.run.backend.stats(queue: "default").processed == 1, "the running job finished")
    }

    @Test func metricsCountAKnownWorkload() async throws {
        let admin = try await AdminHarness(extraYAML: "schedules:\n  tick: { every: 1s, handler: test.noop }")
        let host = try await admin.startHost()
        let noops = try admin.run.enqueue(20, handler: "test.noop") { _ in "{}" }
        let throwing = try admin.run.enqueue(3, handler: "test.throw", maxAttempts: 1) { _ in "{}" }
        let flaky = try admin.run.enqueue(2, handler: "test.flaky", maxAttempts: 3) { _ in #"{"failures": 1}"# }
        try await admin.run.waitUntil("every enqueued job done or dead") {
            try (noops + flaky).allSatisfy { try admin.run.backend.job(queue: "default", id: $0)?.state == .done }
                && throwing.allSatisfy { try admin.run.backend.job(queue: "default", id: $0)?.state == .dead }
        }
        // A scheduled tick or two, each run: every fire counted has its job counted too.
        var text = ""
        func value(_ series: String) -> Double? { sample(text, "jobhost_\(series)") }
        try await admin.run.waitUntil("a schedule fire whose job ran") {
            let answer = try await admin.get("/metrics")
            guard answer.status == 200 else { return false }
            text = answer.text
            guard let fires = value(#"schedule_fires_total{schedule="tick"}"#), fires >= 1,
                let noop = value(#"jobs_completed_total{queue="default",handler="test.noop"}"#)
            else { return false }
            // The host counts a job as it records its outcome, just after the backend has it done.
            return noop == 20 + fires && value(#"jobs_completed_total{queue="default",handler="test.flaky"}"#) == 2
                && value(#"jobs_dead_total{queue="default",handler="test.throw"}"#) == 3
        }
        #expect(value(#"jobs_completed_total{queue="default",handler="test.flaky"}"#) == 2, "\(text)")
        #expect(value(#"jobs_retried_total{queue="default",handler="test.flaky"}"#) == 2)
        #expect(value(#"jobs_failed_total{queue="default",handler="test.throw"}"#) == 3)
        #expect(value(#"jobs_dead_total{queue="default",handler="test.throw"}"#) == 3)
        #expect(value(#"jobs_completed_total{queue="default",handler="test.throw"}"#) == 0)
        #expect(value(#"job_duration_seconds_count{queue="default",handler="test.flaky"}"#) == 4)
        let noop = try #require(value(#"jobs_completed_total{queue="default",handler="test.noop"}"#))
        #expect(noop >= 20, "20 enqueued plus the schedule's")
        #expect(value(#"queue_jobs{queue="default",state="dead"}"#) == 3)
        #expect(value(#"backend_up{backend="main"}"#) == 1)
        #expect(value(#"worker_up{worker="default.1"}"#) == 1)
        #expect(value(#"worker_restarts_total{worker="default.1"}"#) == 0)
        let fires = try #require(value(#"schedule_fires_total{schedule="tick"}"#))
        #expect(fires >= 1)
        #expect(noop == 20 + fires, "each fire ran one job")
        // The lag's value is MonitoringTests' (a fire told with a known lag) and the scheduler's tests' (no
        // fire before its time); here: the series is exported for the schedule that fired.
        #expect(value(#"schedule_lag_seconds{schedule="tick"}"#) != nil, "\(text)")

        let tasks = try await admin.get("/health/tasks")
        let byHandler = Dictionary(
            uniqueKeysWithValues: (try tasks.json()["tasks"] as? [[String: Any]] ?? []).map { ($0["handler"] as? String ?? "", $0) })
        #expect(byHandler["test.throw"]?["consecutive_failures"] as? Int == 3, "\(tasks.text)")
        #expect(byHandler["test.throw"]?["last_error"] as? String == "planned error")
        #expect(byHandler["test.flaky"]?["consecutive_failures"] as? Int == 0)
        #expect(byHandler["test.flaky"]?["succeeded"] as? Int == 2)
        #expect(try await admin.get("/health/tasks", token: nil).status == 401, "errors may quote payloads: reading needs the token")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func fiftyDeadJobsRetriedThroughTheAPIAndThroughHostJobs() async throws {
        let admin = try await AdminHarness()
        let host = try await admin.startHost()
        let first = try admin.enqueueFailing(50)
        try await admin.run.waitUntil("the jobs dead") { try admin.run.backend.stats(queue: "default").dead == 50 }

        // One job: its detail, then a retry of a job that is not dead is refused.
        var answer = try await admin.get("/api/v1/jobs/\(first[0])")
        #expect(answer.status == 200)
        let job = try answer.json()
        #expect(job["state"] as? String == "dead")
        #expect((job["last_error"] as? String)?.contains("planned failure") == true, "\(answer.text)")
        // Its runs: each failed, the last one sent it to dead, each names the host and worker that ran it.
        let runs = try #require(job["attempts"] as? [[String: Any]], "\(answer.text)")
        #expect(!runs.isEmpty && runs.last?["outcome"] as? String == "dead", "\(answer.text)")
        #expect(runs.map { $0["number"] as? Int } == (1...max(1, runs.count)).map { $0 }, "\(answer.text)")
        #expect(runs.allSatisfy { run in
            (run["host"] as? String)?.isEmpty == false && (run["worker"] as? String)?.isEmpty == false
                && (run["error"] as? String)?.contains("planned failure") == true
        }, "\(answer.text)")
        #expect(try await admin.get("/api/v1/jobs/01NOSUCHJOB").status == 404)
        answer = try await admin.get("/api/v1/queues/default/jobs?state=dead&limit=20")
        #expect(try answer.json()["next_offset"] as? Int == 20, "\(answer.text)")
        #expect((try answer.json()["jobs"] as? [Any])?.count == 20)

        try FileManager.default.removeItem(atPath: admin.failFlag)
        answer = try await admin.post("/api/v1/queues/default/dead/retry")
        #expect(answer.status == 200, "\(answer.text)")
        #expect(try answer.json()["changed"] as? Int == 50)
        try await admin.run.waitUntil("every job processed") {
            let stats = try admin.run.backend.stats(queue: "default")
            return stats.processed == 50 && stats.dead == 0
        }
        #expect(try await admin.post("/api/v1/jobs/\(first[0])/retry").status == 409, "done, not dead")
        // A retry from dead keeps the earlier runs; the one that succeeded comes after them, attempt 1 again.
        answer = try await admin.get("/api/v1/jobs/\(first[0])")
        let after = try #require(try answer.json()["attempts"] as? [[String: Any]], "\(answer.text)")
        #expect(after.count == min(runs.count + 1, 25) && after.last?["outcome"] as? String == "done" && after.last?["number"] as? Int == 1,
            "\(answer.text)")

        _ = try admin.enqueueFailing(50)
        try await admin.run.waitUntil("the second batch dead") { try admin.run.backend.stats(queue: "default").dead == 50 }
        try FileManager.default.removeItem(atPath: admin.failFlag)
        let output = try await admin.run.host(["jobs", "retry", "--all"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("50 dead jobs retried"), "\(output.stdout)")
        try await admin.run.waitUntil("every job processed") { try admin.run.backend.stats(queue: "default").processed == 100 }
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    /// Jobs fetched before the pause but not started go back: a pause does not wait for the running
    /// jobs, which here outlast any wait of the test.
    @Test(arguments: HostHarness.BackendKind.allCases)
    func pauseOverHTTPHandsBackFetchedJobsWithoutWaitingForRunningOnes(_ kind: HostHarness.BackendKind) async throws {
        let admin = try await AdminHarness(kind, concurrency: 2)
        let host = try await admin.startHost()
        // Two jobs of two minutes (they stop early only when cancelled), then short ones, fetched ahead.
        let long = try admin.run.enqueue(2, handler: "test.sleep") { _ in #"{"record": "\#(admin.run.recordFile)", "ms": 120000}"# }
        let short = try admin.run.enqueue(8, handler: "test.sleep") { _ in #"{"record": "\#(admin.run.recordFile)", "ms": 20}"# }
        try await admin.run.waitUntil("the two long jobs running") { try Set(admin.run.recordedIDs()).isSuperset(of: long) }
        let answer = try await admin.post("/api/v1/queues/default/pause")
        #expect(answer.status == 200, "\(answer.text)")
        #expect(try answer.json()["paused"] as? Bool == true)

        // The pause took hold: the host holds nothing of the queue but its two running jobs.
        try await admin.run.waitUntil("the fetched jobs handed back") { try admin.run.backend.stats(queue: "default").running == 2 }
        let started = try admin.run.runs()
        let stats = try admin.run.backend.stats(queue: "default")
        #expect(stats.processed == 0 && stats.ready == short.count - (started.count - long.count), "\(stats)")
        let queues = try await admin.get("/api/v1/queues")
        #expect((try queues.json()["queues"] as? [[String: Any]])?.first?["paused"] as? Bool == true, "\(queues.text)")
        let metrics = try await admin.get("/metrics")
        #expect(sample(metrics.text, #"jobhost_queue_paused{queue="default"}"#) == 1)
        #expect(try admin.run.runs().count == started.count, "jobs started while paused")

        #expect(try await admin.post("/api/v1/queues/default/resume").status == 200)
        try await admin.run.waitUntil("every short job done") {
            try short.allSatisfy { try admin.run.backend.job(queue: "default", id: $0)?.state == .done }
        }
        #expect(try await admin.post("/api/v1/queues/nope/pause").status == 404)
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func schedulesAreSwitchedAndTriggeredOverHTTP() async throws {
        let admin = try await AdminHarness(
            extraYAML: "schedules:\n  tick: { every: 1s, handler: test.noop }\n  tock: { every: 1s, handler: test.noop, queue: other }",
            queuesYAML: "  other: {}")
        let host = try await admin.startHost()
        var answer = try await admin.post("/api/v1/schedules/tick/disable")
        #expect(answer.status == 200, "\(answer.text)")
        answer = try await admin.get("/api/v1/schedules")
        let tick = try #require((try answer.json()["schedules"] as? [[String: Any]])?.first { $0["name"] as? String == "tick" })
        #expect(tick["disabled"] as? Bool == true, "\(answer.text)")
        #expect((tick["next_fires"] as? [String])?.count == 3)
        let offAt = try #require(try admin.run.scheduleStore.scheduleSwitch(schedule: "tick", queue: "default").changedAt)
        // `tock` fires in the same scheduler passes: once it has fired twice since, `tick` was passed over twice.
        try await admin.run.waitUntil("two fires of tock after tick was disabled") {
            try fireTimes(admin.run, "tock", queue: "other").filter { $0 > offAt }.count >= 2
        }
        #expect(try fireTimes(admin.run, "tick").filter { $0 > offAt }.isEmpty, "a disabled schedule fires nothing")
        let before = try fireTimes(admin.run, "tick").count

        answer = try await admin.post("/api/v1/schedules/tick/trigger")
        #expect(answer.status == 201, "\(answer.text)")
        let id = try #require(try answer.json()["id"] as? String)
        try await admin.run.waitUntil("the triggered job done") { try admin.run.backend.job(queue: "default", id: id)?.state == .done }
        #expect(try admin.run.backend.job(queue: "default", id: id)?.origin == "manual trigger of schedule tick")

        #expect(try await admin.post("/api/v1/schedules/tick/enable").status == 200)
        try await admin.run.waitUntil("two fires of tick after enabling") { try fireTimes(admin.run, "tick").count >= before + 2 }
        #expect(try await admin.post("/api/v1/schedules/nope/enable").status == 404)
        #expect(try await admin.post("/api/v1/schedules/tick/explode").status == 404)
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    /// Three failed runs in a row of one handler (jobs of one attempt each): one alert, in the log
    /// and at the webhook; more failed runs add none; a success sends one recovery.
    @Test func aHandlerFailingThreeRunsInARowAlertsOnceAndRecovers() async throws {
        let webhook = try WebhookReceiver.start()
        defer { webhook.stop() }
        let admin = try await AdminHarness(
            concurrency: 1, extraYAML: "alerts: { after_failures: 3, webhook_url_env: JOBHOST_TEST_WEBHOOK, webhook_timeout: 2s }")
        let host = try await admin.startHost(environment: ["JOBHOST_TEST_WEBHOOK": webhook.url])
        _ = try admin.enqueueFailing(5)
        try await admin.run.waitUntil("the jobs dead") { try admin.run.backend.stats(queue: "default").dead == 5 }
        let alerts = await webhook.requests(atLeast: 1)
        let text = try #require(alerts.first?.json?["text"] as? String)
        #expect(text.contains("test.fail_while") && text.contains("failed 3 runs in a row") && text.contains("planned failure"), "\(text)")
        #expect(host.log.contains("critical") && host.log.contains("handler test.fail_while failed 3 runs in a row"), "\(host.log)")
        #expect(!host.log.contains(webhook.url), "the webhook URL is a secret")
        let metrics = try await admin.get("/metrics").text
        #expect(sample(metrics, #"jobhost_alerts_total{kind="raised",about="handler",name="test.fail_while"}"#) == 1, "\(metrics)")

        try FileManager.default.removeItem(atPath: admin.failFlag)
        _ = try admin.run.enqueue(1, handler: "test.fail_while") { _ in #"{"path": "\#(admin.failFlag)"}"# }
        // The next request is the recovery: no second alert for the same streak came before it.
        let recovered = await webhook.requests(atLeast: 2)
        #expect(recovered.count == 2, "one alert per streak, then one recovery: \(recovered.map(\.body))")
        let recovery = try #require(recovered.last?.json?["text"] as? String)
        #expect(recovery.contains("test.fail_while") && recovery.contains("succeeded again after 5 failed runs in a row"), "\(recovery)")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
        #expect(webhook.requests.count == 2)
    }

    @Test func changesNeedTheTokenAndRefuseCrossSiteRequests() async throws {
        let admin = try await AdminHarness()
        let host = try await admin.startHost()
        let ids = try admin.enqueueFailing(2)
        try await admin.run.waitUntil("both jobs dead") { try admin.run.backend.stats(queue: "default").dead == 2 }

        #expect(try await admin.post("/api/v1/jobs/\(ids[0])/retry", token: nil).status == 401)
        #expect(try await admin.post("/api/v1/jobs/\(ids[0])/retry", token: AdminHarness.token + "x").status == 401)
        #expect(try await admin.post("/api/v1/jobs/\(ids[0])/retry", token: String(AdminHarness.token.dropLast())).status == 401)
        let crossSite = try await admin.post("/api/v1/jobs/\(ids[0])/discard", headers: ["Sec-Fetch-Site": "cross-site"])
        #expect(crossSite.status == 403, "\(crossSite.text)")
        #expect(try await admin.post("/api/v1/queues/default/dead/discard", headers: ["Sec-Fetch-Site": "same-site"]).status == 403)
        #expect(try admin.run.backend.stats(queue: "default").dead == 2, "nothing refused was done")

        // Reading needs the token too unless open_reads is set; the probes never do.
        #expect(try await admin.get("/metrics", token: nil).status == 401)
        #expect(try await admin.get("/api/v1/queues", token: nil).status == 401)
        #expect(try await admin.get("/health", token: nil).status == 200)

        let discarded = try await admin.post("/api/v1/jobs/\(ids[0])/discard", headers: ["Sec-Fetch-Site": "same-origin"])
        #expect(discarded.status == 200, "\(discarded.text)")
        #expect(try admin.run.backend.stats(queue: "default").dead == 1)
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func openReadsServeMetricsWithoutATokenButNotChanges() async throws {
        let admin = try await AdminHarness(openReads: true)
        let host = try await admin.startHost()
        #expect(try await admin.get("/metrics", token: nil).status == 200)
        let queues = try await admin.get("/api/v1/queues", token: nil)
        #expect(queues.status == 200)
        #expect((try queues.json()["queues"] as? [[String: Any]])?.first?["name"] as? String == "default", "\(queues.text)")
        #expect(try await admin.post("/api/v1/queues/default/dead/retry", token: nil).status == 401)
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func aHostWhoseTokenVariableIsUnsetRefusesToStart() async throws {
        let admin = try await AdminHarness()
        let output = try await admin.run.host(["run"])
        #expect(output.status != 0)
        #expect(output.stderr.contains("JOBHOST_TEST_ADMIN_TOKEN"), "\(output.stderr)")
    }
}
