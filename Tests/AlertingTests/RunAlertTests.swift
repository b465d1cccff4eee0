import Alerting
import Backend
import Foundation
import HostConfig
import JobHostTesting
import Logging
import SQLiteBackend
import Testing

/// What an outbox entry alerts on: the decision, without I/O.
struct RunAlertDecisionTests {
    let alerts = FailureAlerts(
        threshold: 3, critical: CriticalHandlers(["noctua.*", "company_context.rewrite"]),
        dispatcher: AlertDispatcher(hostName: "h", webhook: nil, logger: Logger(label: "test")))

    func failed(_ handler: String, _ failures: Int) -> RunAlertEntry {
        RunAlertEntry(
            event: .failed, subject: .handler(handler), queue: "q", failures: failures, jobID: "J\(failures)", handler: handler,
            error: "e\(failures)", at: Date())
    }

    func ended(_ handler: String, _ failures: Int) -> RunAlertEntry {
        RunAlertEntry(event: .ended, subject: .handler(handler), queue: "q", failures: failures, at: Date())
    }

    @Test func aStreakAlertsOnceAtTheThresholdAndRecoversOnce() {
        #expect((1...6).compactMap { alerts.event(for: failed("worlds.cleanup", $0)) } == [
            .raised(.handler("worlds.cleanup", queue: "q"), failures: 3, lastError: "e3",
                lastJob: AlertJob(id: "J3", handler: "worlds.cleanup", error: "e3")),
        ])
        #expect(alerts.event(for: ended("worlds.cleanup", 6)) == .recovered(.handler("worlds.cleanup", queue: "q"), afterFailures: 6))
        #expect(alerts.event(for: ended("worlds.cleanup", 2)) == nil, "a streak that never alerted ends quietly")
    }

    @Test func everyDeadJobOfACriticalHandlerAlertsAndItsRecoveryFollows() {
        let events = (1...4).compactMap { alerts.event(for: failed("noctua.plan", $0)) }
        #expect(events.map(\.kind) == ["job_dead", "job_dead", "job_dead", "job_dead"], "no streak alert besides: \(events)")
        #expect(events.first == .jobDead(.handler("noctua.plan", queue: "q"), job: AlertJob(id: "J1", handler: "noctua.plan", error: "e1"), failures: 1))
        #expect(alerts.event(for: ended("noctua.plan", 1)) == .recovered(.handler("noctua.plan", queue: "q"), afterFailures: 1))
        #expect(alerts.event(for: failed("company_context.rewrite", 1))?.kind == "job_dead")
        #expect(alerts.event(for: failed("company_context.rewrite_all", 1)) == nil, "a name is not a prefix")
    }

    @Test(arguments: [
        ("noctua.*", "noctua.plan", true), ("noctua.*", "noctua.week.plan", true), ("noctua.*", "noctuax.plan", false),
        ("noctua.*", "noctua", false), ("*", "anything", true), ("worlds.sync", "worlds.sync", true), ("worlds.sync", "worlds.sync2", false),
    ])
    func criticalPatterns(pattern: String, handler: String, matches: Bool) {
        #expect(CriticalHandlers([pattern]).contains(handler) == matches)
    }

    /// The JSON an alert command reads: every field it documents, for each kind.
    @Test func theAlertJSONNamesTheJobHandlerQueueAndError() throws {
        let job = AlertJob(id: "01JOB", handler: "noctua.plan", error: "plan rejected")
        let dead = AlertEvent.jobDead(.handler("noctua.plan", queue: "content"), job: job, failures: 2)
            .json(hostName: "w7", message: "m", time: Date(timeIntervalSince1970: 0))
        #expect(dead["alert"] as? String == "job_dead")
        #expect(dead["subject"] as? String == "handler" && dead["name"] as? String == "noctua.plan")
        #expect(dead["queue"] as? String == "content" && dead["host"] as? String == "w7")
        #expect(dead["job_id"] as? String == "01JOB" && dead["handler"] as? String == "noctua.plan")
        #expect(dead["last_error"] as? String == "plan rejected" && dead["failures"] as? Int == 2)
        #expect(dead["time"] as? String == "1970-01-01T00:00:00Z" && dead["message"] as? String == "m")
        let enqueue = AlertEvent.raised(.scheduleEnqueue("tick"), failures: 3, lastError: "down").json(hostName: "w7", message: "m")
        #expect(enqueue["alert"] as? String == "schedule_enqueue_failed" && enqueue["subject"] as? String == "schedule_enqueue")
        #expect(enqueue["queue"] == nil && enqueue["job_id"] == nil)
        let recovered = AlertEvent.recovered(.schedule("tick", queue: "q"), afterFailures: 4).json(hostName: "w7", message: "m")
        #expect(recovered["alert"] as? String == "recovered" && recovered["subject"] as? String == "schedule" && recovered["failures"] as? Int == 4)
    }
}

/// The alert command: run with the alert as JSON on stdin, its failures logged, never blocking dispatch.
@Suite(.timeLimit(.minutes(2)))
struct AlertCommandTests {
    @Test func theCommandReceivesTheAlertAsJSONOnStdin() throws {
        let directory = try TemporaryDirectory.create(prefix: "jobhost-alert-command-")
        defer { try? directory.remove() }
        let output = directory.path + "/alert.json"
        let logs = LogCapture()
        let command = AlertCommand(arguments: ["sh", "-c", #"cat > "$0""#, output], timeout: .seconds(60))
        let dispatcher = AlertDispatcher(hostName: "w7", webhook: nil, command: command, logger: logs.logger)
        let job = AlertJob(id: "01JOB", handler: "noctua.plan", error: "plan \"rejected\"\nsecond line")
        dispatcher.dispatch(.jobDead(.handler("noctua.plan", queue: "content"), job: job, failures: 1))
        #expect(dispatcher.shutdown(timeout: .seconds(60)))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [String: Any])
        #expect(json["alert"] as? String == "job_dead")
        #expect(json["job_id"] as? String == "01JOB")
        #expect(json["handler"] as? String == "noctua.plan")
        #expect(json["queue"] as? String == "content")
        #expect(json["last_error"] as? String == "plan \"rejected\"\nsecond line")
        #expect(json["message"] as? String == "job 01JOB of critical handler noctua.plan ended dead")
        #expect(!logs.lines.contains { $0.level == .error }, "\(logs.lines.map(\.allText))")
    }

    @Test func aFailingCommandIsLoggedWithItsStatus() throws {
        let logs = LogCapture()
        let dispatcher = AlertDispatcher(
            hostName: "w7", webhook: nil, command: AlertCommand(arguments: ["sh", "-c", "exit 3"], timeout: .seconds(60)), logger: logs.logger)
        dispatcher.dispatch(.raised(.handler("a.b", queue: "q"), failures: 3, lastError: "x"))
        #expect(dispatcher.shutdown(timeout: .seconds(60)))
        let failure = try #require(logs.lines.first { $0.level == .error })
        #expect(failure.message == "alert command failed")
        #expect(failure.metadata["reason"] == "exited with status 3" && failure.metadata["command"] == "sh")
    }

    @Test func aMissingProgramIsLoggedByName() throws {
        let logs = LogCapture()
        let dispatcher = AlertDispatcher(
            hostName: "w7", webhook: nil, command: AlertCommand(arguments: ["jobhost-no-such-alert-program"], timeout: .seconds(60)),
            logger: logs.logger)
        dispatcher.dispatch(.raised(.handler("a.b", queue: "q"), failures: 3, lastError: "x"))
        #expect(dispatcher.shutdown(timeout: .seconds(60)))
        #expect(logs.lines.first { $0.level == .error }?.metadata["reason"] == "jobhost-no-such-alert-program not found on PATH")
    }

    /// A command that hangs is stopped at its timeout; the alerts after it still go out, and
    /// dispatching never waited for it.
    @Test func aHangingCommandIsStoppedAtItsTimeout() throws {
        let directory = try TemporaryDirectory.create(prefix: "jobhost-alert-command-")
        defer { try? directory.remove() }
        let output = directory.path + "/alerts"
        let logs = LogCapture()
        // The first alert hangs; the second appends a line.
        let script = #"if grep -q hang; then sleep 600; else echo sent >> "$0"; fi"#
        let dispatcher = AlertDispatcher(
            hostName: "w7", webhook: nil, command: AlertCommand(arguments: ["sh", "-c", script, output], timeout: .milliseconds(300)),
            logger: logs.logger)
        dispatcher.dispatch(.raised(.handler("a.b", queue: "q"), failures: 3, lastError: "hang"))
        dispatcher.dispatch(.raised(.handler("c.d", queue: "q"), failures: 3, lastError: "fine"))
        #expect(logs.lines.filter { $0.level == .critical }.count == 2, "both logged at once")
        #expect(dispatcher.shutdown(timeout: .seconds(60)))
        #expect(logs.lines.first { $0.level == .error }?.metadata["reason"] == "timed out after 0.3 seconds and was stopped")
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "sent\n")
    }
}

/// Run alerts from a real backend (a SQLite file), read by pumps the way hosts run them.
@Suite(.timeLimit(.minutes(2)))
struct RunAlertPumpTests {
    let logger = Logger(label: "test")

    func dead(_ backend: SQLiteBackend, _ handler: String, maxAttempts: Int = 3) throws {
        _ = try backend.enqueue([NewJob(queue: "q", handler: handler, payload: Data("{}".utf8), maxAttempts: maxAttempts)])
        for attempt in 1...maxAttempts {
            let job = try #require(try backend.fetch(queue: "q", limit: 1, lease: .seconds(60)).first)
            let settlement: Settlement = attempt < maxAttempts ? .retry(after: .zero, error: "attempt \(attempt)") : .dead(error: "gave up")
            _ = try backend.settle([(job.lease, settlement)])
        }
    }

    func done(_ backend: SQLiteBackend, _ handler: String) throws {
        _ = try backend.enqueue([NewJob(queue: "q", handler: handler, payload: Data("{}".utf8), maxAttempts: 3)])
        let job = try #require(try backend.fetch(queue: "q", limit: 1, lease: .seconds(60)).first)
        _ = try backend.settle([(job.lease, .done(retention: .seconds(60)))])
    }

    func pump(_ backend: SQLiteBackend, _ logs: LogCapture, critical: [String] = []) -> RunAlertPump {
        let alerts = FailureAlerts(
            threshold: 3, critical: CriticalHandlers(critical), dispatcher: AlertDispatcher(hostName: "h", webhook: nil, logger: logs.logger))
        return RunAlertPump(sources: [.init(queue: "q", store: backend)], alerts: alerts, logger: logger)
    }

    /// Two hosts on one backend, each ending some of the runs and each reading the outbox: one
    /// alert after three failed runs (nine failed attempts), from one of them; one recovery.
    @Test func twoHostsSeeOneStreakAndSendEachAlertOnce() throws {
        let directory = try TemporaryDirectory.create(prefix: "jobhost-run-alerts-")
        defer { try? directory.remove() }
        let path = directory.path + "/jobs.sqlite"
        let first = SQLiteBackend(path: path, busyTimeout: .seconds(20), logger: logger)
        let second = SQLiteBackend(path: path, busyTimeout: .seconds(20), logger: logger)
        let (logsA, logsB) = (LogCapture(), LogCapture())
        let (pumpA, pumpB) = (pump(first, logsA), pump(second, logsB))

        try dead(first, "worlds.cleanup")
        #expect(pumpA.runOnce().isEmpty && pumpB.runOnce().isEmpty, "one failed run of three attempts alerts nothing")
        try dead(second, "worlds.cleanup")
        try dead(first, "worlds.cleanup")
        let raised = pumpB.runOnce() + pumpA.runOnce()
        #expect(raised.map(\.kind) == ["failed_runs"])
        guard case .raised(let subject, let failures, let lastError, let job)? = raised.first else { return }
        #expect(subject == .handler("worlds.cleanup", queue: "q") && failures == 3 && lastError == "gave up")
        #expect(job?.handler == "worlds.cleanup" && job?.error == "gave up")
        try dead(second, "worlds.cleanup")
        try done(first, "worlds.cleanup")
        #expect(pumpA.runOnce() + pumpB.runOnce() == [.recovered(.handler("worlds.cleanup", queue: "q"), afterFailures: 4)])
        // Which host took which entry is theirs to settle; between them, each line once.
        let logged = (logsA.lines + logsB.lines).filter { $0.level == .critical || $0.level == .notice }
        #expect(logged.map(\.message).sorted() == [
            "handler worlds.cleanup failed 3 runs in a row", "handler worlds.cleanup succeeded again after 4 failed runs in a row",
        ])
    }

    /// The streak lives in the backend: a host that restarts (a new backend connection and pump)
    /// carries on counting where the old one left off.
    @Test func theStreakSurvivesARestartOfTheHost() throws {
        let directory = try TemporaryDirectory.create(prefix: "jobhost-run-alerts-")
        defer { try? directory.remove() }
        let path = directory.path + "/jobs.sqlite"
        let before = SQLiteBackend(path: path, busyTimeout: .seconds(20), logger: logger)
        let logs = LogCapture()
        try dead(before, "worlds.cleanup")
        try dead(before, "worlds.cleanup")
        #expect(pump(before, logs).runOnce().isEmpty)

        let after = SQLiteBackend(path: path, busyTimeout: .seconds(20), logger: logger)
        try dead(after, "worlds.cleanup")
        #expect(pump(after, logs).runOnce().map(\.kind) == ["failed_runs"])
    }

    /// A critical handler's dead job alerts at once, naming the job; a plain handler's does not.
    @Test func aCriticalHandlersDeadJobAlertsAtOnce() throws {
        let directory = try TemporaryDirectory.create(prefix: "jobhost-run-alerts-")
        defer { try? directory.remove() }
        let backend = SQLiteBackend(path: directory.path + "/jobs.sqlite", busyTimeout: .seconds(20), logger: logger)
        let logs = LogCapture()
        let pump = pump(backend, logs, critical: ["noctua.*"])
        try dead(backend, "noctua.plan", maxAttempts: 2)
        try dead(backend, "worlds.cleanup", maxAttempts: 1)
        let events = pump.runOnce()
        #expect(events.count == 1, "\(events)")
        guard case .jobDead(let subject, let job, let failures) = events.first else {
            Issue.record("not a job_dead alert: \(events)")
            return
        }
        #expect(subject == .handler("noctua.plan", queue: "q") && failures == 1)
        #expect(job.handler == "noctua.plan" && job.error == "gave up" && !job.id.isEmpty)
        #expect(logs.lines.first { $0.level == .critical }?.metadata["job.id"] == "\(job.id)")
    }
}
