import Alerting
import Backend
import Foundation
import HostConfig
import JobHostTesting
import Logging
import Monitoring
import RedisBackend
import HostDomain
import Synchronization
import Testing

/// Prometheus text: the value of one sample, found by its name and labels as written.
func sample(_ exposition: [UInt8], _ series: String) -> Double? {
    for line in String(decoding: exposition, as: UTF8.self).split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}

func finished(_ handler: String, queue: String = "default", _ result: FinishedJob.Result, timedOut: Bool = false, crashed: Bool = false,
              ran: Duration? = .milliseconds(30), error: String? = nil) -> FinishedJob {
    FinishedJob(
        queue: queue, handler: handler, jobID: JobID.generate(), attempt: 1, result: result, timedOut: timedOut, crashed: crashed,
        runTime: ran, error: error)
}

struct HostMetricsTests {
    @Test func finishedJobsAreCountedByOutcomeQueueAndHandler() {
        let metrics = HostMetrics()
        metrics.record([
            finished("a.ok", .succeeded), finished("a.ok", .succeeded, ran: .seconds(3)),
            finished("a.flaky", .retried, error: "x"), finished("a.flaky", .dead, timedOut: true, ran: nil, error: "timeout"),
            finished("a.crash", queue: "other", .retried, crashed: true, error: "worker crashed"),
        ])
        let text = metrics.exposition()
        func value(_ series: String) -> Double? { sample(text, "jobhost_\(series)") }
        #expect(value(#"jobs_completed_total{queue="default",handler="a.ok"}"#) == 2)
        #expect(value(#"jobs_failed_total{queue="default",handler="a.ok"}"#) == 0)
        #expect(value(#"jobs_failed_total{queue="default",handler="a.flaky"}"#) == 2, "a retry and a death are both failures")
        #expect(value(#"jobs_retried_total{queue="default",handler="a.flaky"}"#) == 1)
        #expect(value(#"jobs_dead_total{queue="default",handler="a.flaky"}"#) == 1)
        #expect(value(#"jobs_timed_out_total{queue="default",handler="a.flaky"}"#) == 1)
        #expect(value(#"jobs_crashed_total{queue="other",handler="a.crash"}"#) == 1)
        #expect(value(#"jobs_crashed_total{queue="default",handler="a.flaky"}"#) == 0)
        // Run times: one of 30 ms, one of 3 s; a job that never returned has none.
        #expect(value(#"job_duration_seconds_count{queue="default",handler="a.ok"}"#) == 2)
        #expect(value(#"job_duration_seconds_bucket{queue="default",handler="a.ok",le="0.1"}"#) == 1)
        #expect(value(#"job_duration_seconds_bucket{queue="default",handler="a.ok",le="5.0"}"#) == 2)
        #expect(value(#"job_duration_seconds_count{queue="default",handler="a.flaky"}"#) == 1)
    }

    /// Handler names come with the jobs: made-up ones past the limit share one series, `other`.
    @Test func handlerSeriesAreBoundedAndTheRestCountAsOther() {
        let metrics = HostMetrics()
        metrics.record((0..<500).map { finished("made.up\($0)", .succeeded) })
        metrics.record([finished("made.up0", .succeeded), finished("one.more", .succeeded), finished("and.another", .dead, error: "x")])
        let text = metrics.exposition()
        #expect(sample(text, #"jobhost_jobs_completed_total{queue="default",handler="made.up0"}"#) == 2, "known series keep counting")
        #expect(sample(text, #"jobhost_jobs_completed_total{queue="default",handler="one.more"}"#) == nil)
        #expect(sample(text, #"jobhost_jobs_completed_total{queue="default",handler="other"}"#) == 1)
        #expect(sample(text, #"jobhost_jobs_dead_total{queue="default",handler="other"}"#) == 1)
    }

    @Test func scheduleFiresLagAlertsAndFailedPasses() {
        let metrics = HostMetrics()
        metrics.fired(schedule: "tick", lag: .milliseconds(250))
        metrics.fired(schedule: "tick", lag: .milliseconds(1500))
        metrics.alerted("raised", about: ("handler", "a.flaky"))
        metrics.passFailed(schedule: "tick")
        let text = metrics.exposition()
        #expect(sample(text, #"jobhost_schedule_fires_total{schedule="tick"}"#) == 2)
        #expect(sample(text, #"jobhost_schedule_lag_seconds{schedule="tick"}"#) == 1.5, "the last fire's lag")
        #expect(sample(text, #"jobhost_alerts_total{kind="raised",about="handler",name="a.flaky"}"#) == 1)
        #expect(sample(text, #"jobhost_schedule_failures_total{schedule="tick"}"#) == 1)
    }
}

struct TaskHealthTests {
    @Test func streaksResetOnSuccessAndKeepTheLastError() throws {
        let health = TaskHealth()
        health.record([finished("b.job", .retried, error: "first"), finished("b.job", .dead, error: "second")])
        var task = try #require(health.all.first)
        #expect(task.failed == 2 && task.consecutiveFailures == 2 && task.succeeded == 0)
        #expect(task.lastError == "second" && task.lastFailureAt != nil && task.lastSuccessAt == nil)
        health.record([finished("b.job", .succeeded)])
        task = try #require(health.all.first)
        #expect(task.consecutiveFailures == 0 && task.succeeded == 1 && task.failed == 2)
        #expect(task.lastError == "second", "the last error stays for operators to read")
        #expect(task.lastSuccessAt != nil)
    }

    @Test func aStreakCountsTheRunsInARowOfTheLastOutcome() {
        let health = TaskHealth()
        #expect(health.streak(handler: "b.job") == TaskHealth.Streak(), "a handler that never ran")
        health.record([finished("b.job", .succeeded), finished("b.job", .succeeded), finished("b.job", .retried, error: "boom")])
        var streak = health.streak(handler: "b.job")
        #expect(streak.successes == 0 && streak.failures == 1 && streak.lastError == "boom")
        let lastRun = health.all.first?.lastFailureAt
        #expect(streak.lastRunAt != nil && streak.lastRunAt == lastRun)
        health.record([finished("b.job", .succeeded), finished("b.job", .succeeded), finished("b.job", .succeeded)])
        streak = health.streak(handler: "b.job")
        #expect(streak.successes == 3 && streak.failures == 0)
        #expect(streak.lastError == "boom", "the last error stays for operators to read")
        #expect(streak.lastRunAt == health.all.first?.lastSuccessAt)
        #expect(health.all.first?.consecutiveSuccesses == 3)
        #expect(health.streak(handler: "other.job") == TaskHealth.Streak())
    }

    @Test func tasksAreKeptByQueueAndHandlerSortedAndBounded() {
        let health = TaskHealth()
        health.record([finished("z.last", .succeeded), finished("a.first", queue: "q2", .succeeded), finished("a.first", .succeeded)])
        #expect(health.all.map { "\($0.handler)@\($0.queue)" } == ["a.first@default", "a.first@q2", "z.last@default"])
        let long = String(repeating: "é", count: 800)
        health.record([finished("a.first", .retried, error: long)])
        #expect(health.all.first?.lastError == String(repeating: "é", count: 500), "errors are cut to 500 characters")
        health.record((0..<600).map { finished("made.up\($0)", .succeeded) })
        #expect(health.all.count == 500, "made-up handler names do not grow it without bound")
        #expect(health.all.contains { $0.handler == "z.last" }, "those tracked before stay")
    }
}

struct HostMonitorTests {
    static func alerts(_ logs: LogCapture, threshold: Int) -> FailureAlerts {
        FailureAlerts(threshold: threshold, dispatcher: AlertDispatcher(hostName: "h", webhook: nil, logger: logs.logger))
    }

    /// One batch of finished jobs reaches the metrics and the task health; alerts on runs come from
    /// the backend's count (``RunAlertPump``), not from what this host saw finish.
    @Test func finishedJobsFanOutToMetricsAndTasksButRaiseNoAlert() throws {
        let logs = LogCapture()
        let monitor = HostMonitor(alerts: Self.alerts(logs, threshold: 1))
        monitor.finished([finished("c.bad", .retried, error: "boom"), finished("c.bad", .dead, error: "boom again"), finished("c.ok", .succeeded)])
        monitor.finished([finished("c.bad", .succeeded)])
        monitor.alerted(.raised(.handler("c.bad", queue: "default"), failures: 3, lastError: "boom again"))
        monitor.alerted(.jobDead(.handler("c.bad", queue: "default"), job: AlertJob(id: "J", handler: "c.bad", error: "x"), failures: 1))
        monitor.shutdown(timeout: .seconds(10))

        let text = monitor.metrics.exposition()
        #expect(sample(text, #"jobhost_jobs_failed_total{queue="default",handler="c.bad"}"#) == 2)
        #expect(sample(text, #"jobhost_jobs_completed_total{queue="default",handler="c.ok"}"#) == 1)
        #expect(sample(text, #"jobhost_alerts_total{kind="raised",about="handler",name="c.bad"}"#) == 1)
        #expect(sample(text, #"jobhost_alerts_total{kind="job_dead",about="handler",name="c.bad"}"#) == 1)
        let tasks = Dictionary(uniqueKeysWithValues: monitor.tasks.all.map { ($0.handler, $0) })
        #expect(tasks["c.bad"]?.failed == 2 && tasks["c.bad"]?.succeeded == 1 && tasks["c.bad"]?.consecutiveFailures == 0)
        #expect(tasks["c.ok"]?.succeeded == 1)
        #expect(logs.lines.filter { $0.level == .critical }.isEmpty, "finished jobs alert nothing here: \(logs.lines.map(\.allText))")
    }

    /// A scheduler passes five times a second: failed passes of one schedule count toward its alert
    /// at most once in ten seconds, though every one is counted in the metrics.
    @Test func failedSchedulerPassesCountOnceTowardTheAlertButEachInTheMetrics() {
        let logs = LogCapture()
        let monitor = HostMonitor(alerts: Self.alerts(logs, threshold: 2))
        for _ in 0..<5 { monitor.passed(schedule: "tick", error: "backend down") }
        monitor.passed(schedule: "tock", error: "backend down")
        monitor.shutdown(timeout: .seconds(10))
        #expect(sample(monitor.metrics.exposition(), #"jobhost_schedule_failures_total{schedule="tick"}"#) == 5)
        #expect(logs.lines.filter { $0.level == .critical }.isEmpty, "one counted failure of each is below the threshold of 2")
        #expect(sample(monitor.metrics.exposition(), #"jobhost_alerts_total{kind="raised",about="schedule_enqueue",name="tick"}"#) == nil)
    }

    @Test func firesReachTheMetrics() {
        let monitor = HostMonitor()
        monitor.fired(schedule: "tick", at: Date(), lag: .milliseconds(40))
        monitor.passed(schedule: "tick", error: nil)
        #expect(sample(monitor.metrics.exposition(), #"jobhost_schedule_fires_total{schedule="tick"}"#) == 1)
        #expect(sample(monitor.metrics.exposition(), #"jobhost_schedule_failures_total{schedule="tick"}"#) == nil)
    }
}

struct BlockingCallTests {
    @Test func returnsTheCallsValue() async {
        #expect(await blockingCall(timeout: .seconds(60)) { 42 } == 42)
    }

    /// A call still blocked when its caller gives up yields nil, and runs on to its end.
    @Test func aCallThatDoesNotReturnInTimeYieldsNilAndStillRunsToItsEnd() async throws {
        let gate = DispatchSemaphore(value: 0)
        let ended = Atomic<Bool>(false)
        let result = try await withinBound("blockingCall to give up on a call blocked until released") {
            await blockingCall(timeout: .milliseconds(200)) { () -> Int in  // blocked until released
                gate.wait()
                ended.store(true, ordering: .releasing)
                return 7
            }
        }
        #expect(result == nil)
        let endedEarly = ended.load(ordering: .acquiring)
        #expect(!endedEarly, "the call had not returned when it was given up on")
        gate.signal()
        try await waitUntil("the blocked call to finish once released") { ended.load(ordering: .acquiring) }
    }
}

/// The probe against a real Redis: what it reports, and that a hung server is not asked again
/// while an earlier check of it is still out.
@Suite(.serialized)
struct HostProbeTests {
    static func setup(_ redis: RedisServer) throws -> (HostConfiguration, RedisBackend) {
        let config = try ConfigLoader(environment: [:]).load(
            text: """
                backends:
                  main: { type: redis, url: "\(redis.url)", key_prefix: p }
                queues:
                  default: {}
                  other: {}
                """, file: "test.yaml", directory: URL(fileURLWithPath: "/"))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return (config, RedisBackend(url: redis.url, keyPrefix: "p", connectTimeout: .seconds(2), commandTimeout: .seconds(30), logger: logger))
    }

    @Test func aSnapshotFeedsTheGaugesAndAWorkersRestartsCountOnce() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let (config, backend) = try Self.setup(redis)
        _ = try backend.enqueue((0..<3).map { _ in NewJob(queue: "default", handler: "x.y", payload: Data("{}".utf8), maxAttempts: 1) })
        try backend.setPaused(queue: "other", true)
        let restarts = Mutex(2)
        let probe = HostProbe(
            config: config, backends: ["main": backend],
            sources: .init(
                workers: { [HostSnapshot.WorkerHealth(name: "default.1", queue: "default", pid: 4242, held: 1, running: 1, restarts: restarts.withLock { $0 })] },
                runningInProcess: { ["other": 2] }),
            scheduler: SchedulerWatch())
        let snapshot = await probe.snapshot(timeout: .seconds(30))
        #expect(snapshot.status == .ok, "\(snapshot.problems)")
        #expect(snapshot.backends.map(\.up) == [true])
        #expect(snapshot.queues.first { $0.name == "default" }?.stats?.ready == 3)
        #expect(snapshot.queues.first { $0.name == "other" }?.paused == true)
        #expect(snapshot.queues.map(\.runningHere) == [1, 2], "in workers and in this process")

        let metrics = HostMetrics()
        metrics.update(from: snapshot)
        metrics.update(from: await probe.snapshot(timeout: .seconds(30)))
        var text = metrics.exposition()
        #expect(sample(text, #"jobhost_backend_up{backend="main"}"#) == 1)
        #expect(sample(text, #"jobhost_queue_jobs{queue="default",state="ready"}"#) == 3)
        #expect(sample(text, #"jobhost_queue_paused{queue="other"}"#) == 1 && sample(text, #"jobhost_queue_paused{queue="default"}"#) == 0)
        #expect(sample(text, #"jobhost_jobs_running{queue="other"}"#) == 2)
        #expect(sample(text, #"jobhost_worker_up{worker="default.1"}"#) == 1)
        #expect(sample(text, #"jobhost_worker_restarts_total{worker="default.1"}"#) == 2, "two snapshots of the same restarts count them once")
        restarts.withLock { $0 = 5 }
        metrics.update(from: await probe.snapshot(timeout: .seconds(30)))
        text = metrics.exposition()
        #expect(sample(text, #"jobhost_worker_restarts_total{worker="default.1"}"#) == 5)
    }

    @Test func aHungServerIsNotAskedAgainUntilItsCheckReturns() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let (config, backend) = try Self.setup(redis)
        let probe = HostProbe(config: config, backends: ["main": backend], sources: .init(), scheduler: SchedulerWatch())
        #expect(await probe.snapshot(timeout: .seconds(30)).status == .ok)

        kill(redis.pid, SIGSTOP)
        defer { kill(redis.pid, SIGCONT) }
        let first = await probe.snapshot(timeout: .milliseconds(300))
        #expect(first.status == .unhealthy)
        #expect(first.backends.first?.error == "no answer within 0.3 s", "\(first.backends)")
        #expect(first.queues.allSatisfy { $0.stats == nil })
        #expect(first.problems.first?.hasPrefix("backend 'main' does not answer") == true)
        let second = await probe.snapshot(timeout: .milliseconds(300))
        #expect(second.backends.first?.error == "no answer: its previous check, given up on, has still not returned", "\(second.backends)")

        kill(redis.pid, SIGCONT)
        try await waitUntil("the probe to see the server answer again") { await probe.snapshot(timeout: .seconds(30)).status == .ok }
    }
}
