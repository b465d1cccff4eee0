import Backend
import Foundation
import HostConfig
import HostDomain
import Testing
@testable import Supervisor

struct WorkerReportTests {
    static let held = WorkerReport.HeldJob(
        number: 7, lease: Lease(queue: "default", jobID: "01JOB", token: "t-9"), handler: "test.noop", attempt: 2, maxAttempts: 5,
        crashes: 1)

    @Test(arguments: [
        WorkerReport.loading(plugin: "TestPlugin"), .ready, .survey(json: #"{"plugins":[]}"#), .held(held),
        .started(number: 7, timeoutMilliseconds: 29_995), .started(number: 8, timeoutMilliseconds: -3), .returned(number: 7),
        .letGo(number: 123_456_789, run: nil),
        .letGo(number: 4, run: WorkerReport.Run(result: .succeeded, runTime: .microseconds(1234))),
        .letGo(number: 5, run: WorkerReport.Run(result: .retried, timedOut: true, runTime: nil, error: "timeout: the handler did not stop")),
        .letGo(number: 6, run: WorkerReport.Run(result: .dead, crashed: true, runTime: .seconds(2), error: "")),
        .crashedBySignal(signal: 11, jobID: "01JOB"), .exitedInHandler(status: 3, jobID: "01JOB"),
        .trial(json: TrialEvent.log(TrialLogLine(level: "info", message: "a\tb\nc", fromInit: false)).json),
    ])
    func everyReportReadsBackAsWritten(_ report: WorkerReport) {
        var bytes: [UInt8] = []
        report.write(to: &bytes)
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(WorkerReport(line: bytes.dropLast()) == report)
    }

    /// A job's error travels on one line: tabs and newlines become spaces, and it is cut to a bounded length.
    @Test func anErrorIsKeptOnOneBoundedLine() {
        var bytes: [UInt8] = []
        let error = "line one\nline\ttwo" + String(repeating: "x", count: 2000)
        WorkerReport.letGo(number: 1, run: WorkerReport.Run(result: .dead, error: error)).write(to: &bytes)
        guard case .letGo(1, let outcome?) = WorkerReport(line: bytes.dropLast()) else {
            Issue.record("not read back")
            return
        }
        #expect(outcome.error?.hasPrefix("line one line two") == true)
        #expect(outcome.error?.utf8.count == WorkerReport.errorLimit)
    }

    @Test(arguments: ["", "S\t1", "S\tx\t5", "E\t", "E\t1\tq\t0\t5", "E\t1\ts\t0", "D\t1\t2", "H\t1\tq", "Q\tnothing", "C\tSIGSEGV\tid", "E\t99999999999999999999999"])
    func aLineThatIsNotAReportIsRefused(_ line: String) {
        #expect(WorkerReport(line: ArraySlice(line.utf8)) == nil)
    }

    /// The line the C crash reporter writes: "C\t<signal>\t<job id>\n".
    @Test func theCrashReportersLineNamesTheJob() {
        #expect(WorkerReport(line: ArraySlice("C\t11\t01ABC".utf8)) == .crashedBySignal(signal: 11, jobID: "01ABC"))
    }
}

struct WorkerLedgerTests {
    let now = ContinuousClock.now

    func ledger() -> WorkerLedger {
        var ledger = WorkerLedger()
        for number in 1...3 {
            var job = WorkerReportTests.held
            job.number = number
            job.lease.jobID = "job\(number)"
            ledger.apply(.held(job), grace: .seconds(1), now: now)
        }
        return ledger
    }

    @Test func aJobIsOverdueOnlyPastItsDeadlinePlusGraceWhileItsHandlerRuns() {
        var ledger = ledger()
        ledger.apply(.started(number: 1, timeoutMilliseconds: 2000), grace: .seconds(1), now: now)
        ledger.apply(.started(number: 2, timeoutMilliseconds: 2000), grace: .seconds(1), now: now)
        ledger.apply(.returned(number: 2), grace: .seconds(1), now: now)
        #expect(ledger.overdue(at: now + .milliseconds(2999)).isEmpty)
        #expect(ledger.overdue(at: now + .seconds(3)) == [1])
        ledger.culprits[1] = "timeout"
        #expect(ledger.overdue(at: now + .seconds(4)).isEmpty, "blamed once")
        #expect(ledger.apply(.letGo(number: 3, run: nil), grace: .seconds(1), now: now) == nil)
        #expect(Set(ledger.held.keys) == [1, 2])
    }

    /// A job let go of with its outcome is told, with the queue, handler and attempt its held line gave.
    @Test func aFinishedJobIsToldWithWhatItsHeldLineSaid() {
        var ledger = ledger()
        let outcome = WorkerReport.Run(result: .retried, runTime: .milliseconds(3), error: "boom")
        let finished = ledger.apply(.letGo(number: 2, run: outcome), grace: .seconds(1), now: now)
        #expect(finished == FinishedJob(queue: "default", handler: "test.noop", jobID: "job2", attempt: 2, result: .retried, runTime: .milliseconds(3), error: "boom"))
        #expect(ledger.apply(.letGo(number: 2, run: outcome), grace: .seconds(1), now: now) == nil, "told once")
    }

    @Test func aCrashLineBlamesTheJobItNames() {
        var ledger = ledger()
        ledger.apply(.crashedBySignal(signal: 11, jobID: "job2"), grace: .seconds(1), now: now)
        ledger.apply(.exitedInHandler(status: 3, jobID: "unknown"), grace: .seconds(1), now: now)
        #expect(ledger.culprits == [2: "worker crashed: SIGSEGV"])
    }
}

struct CrashSettlementTests {
    func config(crashLimit: Int = 3) throws -> HostConfiguration {
        try ConfigLoader(environment: [:]).load(
            text: """
                host: { crash_limit: \(crashLimit) }
                backends: { main: { type: redis, url: "redis://127.0.0.1:1" } }
                queues:
                  default: { concurrency: 5, workers: 2, retry: { base: 10s, jitter: 0 } }
                """, path: "/tmp/host.yaml")
    }

    func ledger(running: [Int], crashes: Int = 0, attempt: Int = 1) -> WorkerLedger {
        var ledger = WorkerLedger()
        for number in 1...3 {
            var job = WorkerReportTests.held
            job.number = number
            job.lease.jobID = "job\(number)"
            job.crashes = crashes
            job.attempt = attempt
            ledger.apply(.held(job), grace: .seconds(1), now: .now)
            if running.contains(number) { ledger.apply(.started(number: number, timeoutMilliseconds: 1000), grace: .zero, now: .now) }
        }
        return ledger
    }

    func byJob(_ items: [(Lease, Settlement)]) -> [String: Settlement] {
        Dictionary(uniqueKeysWithValues: items.map { ($0.0.jobID, $0.1) })
    }

    @Test func theJobToBlameFailsItsAttemptAndTheOthersGoBackUntouched() throws {
        var ledger = ledger(running: [1, 2])
        ledger.apply(.crashedBySignal(signal: 11, jobID: "job1"), grace: .seconds(1), now: .now)
        let result = byJob(CrashSettlement(config: try config()).settlements(for: ledger, exit: .signalled(11), shuttingDown: false))
        #expect(result["job1"] == .ended(.crashed(retryAfter: .seconds(10), error: "worker crashed: SIGSEGV"), .crash(signal: "SIGSEGV")))
        #expect(result["job2"] == .release && result["job3"] == .release)
    }

    @Test func aJobAtTheCrashLimitIsDeadAsPoisonAndOneOutOfAttemptsIsDead() throws {
        var poison = ledger(running: [1], crashes: 2)
        poison.culprits[1] = "worker crashed: SIGABRT"
        let dead = byJob(CrashSettlement(config: try config()).settlements(for: poison, exit: .signalled(6), shuttingDown: false))
        #expect(dead["job1"] == .ended(
            .crashed(retryAfter: nil, error: "poison job: its worker ended 3 times while running it; last: worker crashed: SIGABRT"),
            .crash(signal: nil)))
        var last = ledger(running: [1], attempt: 5)
        last.culprits[1] = "timeout"
        last.timedOut.insert(1)
        let lastAttempt = byJob(CrashSettlement(config: try config()).settlements(for: last, exit: .signalled(9), shuttingDown: false))
        #expect(lastAttempt["job1"] == .ended(.crashed(retryAfter: nil, error: "timeout"), .timeout))
    }

    @Test func whenNobodyIsNamedEveryRunningJobIsASuspectReadyAgainAtOnce() throws {
        let ledger = ledger(running: [1, 3])
        let result = byJob(CrashSettlement(config: try config()).settlements(for: ledger, exit: .signalled(9), shuttingDown: false))
        #expect(result["job1"] == .ended(.crashed(retryAfter: .zero, error: "worker died (SIGKILL) while running it"), .crash(signal: "SIGKILL")))
        #expect(result["job3"] == .ended(.crashed(retryAfter: .zero, error: "worker died (SIGKILL) while running it"), .crash(signal: "SIGKILL")))
        #expect(result["job2"] == .release)
    }

    @Test func aCleanExitOrAShutdownHandsEverythingBack() throws {
        let ledger = ledger(running: [1])
        let settlement = CrashSettlement(config: try config())
        #expect(settlement.settlements(for: ledger, exit: .exited(status: 0), shuttingDown: false).allSatisfy { $0.1 == .release })
        #expect(settlement.settlements(for: ledger, exit: .signalled(9), shuttingDown: true).allSatisfy { $0.1 == .release })
    }

    @Test func aQueuesConcurrencyIsSplitAmongItsWorkers() throws {
        var queue = try #require(try config().queues.first)
        #expect(Supervisor.shares(of: queue) == [3, 2])
        queue.workers = 8
        #expect(Supervisor.shares(of: queue) == [1, 1, 1, 1, 1], "no worker without a slot")
    }
}

/// The launch contract: what a supervisor writes on a worker's control pipe is what the worker reads.
struct WorkerAssignmentTests {
    @Test func theHandshakeReadsBackAsWrittenAndLeavesTheCommandsThatFollow() throws {
        let assignment = WorkerAssignment(
            configFile: "/etc/jobhost/host.yaml", slots: ["default": 3, "ai": 1], memoryLimit: 512 << 20, maxJobs: 1000, name: "default.2",
            skipped: ["Broken"], verbose: true, logFormat: .json)
        let configText = "queues:\n  default: {}\n# é and a tab\t\n"
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let bytes = [UInt8](assignment.handshake(configText: configText)) + Array("drain\n".utf8)
        #expect(bytes.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) } == bytes.count)
        close(fds[1])

        let first = try #require(WorkerAssignment.readFrame(from: fds[0]))
        #expect(try JSONDecoder().decode(WorkerAssignment.self, from: first) == assignment)
        #expect(try #require(WorkerAssignment.readFrame(from: fds[0])) == Data(configText.utf8))
        var rest = [UInt8](repeating: 0, count: 16)
        #expect(read(fds[0], &rest, rest.count) == 6, "the drain command is left on the pipe")
        #expect(WorkerAssignment.readFrame(from: fds[0]) == nil, "a closed pipe ends the handshake")
    }

    @Test func onlyTheCommandAndALabelTravelOnTheCommandLine() {
        #expect(WorkerAssignment(configFile: "x", name: "default.1").arguments == ["worker", "default.1"])
        #expect(WorkerAssignment(configFile: "x", surveyOnly: true).arguments == ["worker", "survey"])
        let trial = TrialRequest(
            plugin: "Greeter", handler: "greeter.hello", payload: Data("{}".utf8), jobID: "01JOB", queue: "default", attempt: 1,
            maxAttempts: 3, timeout: .seconds(5))
        #expect(WorkerAssignment(configFile: "x", trial: trial).arguments == ["worker", "try"])
    }

    /// `host try`'s job travels in the assignment, payload bytes and all.
    @Test func aTrialReadsBackAsWritten() throws {
        let trial = TrialRequest(
            plugin: "Greeter", handler: "greeter.hello", payload: Data([0x7B, 0x7D, 0xFF]), jobID: "01JOB", queue: "default", attempt: 2,
            maxAttempts: 3, timeout: .milliseconds(1500))
        let assignment = WorkerAssignment(configFile: "x", name: "try", trial: trial)
        let decoded = try JSONDecoder().decode(WorkerAssignment.self, from: JSONEncoder().encode(assignment))
        #expect(decoded == assignment)
        #expect(decoded.trial?.timeout == .milliseconds(1500))
    }

    /// Every event `host try`'s worker sends reads back as sent, on one line.
    @Test func trialEventsTravelOnOneLine() throws {
        let events: [TrialEvent] = [
            .loaded(TrialPlugin(name: "Greeter", version: "1.0.0", abi: "1.0", path: "/p/libGreeter.so")), .started,
            .log(TrialLogLine(level: "debug", message: "two\nlines\tand a tab", fromInit: true)),
            .enqueued(TrialChainedJob(handler: "echo.log", queue: "default", payload: "{\"a\":1}", delayMilliseconds: 5, uniqueKey: nil, maxAttempts: 3, id: "02JOB")),
            .finished(TrialFinish(status: .retry, error: "nope", retryDelayMilliseconds: 1500, result: #"{"n":1}"#, runTimeMicroseconds: 42)),
            .refused("plugin 'X': init check failed"),
        ]
        for event in events {
            #expect(!event.json.contains("\n") && !event.json.contains("\t"))
            #expect(try JSONDecoder().decode(TrialEvent.self, from: Data(event.json.utf8)) == event)
        }
    }
}
