import Alerting
import Backend
import Foundation
import HostConfig
import JobHostTesting
import Testing

/// Alerts over real HTTP, to a ``WebhookReceiver`` on loopback.
@Suite(.timeLimit(.minutes(1)))
struct WebhookAlertTests {
    let plan = AlertSubject.handler("noctua.plan", queue: "content")
    let fastRetries: [Duration] = [.milliseconds(20), .milliseconds(20)]

    func dispatcher(
        _ receiver: WebhookReceiver, logs: LogCapture, queueCapacity: Int = 64, retryDelays: [Duration]? = nil,
        timeout: Duration = .seconds(5)
    ) throws -> AlertDispatcher {
        let webhook = AlertWebhook(url: SecretURL(try #require(URL(string: receiver.url))), timeout: timeout)
        return AlertDispatcher(
            hostName: "test-host", webhook: webhook, logger: logs.logger, queueCapacity: queueCapacity,
            retryDelays: retryDelays ?? fastRetries)
    }

    /// The outbox entry of the `failures`-th dead job in a row of `noctua.plan` on `content`.
    func failedRun(_ failures: Int, error: String) -> RunAlertEntry {
        RunAlertEntry(
            event: .failed, subject: .handler("noctua.plan"), queue: "content", failures: failures, jobID: "JOB\(failures)",
            handler: "noctua.plan", error: error, at: Date())
    }

    func texts(_ requests: [WebhookReceiver.Request]) -> [String] {
        requests.map { $0.json?["text"] as? String ?? "<no text field in \($0.body)>" }
    }

    @Test func oneAlertPerStreakThenOneRecovery() async throws {
        let receiver = try WebhookReceiver.start()
        defer { receiver.stop() }
        let logs = LogCapture()
        let alerts = try FailureAlerts(
            settings: AlertSettings(afterFailures: 3, webhookURLEnvironmentVariable: "JOBHOST_ALERT_WEBHOOK"),
            hostName: "test-host", logger: logs.logger, environment: ["JOBHOST_ALERT_WEBHOOK": receiver.url])

        for run in 1...3 { alerts.handle(failedRun(run, error: "AI endpoint answered 502 (\(run))")) }
        let first = await receiver.requests(atLeast: 1)
        #expect(first.count == 1)
        let alert = try #require(first.first)
        #expect(alert.method == "POST" && alert.path == "/hook")
        #expect(alert.headers["content-type"] == "application/json")
        let text = try #require(texts(first).first)
        #expect(text.contains("handler noctua.plan"))
        #expect(text.contains("queue content"))
        #expect(text.contains("3 runs in a row"))
        #expect(text.contains("test-host"))
        #expect(text.contains("AI endpoint answered 502 (3)"))

        alerts.handle(failedRun(4, error: "again (4)"))
        alerts.handle(failedRun(5, error: "again (5)"))
        alerts.handle(RunAlertEntry(event: .ended, subject: .handler("noctua.plan"), queue: "content", failures: 5, at: Date()))
        #expect(alerts.shutdown(timeout: .seconds(10)))
        let all = texts(receiver.requests)
        #expect(all.count == 2, "\(all)")
        #expect(all.last?.contains("handler noctua.plan succeeded again after 5 failed runs in a row (queue content)") == true, "\(all)")

        let critical = logs.lines.filter { $0.level == .critical }
        #expect(critical.map(\.message) == ["handler noctua.plan failed 3 runs in a row"])
        #expect(critical.first?.metadata["handler"] == "noctua.plan")
        #expect(critical.first?.metadata["queue"] == "content")
        #expect(critical.first?.metadata["failures"] == "3")
        #expect(critical.first?.metadata["last_error"] == "AI endpoint answered 502 (3)")
        let notices = logs.lines.filter { $0.level == .notice }
        #expect(notices.map(\.message) == ["handler noctua.plan succeeded again after 5 failed runs in a row"])
        #expect(logs.lines.count == 2, "no warnings: \(logs.lines.map(\.allText))")
    }

    /// The scheduler not being able to enqueue is its own alert, not a failed run of the schedule.
    @Test func anEnqueueAlertNamesTheScheduleAndSaysItCouldNotEnqueue() async throws {
        let receiver = try WebhookReceiver.start()
        defer { receiver.stop() }
        let logs = LogCapture()
        let alerts = FailureAlerts(threshold: 1, dispatcher: try dispatcher(receiver, logs: logs))
        #expect(alerts.recordEnqueue(schedule: "worlds-sync", succeeded: false, detail: "redis timeout")?.kind == "schedule_enqueue_failed")
        #expect(alerts.shutdown(timeout: .seconds(10)))
        #expect(texts(receiver.requests) == ["[jobhost test-host] enqueueing schedule worlds-sync failed. Last error: redis timeout"])
        #expect(logs.lines.first?.metadata["schedule"] == "worlds-sync")
        #expect(logs.lines.first?.metadata["alert"] == "schedule_enqueue_failed")
        #expect(logs.lines.first?.message == "enqueueing schedule worlds-sync failed")
    }

    /// A failed run of a schedule's job is a schedule alert of another kind.
    @Test func aScheduleRunAlertIsAFailedRunOfTheSchedule() throws {
        let logs = LogCapture()
        let alerts = FailureAlerts(threshold: 2, dispatcher: AlertDispatcher(hostName: "h", webhook: nil, logger: logs.logger))
        let entry = RunAlertEntry(
            event: .failed, subject: .schedule("worlds-sync"), queue: "worlds", failures: 2, jobID: "01J", handler: "worlds.sync",
            error: "sync failed", at: Date())
        let event = try #require(alerts.handle(entry))
        #expect(event.kind == "failed_runs")
        #expect(event == .raised(.schedule("worlds-sync", queue: "worlds"), failures: 2, lastError: "sync failed",
            lastJob: AlertJob(id: "01J", handler: "worlds.sync", error: "sync failed")))
        #expect(logs.lines.first?.message == "schedule worlds-sync failed 2 runs in a row")
    }

    @Test func aWebhookAnswering500IsRetried() async throws {
        let receiver = try WebhookReceiver.start()
        defer { receiver.stop() }
        receiver.answer([500, 503])
        let logs = LogCapture()
        let dispatcher = try dispatcher(receiver, logs: logs)
        dispatcher.dispatch(.raised(plan, failures: 3, lastError: "boom"))
        #expect(dispatcher.shutdown(timeout: .seconds(10)))
        let bodies = receiver.requests.map(\.body)
        #expect(bodies.count == 3)
        #expect(Set(bodies).count == 1, "each retry sends the same message")
        let retries = logs.lines.filter { $0.level == .warning }
        #expect(retries.map { $0.metadata["reason"] } == ["HTTP 500: error", "HTTP 503: error"])
        #expect(!logs.lines.contains { $0.level == .error })
        #expect(!logs.lines.contains { $0.allText.contains("/hook") }, "the webhook URL is a secret")
    }

    @Test func aWebhookThatKeepsFailingIsGivenUpOn() async throws {
        let receiver = try WebhookReceiver.start()
        defer { receiver.stop() }
        receiver.answer([500, 500, 500, 500])
        let logs = LogCapture()
        let dispatcher = try dispatcher(receiver, logs: logs)
        dispatcher.dispatch(.raised(plan, failures: 3, lastError: "boom"))
        #expect(dispatcher.shutdown(timeout: .seconds(10)))
        #expect(receiver.requests.count == 3)
        let gaveUp = try #require(logs.lines.first { $0.level == .error })
        #expect(gaveUp.metadata["attempt"] == "3" && gaveUp.metadata["gave_up"] == "true")
        #expect(gaveUp.metadata["webhook"] == "http://127.0.0.1:\(receiver.port)/***")
    }

    @Test func aClientErrorIsNotRetried() async throws {
        let receiver = try WebhookReceiver.start()
        defer { receiver.stop() }
        receiver.answer([404])
        let logs = LogCapture()
        let dispatcher = try dispatcher(receiver, logs: logs)
        dispatcher.dispatch(.raised(plan, failures: 3, lastError: "boom"))
        #expect(dispatcher.shutdown(timeout: .seconds(10)))
        #expect(receiver.requests.count == 1)
        #expect(logs.lines.first { $0.level == .error }?.metadata["reason"] == "HTTP 404: error")
    }

    @Test func aHangingWebhookNeverBlocksTheAlerts() async throws {
        let receiver = try WebhookReceiver.start()
        defer { receiver.stop() }
        receiver.hold()
        let logs = LogCapture()
        let alerts = FailureAlerts(
            // A timeout longer than the hold, even on a loaded machine: a POST timed out and sent again
            // would reach the receiver twice.
            threshold: 1, dispatcher: try dispatcher(receiver, logs: logs, queueCapacity: 4, timeout: .seconds(60)))
        // Each of these raises an alert while the webhook holds the first POST unanswered: the
        // queue fills, the rest are dropped, and no call waits.
        for index in 0..<50 {
            let entry = RunAlertEntry(event: .failed, subject: .handler("family.h\(index)"), queue: "q", failures: 1, jobID: "J", error: "x", at: Date())
            #expect(alerts.handle(entry) != nil)
        }
        #expect(await receiver.requests(atLeast: 1).count == 1)
        let dropped = alerts.dispatcher.droppedCount
        #expect(dropped >= 45)
        #expect(logs.lines.filter { $0.level == .critical }.count == 50, "every alert is logged, sent or not")
        receiver.release()
        #expect(alerts.shutdown(timeout: .seconds(20)))
        #expect(receiver.requests.count + dropped == 50)
    }

    @Test func anUnreachableWebhookNeverBlocksTheAlerts() async throws {
        let closed = try WebhookReceiver.start()
        closed.stop()
        try await Task.sleep(for: .milliseconds(50))  // let the accept loop close the socket
        let logs = LogCapture()
        let webhook = AlertWebhook(url: SecretURL(try #require(URL(string: closed.url))), timeout: .seconds(2))
        let alerts = FailureAlerts(
            threshold: 3, dispatcher: AlertDispatcher(hostName: "test-host", webhook: webhook, logger: logs.logger, retryDelays: fastRetries))
        for run in 1...5 { alerts.handle(failedRun(run, error: "x")) }
        #expect(alerts.shutdown(timeout: .seconds(20)))
        let gaveUp = try #require(logs.lines.first { $0.level == .error })
        #expect(gaveUp.metadata["reason"] == "connection refused")
        #expect(!logs.lines.contains { $0.allText.contains("/hook") })
    }

    @Test func withoutAWebhookAlertsAreOnlyLogged() throws {
        let logs = LogCapture()
        let alerts = try FailureAlerts(settings: AlertSettings(), hostName: "h", logger: logs.logger, environment: [:])
        #expect(alerts.dispatcher.webhook == nil)
        for run in 1...3 { alerts.handle(failedRun(run, error: "x")) }
        #expect(alerts.shutdown(timeout: .seconds(1)))
        #expect(logs.lines.map(\.level) == [.critical])
    }
}

struct AlertSetupTests {
    let location = SourceLocation(file: "host.yaml", line: 42, column: 20)

    func settings(_ variable: String?) -> AlertSettings {
        AlertSettings(webhookURLEnvironmentVariable: variable, fieldLocations: ["webhook_url_env": location])
    }

    @Test func aMissingVariableIsAClearStartupError() {
        #expect {
            try AlertWebhook.resolve(settings("JOBHOST_ALERT_WEBHOOK"), environment: [:])
        } throws: { error in
            "\(error)" == "host.yaml:42:20: alerts.webhook_url_env: environment variable JOBHOST_ALERT_WEBHOOK is not set; "
                + "set it to the webhook URL, or remove webhook_url_env to only log alerts"
        }
    }

    @Test(arguments: ["ftp://hooks.example.com/canary-secret", "hooks.example.com/canary-secret", "https:///canary-secret", "  "])
    func aValueThatIsNotAnHTTPURLIsRefusedWithoutShowingIt(value: String) {
        #expect {
            try AlertWebhook.resolve(settings("HOOK"), environment: ["HOOK": value])
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("host.yaml:42:20: alerts.webhook_url_env: environment variable HOOK ")
                && !message.contains("canary-secret")
        }
    }

    @Test func anHTTPSURLResolvesAndPrintsMasked() throws {
        let webhook = try #require(
            try AlertWebhook.resolve(settings("HOOK"), environment: ["HOOK": "https://hooks.slack.com/services/T0/B0/canary-secret\n"]))
        #expect(webhook.url.revealed.absoluteString == "https://hooks.slack.com/services/T0/B0/canary-secret")
        #expect("\(webhook)" == "https://hooks.slack.com/***")
        #expect(webhook.timeout == .seconds(5))
    }

    @Test func noVariableMeansNoWebhook() throws {
        #expect(try AlertWebhook.resolve(settings(nil), environment: ["JOBHOST_ALERT_WEBHOOK": "https://x.example"]) == nil)
    }
}
