import Backend
import Foundation
import Glibc
import JobHostTesting
import Testing

/// Process isolation through the real `host run`: handlers that crash, exit, hang or eat memory cost
/// only their own job; other queues keep running; poison jobs end in dead; killed workers and a killed
/// supervisor lose nothing.
@Suite(.serialized)
struct IsolationTests {
    /// A misbehaving handler, what its payload says, and the words its dead job's error must contain.
    struct Fault: Sendable, CustomTestStringConvertible {
        let handler: String
        let payload: String
        let reason: String
        var testDescription: String { handler }

        static let all = [
            Fault(handler: "test.segfault", payload: "{}", reason: "worker crashed: SIGSEGV"),
            Fault(handler: "test.abort", payload: "{}", reason: "worker crashed: SIGABRT"),
            Fault(handler: "test.exit", payload: "{}", reason: "the handler called exit(3)"),
            Fault(handler: "test.spin", payload: "{}", reason: "timeout: the handler did not stop within 500ms of its deadline"),
            Fault(handler: "test.sleep", payload: #"{"ms": 60000, "ignore_cancel": true}"#, reason: "timeout: the handler did not stop"),
            // Allocations fail past twice the memory limit; the handler dies of it (SIGILL: a Swift trap).
            Fault(handler: "test.hog", payload: "{}", reason: "worker crashed: SIGILL"),
        ]
    }

    static let cases: [(HostHarness.BackendKind, Fault)] = HostHarness.BackendKind.allCases.flatMap { kind in Fault.all.map { (kind, $0) } }

    @Test(arguments: cases)
    func aFaultyHandlerCostsOnlyItsOwnJob(_ kind: HostHarness.BackendKind, _ fault: Fault) async throws {
        let harness = try await HostHarness.testPlugin(
            kind, concurrency: 4, lease: "30s", timeout: "1s",
            hostYAML: ", timeout_grace: 500ms, crash_limit: 2",
            queuesYAML: """
                  steady: { concurrency: 4, timeout: 10s, lease: 30s }
                """,
            extraYAML: """
                routes:
                  test.noop: steady
                """)
        // The memory limit is set on the queue the fault runs on.
        try harness.editConfig { $0.replacingOccurrences(of: "retention: 1h }", with: "retention: 1h, worker_memory_limit: 128MiB }") }
        let host = try harness.startHost()
        let good = try harness.enqueue(40, handler: "test.record") { #"{"record": "\#(harness.recordFile)", "n": \#($0)}"# }
        let bad = try harness.enqueue(2, handler: fault.handler) { _ in fault.payload }
        // The other queue, in the middle of the fault (one crash recorded, more to come): its throughput
        // is measured, and it must not stop.
        try await harness.waitUntil("a first crash on the faulty queue") { try harness.backend.stats(queue: "default").failed >= 1 }
        let started = ContinuousClock.now
        let steady = try harness.enqueue(2000, handler: "test.noop", queue: "steady") { #"{"n": \#($0)}"# }
        try await harness.waitUntil("every job of the steady queue processed") {
            try harness.backend.stats(queue: "steady").processed == steady.count
        }
        let steadyTime = ContinuousClock.now - started
        let crashesByThen = try harness.backend.stats(queue: "default").failed
        try await harness.waitUntil("every job of the default queue done or dead") {
            let stats = try harness.backend.stats(queue: "default")
            return stats.processed + stats.dead == good.count + bad.count
        }
        #expect(host.exitStatus == nil, "the host survives: \(host.log.suffix(2000))")

        let stats = try harness.backend.stats(queue: "default")
        #expect(stats.processed == good.count && stats.dead == bad.count, "\(stats)")
        #expect(stats.ready == 0 && stats.running == 0 && stats.scheduled == 0, "\(stats)")
        #expect(Set(try harness.recordedIDs()).isSuperset(of: good), "every good job ran")
        for id in bad {
            let job = try #require(try harness.backend.job(queue: "default", id: id))
            #expect(job.state == .dead && job.crashes == 2, "\(job)")
            #expect(job.lastError?.contains("poison job: its worker ended 2 times") == true, "\(job.lastError ?? "")")
            #expect(job.lastError?.contains(fault.reason) == true, "\(job.lastError ?? "") should say \(fault.reason)")
        }
        print("isolation: \(fault.handler) on \(kind): the steady queue ran \(steady.count) jobs in \(steadyTime) while the faulty one crashed (crashes: \(crashesByThen) of 4 by then)")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0, "\(host.log.suffix(2000))")
    }

    @Test(arguments: HostHarness.BackendKind.allCases)
    func aPoisonJobAmongAThousandGoodOnesEndsDeadAndTheGoodOnesAllComplete(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind, concurrency: 4, lease: "30s", timeout: "5s")
        let good = try harness.enqueue(1000, handler: "test.record") { #"{"record": "\#(harness.recordFile)", "n": \#($0)}"# }
        let poison = try harness.enqueue(1, handler: "test.segfault", maxAttempts: 25) { _ in "{}" }[0]
        let host = try harness.startHost()
        try await harness.waitUntil("every job of the default queue done or dead", timeout: .seconds(90)) {
            let stats = try harness.backend.stats(queue: "default")
            return stats.processed == good.count && stats.dead == 1
        }
        let job = try #require(try harness.backend.job(queue: "default", id: poison))
        // crash_limit defaults to 3: dead after 3 crashes, long before its 25 attempts.
        #expect(job.state == .dead && job.crashes == 3 && job.attempt == 3, "\(job)")
        #expect(job.lastError == "poison job: its worker ended 3 times while running it; last: worker crashed: SIGSEGV")
        #expect(Set(try harness.recordedIDs()) == Set(good), "every good job completed")
        // The innocent jobs sharing the worker were handed back without losing an attempt.
        let stats = try harness.backend.stats(queue: "default")
        #expect(stats.failed == 3, "only the poison job's crashes count as failures: \(stats)")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test(arguments: HostHarness.BackendKind.allCases)
    func aWorkerKilledFromOutsideHasItsJobsHandedBackBeforeTheirLeaseExpires(_ kind: HostHarness.BackendKind) async throws {
        // A lease of an hour, far beyond any wait here: jobs that run again were handed back by the
        // supervisor when their worker died, not rescued when the lease ran out.
        let harness = try await HostHarness.testPlugin(kind, concurrency: 4, lease: "1h", timeout: "30s")
        let ids = try harness.enqueue(8, handler: "test.sleep") { _ in #"{"record": "\#(harness.recordFile)", "ms": 3000}"# }
        let host = try harness.startHost()
        try await harness.waitUntil("four jobs running") { try harness.recordedIDs().count == 4 }
        let workers = host.children
        #expect(workers.count == 1, "one worker for the one queue: \(workers)")
        kill(workers[0], SIGKILL)
        // All eight were held by the dead worker (four running, four fetched ahead): any job that starts
        // now is one of them, back in its queue and taken by the new worker.
        try await harness.waitUntil("the jobs run again") { try harness.recordedIDs().count == 8 }
        // Each of the four killed mid-run ran twice: before the kill and after the hand-back.
        try await harness.waitUntil("every job processed") { try harness.backend.stats(queue: "default").processed == ids.count }
        let runs = try harness.recordedIDs()
        #expect(Set(runs) == Set(ids) && runs.count == ids.count + 4, "\(runs.count) runs of \(Set(runs).count) jobs")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
        // Four jobs of one handler were caught in one kill from outside: not four failed runs of the handler
        // (alerts.after_failures is 3 by default), nor failed attempts in the stats.
        #expect(!host.log.contains("runs in a row"), "\(host.log)")
    }

    @Test func aKilledSupervisorTakesItsWorkersWithItAndLosesNothing() async throws {
        let harness = try await HostHarness.testPlugin(.redis, concurrency: 4, lease: "2s", timeout: "1s")
        let ids = try harness.enqueue(200, handler: "test.sleep") { _ in #"{"record": "\#(harness.recordFile)", "ms": 20}"# }
        let first = try harness.startHost()
        try await harness.waitUntil("the host is running jobs") { try harness.recordedIDs().count >= 20 }
        let workers = first.children
        #expect(!workers.isEmpty)
        first.send(SIGKILL)
        #expect(await first.waitUntilExit(timeout: .seconds(60)) == 128 + SIGKILL)
        // No orphan keeps running jobs whose leases are being rescued.
        try await harness.waitUntil("the killed supervisor's workers gone") { workers.allSatisfy { !isProcessAlive($0) } }
        let second = try harness.startHost()
        try await harness.waitUntil("every job processed") { try harness.backend.stats(queue: "default").processed == ids.count }
        #expect(Set(try harness.recordedIDs()) == Set(ids))
        second.send(SIGTERM)
        #expect(await second.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func workersAreRecycledAfterTheirJobLimitAndPastTheirMemoryLimitWithoutFailingAJob() async throws {
        let harness = try await HostHarness.testPlugin(
            .redis, concurrency: 2, lease: "30s", timeout: "10s",
            queuesYAML: """
                  leaky: { concurrency: 1, timeout: 10s, lease: 30s, worker_memory_limit: 96MiB }
                """,
            extraYAML: """
                routes:
                  test.leak: leaky
                """)
        try harness.editConfig { $0.replacingOccurrences(of: "retention: 1h }", with: "retention: 1h, worker_max_jobs: 25 }") }
        let records = try harness.enqueue(100, handler: "test.record") { #"{"record": "\#(harness.recordFile)", "n": \#($0)}"# }
        let leaks = try harness.enqueue(20, handler: "test.leak", queue: "leaky") { _ in #"{"mb": 24, "ms": 300}"# }
        let host = try harness.startHost()
        try await harness.waitUntil("every job processed") {
            try harness.backend.stats(queue: "default").processed == records.count
                && harness.backend.stats(queue: "leaky").processed == leaks.count
        }
        #expect(try harness.backend.stats(queue: "default").failed == 0 && harness.backend.stats(queue: "leaky").failed == 0)
        #expect(Set(try harness.recordedIDs()) == Set(records))
        let log = host.log
        #expect(log.components(separatedBy: "recycling: job limit reached").count - 1 >= 3, "\(log.suffix(3000))")
        #expect(log.contains("worker past its memory limit; recycling it"), "\(log.suffix(3000))")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    @Test func aPluginThatCrashesWhileLoadingIsReportedAndRefusedByName() async throws {
        let harness = try await HostHarness.testPlugin(.redis)
        try harness.editConfig { $0.replacingOccurrences(of: "TestPlugin: {}", with: #"TestPlugin: { config: { crash_in_init: "true" } }"#) }
        let listed = try await harness.host(["list-plugins"])
        #expect(listed.status == 1)
        #expect(listed.stdout.contains("crash: init crashed the loading process (SIGSEGV)"), "\(listed.stdout)\(listed.stderr)")
        let json = try await harness.host(["list-plugins", "--json"])
        #expect(json.stdout.contains(#""check" : "crash""#), "\(json.stdout)")
        let run = try await harness.host(["run"])
        #expect(run.status == 1)
        let file = BuildProducts.plugin("TestPlugin").resolvingSymlinksInPath().path
        #expect(run.stderr.contains("plugins.TestPlugin: \(file): crash check failed: init crashed the loading process (SIGSEGV)"), "\(run.stderr)")
        #expect(run.stderr.contains("the host does not start until these are fixed"))
    }

    @Test func aPluginThatHangsWhileLoadingIsRefusedByNameInsteadOfFreezingTheHost() async throws {
        let harness = try await HostHarness.testPlugin(.redis, hostYAML: ", plugin_load_timeout: 2s")
        try harness.editConfig { $0.replacingOccurrences(of: "TestPlugin: {}", with: #"TestPlugin: { config: { hang_in_init: "true" } }"#) }
        let listed = try await harness.host(["list-plugins"])
        #expect(listed.status == 1)
        #expect(listed.stdout.contains("hang: init did not return within 2s (host.plugin_load_timeout)"), "\(listed.stdout)\(listed.stderr)")
        let run = try await harness.host(["run"])
        #expect(run.status == 1)
        let file = BuildProducts.plugin("TestPlugin").resolvingSymlinksInPath().path
        #expect(run.stderr.contains("plugins.TestPlugin: \(file): hang check failed: init did not return within 2s"), "\(run.stderr)")
        #expect(run.stderr.contains("the host does not start until these are fixed"))
    }

    @Test func threadIsolationRunsHandlersInTheHostProcess() async throws {
        let harness = try await HostHarness.testPlugin(.redis)
        try harness.editConfig { $0.replacingOccurrences(of: "retention: 1h }", with: "retention: 1h, isolation: thread }") }
        let ids = try harness.enqueue(50, handler: "test.record") { #"{"record": "\#(harness.recordFile)", "n": \#($0)}"# }
        let host = try harness.startHost()
        try await harness.waitUntil("every job processed") { try harness.backend.stats(queue: "default").processed == ids.count }
        #expect(host.children.isEmpty, "no worker process: \(host.children)")
        #expect(!host.log.contains("worker started"))
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }
}
