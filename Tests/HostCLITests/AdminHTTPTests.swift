import Backend
import Foundation
import JobHostTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A host with its admin server on a private port, and a client for it.
struct AdminHarness {
    static let token = "admin-token-5d1c0e9f7a2b"
    let run: HostRunHarness
    let port: Int
    let failFlag: String

    /// - Parameter extraYAML: more config (queues, schedules) after the admin block.
    init(
        _ kind: HostRunHarness.Kind = .redis, concurrency: Int = 4, backendURL: String? = nil, openReads: Bool = false, extraYAML: String = ""
    ) async throws {
        let port = try Loopback.freePort()
        run = try await HostRunHarness(
            kind, concurrency: concurrency, backendURL: backendURL,
            extraYAML: """
                admin: { listen: "127.0.0.1:\(port)", token_env: JOBHOST_TEST_ADMIN_TOKEN, open_reads: \(openReads) }
                \(extraYAML)
                """)
        self.port = port
        failFlag = run.directory.url.appendingPathComponent("failing").path
    }

    func startHost() async throws -> BackgroundProcess {
        let host = try run.startHost(environment: ["JOBHOST_TEST_ADMIN_TOKEN": Self.token])
        let up = try await run.waitUntil(timeout: .seconds(20)) { (try? await get("/live").status) == 200 }
        #expect(up, "admin server did not answer: \(host.log)")
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
        let healthy = try await admin.run.waitUntil(timeout: .seconds(10)) { (try? await admin.get("/health", token: nil).status) == 200 }
        #expect(healthy, "\(host.log)")
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
        let recovered = try await admin.run.waitUntil(timeout: .seconds(10)) { (try? await admin.get("/health", token: nil).status) == 200 }
        answer = try await admin.get("/health", token: nil)
        #expect(recovered, "\(answer.text)")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(10)) == 0)
    }

    /// A draining host is not ready, yet still alive and answering.
    @Test func readinessTurnsOffAsDrainingBegins() async throws {
        let admin = try await AdminHarness()
        let host = try await admin.startHost()
        #expect(try await admin.get("/ready", token: nil).status == 200)
        _ = try admin.run.enqueue(1, handler: "test.sleep") { _ in #"{"record": "\#(admin.run.recordFile)", "ms": 1500}"# }
        let started = try await admin.run.waitUntil(timeout: .seconds(10)) { try admin.run.recordedIDs().count == 1 }
        #expect(started)
        host.send(SIGTERM)
        let draining = try await admin.run.waitUntil(timeout: .seconds(2)) {
            (try? await admin.get("/ready", token: nil))?.text.contains("draining") == true
        }
        #expect(draining, "\(host.log)")
        #expect(try await admin.get("/ready", token: nil).status == 503)
        #expect(try await admin.get("/live", token: nil).status == 200)
        #expect(await host.waitUntilExit(timeout: .seconds(10)) == 0)
        #expect(try admin.run.backend.stats(queue: "default").processed == 1, "the running job finished")
    }

    @Test func metricsCountAKnownWorkload() async throws {
        let admin = try await AdminHarness(extraYAML: "schedules:\n  tick: { every: 1s, handler: test.noop }")
        let host = try await admin.startHost()
        _ = try admin.run.enqueue(20, handler: "test.noop") { _ in "{}" }
        _ = try admin.run.enqueue(3, handler: "test.throw", maxAttempts: 1) { _ in "{}" }
        _ = try admin.run.enqueue(2, handler: "test.flaky", maxAttempts: 3) { _ in #"{"failures": 1}"# }
        let done = try await admin.run.waitUntil(timeout: .seconds(20)) {
            let stats = try admin.run.backend.stats(queue: "default")
            return stats.dead == 3 && stats.processed >= 22
        }
        #expect(done, "\(host.log)")
        try await Task.sleep(for: .milliseconds(1500))  // a scheduled tick or two

        let answer = try await admin.get("/metrics")
        #expect(answer.status == 200)
        let text = answer.text
        func value(_ series: String) -> Double? { sample(text, "jobhost_\(series)") }
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
        #expect(try #require(value(#"schedule_lag_seconds{schedule="tick"}"#)) < 1)

        let tasks = try await admin.get("/health/tasks")
        let byHandler = Dictionary(
            uniqueKeysWithValues: (try tasks.json()["tasks"] as? [[String: Any]] ?? []).map { ($0["handler"] as? String ?? "", $0) })
        #expect(byHandler["test.throw"]?["consecutive_failures"] as? Int == 3, "\(tasks.text)")
        #expect(byHandler["test.throw"]?["last_error"] as? String == "planned error")
        #expect(byHandler["test.flaky"]?["consecutive_failures"] as? Int == 0)
        #expect(byHandler["test.flaky"]?["succeeded"] as? Int == 2)
        #expect(try await admin.get("/health/tasks", token: nil).status == 401, "errors may quote payloads: reading needs the token")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(10)) == 0)
    }

    @Test func fiftyDeadJobsRetriedThroughTheAPIAndThroughHostJobs() async throws {
        let admin = try await AdminHarness()
        let host = try await admin.startHost()
        let first = try admin.enqueueFailing(50)
        let dead = try await admin.run.waitUntil(timeout: .seconds(20)) { try admin.run.backend.stats(queue: "default").dead == 50 }
        #expect(dead, "\(host.log)")

        // One job: its detail, then a retry of a job that is not dead is refused.
        var answer = try await admin.get("/api/v1/jobs/\(first[0])")
        #expect(answer.status == 200)
        let job = try answer.json()
        #expect(job["state"] as? String == "dead")
        #expect((job["last_error"] as? String)?.contains("planned failure") == true, "\(answer.text)")
        #expect(try await admin.get("/api/v1/jobs/01NOSUCHJOB").status == 404)
        answer = try await admin.get("/api/v1/queues/default/jobs?state=dead&limit=20")
        #expect(try answer.json()["next_offset"] as? Int == 20, "\(answer.text)")
        #expect((try answer.json()["jobs"] as? [Any])?.count == 20)

        try FileManager.default.removeItem(atPath: admin.failFlag)
        answer = try await admin.post("/api/v1/queues/default/dead/retry")
        #expect(answer.status == 200, "\(answer.text)")
        #expect(try answer.json()["changed"] as? Int == 50)
        var finished = try await admin.run.waitUntil(timeout: .seconds(20)) {
            let stats = try admin.run.backend.stats(queue: "default")
            return stats.processed == 50 && stats.dead == 0
        }
        #expect(finished, "\(host.log)")
        #expect(try await admin.post("/api/v1/jobs/\(first[0])/retry").status == 409, "done, not dead")

        _ = try admin.enqueueFailing(50)
        let deadAgain = try await admin.run.waitUntil(timeout: .seconds(20)) { try admin.run.backend.stats(queue: "default").dead == 50 }
        #expect(deadAgain)
        try FileManager.default.removeItem(atPath: admin.failFlag)
        let output = try admin.run.host(["jobs", "retry", "--all"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("50 dead jobs retried"), "\(output.stdout)")
        finished = try await admin.run.waitUntil(timeout: .seconds(20)) { try admin.run.backend.stats(queue: "default").processed == 100 }
        #expect(finished)
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(10)) == 0)
    }

    /// Jobs fetched before the pause but not started go back: a pause holds within a second even
    /// when the running jobs take longer than that.
    @Test(arguments: HostRunHarness.Kind.allCases)
    func pauseOverHTTPHoldsWithinASecondThoughJobsRunLonger(_ kind: HostRunHarness.Kind) async throws {
        let admin = try await AdminHarness(kind, concurrency: 2)
        let host = try await admin.startHost()
        let ids = try admin.run.enqueue(10, handler: "test.sleep") { _ in #"{"record": "\#(admin.run.recordFile)", "ms": 1500}"# }
        let busy = try await admin.run.waitUntil(timeout: .seconds(20)) { try admin.run.recordedIDs().count >= 2 }
        #expect(busy, "\(host.log)")
        let answer = try await admin.post("/api/v1/queues/default/pause")
        let pausedAt = Date()
        #expect(answer.status == 200, "\(answer.text)")
        #expect(try answer.json()["paused"] as? Bool == true)

        try await Task.sleep(for: .milliseconds(2500))
        let late = try SwitchTests.starts(admin.run).filter { $0.at > pausedAt.addingTimeInterval(1) }
        #expect(late.isEmpty, "\(late.count) jobs started more than 1 s after the pause")
        let stats = try admin.run.backend.stats(queue: "default")
        let started = try admin.run.recordedIDs().count
        #expect(stats.running == 0 && stats.ready == ids.count - started, "\(stats)")
        let queues = try await admin.get("/api/v1/queues")
        #expect((try queues.json()["queues"] as? [[String: Any]])?.first?["paused"] as? Bool == true, "\(queues.text)")
        let metrics = try await admin.get("/metrics")
        #expect(sample(metrics.text, #"jobhost_queue_paused{queue="default"}"#) == 1)

        #expect(try await admin.post("/api/v1/queues/default/resume").status == 200)
        let finished = try await admin.run.waitUntil(timeout: .seconds(30)) { try admin.run.backend.stats(queue: "default").processed == ids.count }
        #expect(finished, "\(host.log)")
        #expect(try await admin.post("/api/v1/queues/nope/pause").status == 404)
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(10)) == 0)
    }

    @Test func schedulesAreSwitchedAndTriggeredOverHTTP() async throws {
        let admin = try await AdminHarness(extraYAML: "schedules:\n  tick: { every: 1s, handler: test.noop }")
        let host = try await admin.startHost()
        var answer = try await admin.post("/api/v1/schedules/tick/disable")
        #expect(answer.status == 200, "\(answer.text)")
        answer = try await admin.get("/api/v1/schedules")
        let tick = try #require((try answer.json()["schedules"] as? [[String: Any]])?.first)
        #expect(tick["disabled"] as? Bool == true, "\(answer.text)")
        #expect((tick["next_fires"] as? [String])?.count == 3)
        try await Task.sleep(for: .milliseconds(300))
        let before = try admin.run.backend.stats(queue: "default").processed
        try await Task.sleep(for: .seconds(2))
        #expect(try admin.run.backend.stats(queue: "default").processed == before, "a disabled schedule fires nothing")

        answer = try await admin.post("/api/v1/schedules/tick/trigger")
        #expect(answer.status == 201, "\(answer.text)")
        let id = try #require(try answer.json()["id"] as? String)
        let triggered = try await admin.run.waitUntil(timeout: .seconds(10)) { try admin.run.backend.job(queue: "default", id: id)?.state == .done }
        #expect(triggered)
        #expect(try admin.run.backend.job(queue: "default", id: id)?.origin == "manual trigger of schedule tick")

        #expect(try await admin.post("/api/v1/schedules/tick/enable").status == 200)
        let fires = try await admin.run.waitUntil(timeout: .seconds(5)) { try admin.run.backend.stats(queue: "default").processed >= before + 2 }
        #expect(fires, "fires again once enabled")
        #expect(try await admin.post("/api/v1/schedules/nope/enable").status == 404)
        #expect(try await admin.post("/api/v1/schedules/tick/explode").status == 404)
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(10)) == 0)
    }

    /// Three failures in a row of one handler: one alert, in the log and at the webhook; more
    /// failures add none; a success sends one recovery.
    @Test func aHandlerFailingThreeTimesInARowAlertsOnceAndRecovers() async throws {
        let webhook = try WebhookReceiver.start()
        defer { webhook.stop() }
        let admin = try await AdminHarness(
            concurrency: 1, extraYAML: "alerts: { after_failures: 3, webhook_url_env: JOBHOST_TEST_WEBHOOK, webhook_timeout: 2s }")
        let host = try admin.run.startHost(environment: ["JOBHOST_TEST_ADMIN_TOKEN": AdminHarness.token, "JOBHOST_TEST_WEBHOOK": webhook.url])
        _ = try admin.enqueueFailing(5)
        let dead = try await admin.run.waitUntil(timeout: .seconds(20)) { try admin.run.backend.stats(queue: "default").dead == 5 }
        #expect(dead, "\(host.log)")
        let alerts = await webhook.requests(atLeast: 1)
        try await Task.sleep(for: .milliseconds(500))  // time for a second alert, were one sent
        #expect(webhook.requests.count == 1, "one alert per streak: \(webhook.requests.map(\.body))")
        let text = try #require(alerts.first?.json?["text"] as? String)
        #expect(text.contains("test.fail_while") && text.contains("failed 3 times in a row") && text.contains("planned failure"), "\(text)")
        #expect(host.log.contains("critical") && host.log.contains("handler test.fail_while failed 3 times in a row"), "\(host.log)")
        #expect(!host.log.contains(webhook.url), "the webhook URL is a secret")
        let metrics = try await admin.get("/metrics").text
        #expect(sample(metrics, #"jobhost_alerts_total{kind="raised",about="handler",name="test.fail_while"}"#) == 1, "\(metrics)")

        try FileManager.default.removeItem(atPath: admin.failFlag)
        _ = try admin.run.enqueue(1, handler: "test.fail_while") { _ in #"{"path": "\#(admin.failFlag)"}"# }
        let recovered = await webhook.requests(atLeast: 2)
        #expect(recovered.count == 2)
        let recovery = try #require(recovered.last?.json?["text"] as? String)
        #expect(recovery.contains("test.fail_while") && recovery.contains("succeeded again after 5 failures in a row"), "\(recovery)")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(10)) == 0)
        #expect(webhook.requests.count == 2)
    }

    @Test func changesNeedTheTokenAndRefuseCrossSiteRequests() async throws {
        let admin = try await AdminHarness()
        let host = try await admin.startHost()
        let ids = try admin.enqueueFailing(2)
        _ = try await admin.run.waitUntil(timeout: .seconds(20)) { try admin.run.backend.stats(queue: "default").dead == 2 }

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
        #expect(await host.waitUntilExit(timeout: .seconds(10)) == 0)
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
        #expect(await host.waitUntilExit(timeout: .seconds(10)) == 0)
    }

    @Test func aHostWhoseTokenVariableIsUnsetRefusesToStart() async throws {
        let admin = try await AdminHarness()
        let output = try admin.run.host(["run"])
        #expect(output.status != 0)
        #expect(output.stderr.contains("JOBHOST_TEST_ADMIN_TOKEN"), "\(output.stderr)")
    }
}
