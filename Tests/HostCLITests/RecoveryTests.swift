import Backend
import Foundation
import Glibc
import JobHostTesting
import Testing

/// How held jobs come back when their holder stops, through real `host run` processes on every
/// backend. Leases here are long (minutes) unless a test needs them to run out: a job that comes back
/// within the test's bound came back through the event under test, not because its lease expired.
@Suite(.serialized)
struct RecoveryTests {
    /// kill -9 of a host holding running and fetched jobs, then a restart under the same name: the new
    /// run takes them back at once instead of waiting out their leases.
    @Test(arguments: HostHarness.BackendKind.allCases)
    func aRestartedHostTakesBackItsPredecessorsJobsAtOnce(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind, concurrency: 4, lease: "10m", timeout: "1m")
        // Jobs long enough that a loaded machine still sees the moment when four run and four wait.
        let ids = try harness.enqueue(12, handler: "test.sleep") { _ in #"{"record": "\#(harness.recordFile)", "ms": 5000}"# }
        let first = try harness.startHost()
        try await harness.waitUntil("four jobs running and more fetched ahead") {
            try harness.recordedIDs().count >= 4 && harness.backend.stats(queue: "default").running > 4
        }
        first.send(SIGKILL)
        #expect(await first.waitUntilExit(timeout: .seconds(60)) == 128 + SIGKILL)
        // A job may end or a fetch be under way in the moment between the wait and the kill, so the
        // count held at the kill is not always eight; what matters is that some are held and come back.
        let heldAtTheKill = try harness.backend.stats(queue: "default")
        #expect(heldAtTheKill.running > 0 && heldAtTheKill.processed < 12, "the dead host's jobs are still leased to it: \(heldAtTheKill)")

        let second = try harness.startHost()
        try await harness.waitUntil("every job done, none left to its 10-minute lease") {
            try harness.backend.stats(queue: "default").processed == 12
        }
        #expect(second.log.contains("took back the jobs of this host's previous run"), "\(second.log)")
        #expect(Set(try harness.recordedIDs()) == Set(ids))
        let stats = try harness.backend.stats(queue: "default")
        #expect(stats.ready == 0 && stats.running == 0 && stats.dead == 0 && stats.scheduled == 0, "\(stats)")
        second.send(SIGTERM)
        #expect(await second.waitUntilExit(timeout: .seconds(60)) == 0)
    }

    /// Two live hosts started under one name: both run, and neither takes the other's jobs (each job
    /// runs once).
    @Test(arguments: HostHarness.BackendKind.allCases)
    func twoLiveHostsOfOneNameTakeNothingFromEachOther(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind, concurrency: 2, lease: "10m", timeout: "1m")
        let first = try harness.startHost()
        try await harness.waitUntil("the first host holds the name") { first.log.contains("running") }
        let second = try harness.startHost()
        try await harness.waitUntil("the second host runs beside the first") {
            second.log.contains("another live host has this name")
        }
        let ids = try harness.enqueue(40, handler: "test.sleep") { _ in #"{"record": "\#(harness.recordFile)", "ms": 100}"# }
        try await harness.waitUntil("every job done") { try harness.backend.stats(queue: "default").processed == 40 }
        let recorded = try harness.recordedIDs()
        #expect(recorded.count == ids.count && Set(recorded) == Set(ids), "each job ran once: \(recorded.count) runs of \(ids.count) jobs")
        #expect(!first.log.contains("took back") && !second.log.contains("took back"))
        for host in [first, second] { host.send(SIGTERM) }
        for host in [first, second] { #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0) }
    }

    /// A host frozen past its leases while another host takes its jobs over starts none of them when it
    /// wakes: in the record of starts, a job's attempts never go backwards.
    @Test(arguments: HostHarness.BackendKind.allCases)
    func aHostThatWakesAfterItsLeasesRanOutStartsNoJobAnotherHostTook(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind, concurrency: 4, lease: "2s", timeout: "1m")
        let ids = try harness.enqueue(120, handler: "test.sleep") { _ in #"{"record": "\#(harness.recordFile)", "ms": 200}"# }
        let frozen = try harness.startHost("frozen")
        try await harness.waitUntil("the first host is running jobs") { try harness.recordedIDs().count >= 8 }
        let processes = [frozen.pid] + frozen.children
        for pid in processes { kill(pid, SIGSTOP) }
        let other = try harness.startHost("other")
        // The other host runs jobs the frozen one had leased: their leases ran out and were rescued.
        try await harness.waitUntil("the other host rescued and ran the frozen host's jobs") {
            try harness.runs().contains { $0.attempt >= 2 }
        }
        for pid in processes { kill(pid, SIGCONT) }
        try await harness.waitUntil("every job done") { try harness.backend.stats(queue: "default").processed == 120 }

        var highest: [String: Int] = [:]
        for run in try harness.runs() {
            #expect(run.attempt >= highest[run.id, default: 0], "job \(run.id) started on attempt \(run.attempt) after attempt \(highest[run.id]!) had started")
            highest[run.id] = max(run.attempt, highest[run.id, default: 0])
        }
        #expect(Set(highest.keys) == Set(ids))
        for host in [frozen, other] { host.send(SIGTERM) }
        for host in [frozen, other] { #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0) }
    }

    /// A job that crashes its worker, among good ones: every good job that worker held, reported or
    /// not, comes back at once; none waits out its lease, none uses a second attempt.
    @Test(arguments: HostHarness.BackendKind.allCases)
    func aPoisonJobsCrashesStrandNoGoodJob(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind, concurrency: 4, lease: "10m", timeout: "1m")
        var ids = try harness.enqueue(60, handler: "test.record") { _ in #"{"record": "\#(harness.recordFile)"}"# }
        ids += try harness.enqueue(1, handler: "test.segfault") { _ in "{}" }
        ids += try harness.enqueue(60, handler: "test.record") { _ in #"{"record": "\#(harness.recordFile)"}"# }
        let host = try harness.startHost()
        try await harness.waitUntil("every good job done and the poison job dead") {
            let stats = try harness.backend.stats(queue: "default")
            return stats.processed == 120 && stats.dead == 1
        }
        let runs = try harness.runs()
        #expect(Set(runs.map(\.id)).count == 120)
        #expect(runs.allSatisfy { $0.attempt == 1 }, "a good job used a second attempt: \(runs.filter { $0.attempt > 1 }.map(\.id))")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0)
    }
}
