import Backend
import Foundation
import Glibc
import JobHostTesting
import Testing

/// `host run --once`: runs what is ready (and what its jobs chain on), waits for nothing scheduled
/// for later, leaves nothing leased, and says in its exit status whether every job succeeded.
@Suite(.serialized)
struct RunOnceTests {
    struct Summary: Decodable {
        let queues: [String]
        let drained: Bool
        let succeeded: Bool
        let ran: Int
        let done: Int
        let retried: Int
        let dead: Int
    }

    static func harness(_ kind: HostHarness.BackendKind, isolation: String = "process") async throws -> HostHarness {
        try await HostHarness.testPlugin(
            kind, queuesYAML: "  other: { concurrency: 2, isolation: \(isolation), retry: { max_attempts: 3, base: 1h, max: 2h } }",
            extraYAML: """
                routes:
                  test.*: other
                schedules:
                  every-second: { every: 1s, handler: test.record, queue: other }
                """)
    }

    @Test(arguments: [
        (HostHarness.BackendKind.redis, "process"), (.redis, "thread"), (.postgres, "process"), (.sqlite, "process"), (.sqlite, "thread"),
    ])
    func drainsWhatIsReadyWithItsChainedJobsAndExitsZero(_ kind: HostHarness.BackendKind, isolation: String) async throws {
        let harness = try await Self.harness(kind, isolation: isolation)
        let record = #"{"record": "\#(harness.recordFile)"}"#
        let ids = try harness.enqueue(4, handler: "test.record", queue: "other") { _ in record }
        try harness.enqueue(1, handler: "test.chain", queue: "other") { _ in
            #"{"next": "test.record", "next_payload": "{\"record\": \"\#(harness.recordFile)\"}"}"#
        }
        // Not due for an hour: not waited for, and still there afterwards.
        let later = try harness.backend.enqueue([
            NewJob(queue: "other", handler: "test.record", payload: Data(record.utf8), maxAttempts: 3, delay: .seconds(3600)),
        ])

        let output = try await harness.host(["run", "--once", "--json", "--queues", "other"], timeout: .seconds(120))
        #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
        let summary = try JSONDecoder().decode(Summary.self, from: Data(output.stdout.utf8))
        #expect(summary.queues == ["other"] && summary.drained && summary.succeeded)
        #expect((summary.ran, summary.done, summary.retried, summary.dead) == (6, 6, 0, 0), "four, the chain and its follow-up")

        let recorded = try harness.recordedIDs()
        #expect(recorded.count == 5 && Set(ids).isSubset(of: Set(recorded)), "the four and the chained one: \(recorded)")
        #expect(!recorded.contains(later[0]))
        let stats = try harness.backend.stats(queue: "other")
        #expect((stats.ready, stats.running, stats.scheduled, stats.processed) == (0, 0, 1, 6), "\(stats)")
        // No schedule fired: the every-second schedule would have recorded runs of its own.
        #expect(try harness.scheduleStore.lastFire(schedule: "every-second", queue: "other") == nil)
    }

    @Test(arguments: [HostHarness.BackendKind.redis, .sqlite])
    func exitsOneWhenAJobFailsAndPrintsTheCounts(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await Self.harness(kind)
        try harness.enqueue(2, handler: "test.record", queue: "other") { _ in #"{"record": "\#(harness.recordFile)"}"# }
        try harness.enqueue(1, handler: "test.discard", queue: "other") { _ in "{}" }
        // Fails its first attempt; the retry is an hour away (the queue's base), so not waited for.
        try harness.enqueue(1, handler: "test.throw", queue: "other", maxAttempts: 3) { _ in "{}" }

        let output = try await harness.host(["run", "--once", "--queues", "other"], timeout: .seconds(120))
        #expect(output.status == 1, "\(output.stdout)\(output.stderr)")
        #expect(output.stdout == "drained other: 4 jobs ran: 2 done, 1 failed and scheduled to retry, 1 dead\n", "\(output.stdout)")
        let stats = try harness.backend.stats(queue: "other")
        #expect((stats.ready, stats.running, stats.scheduled, stats.dead) == (0, 0, 1, 1), "\(stats)")
    }

    @Test func aSignalBeforeTheQueuesDrainedExitsOneAndHandsTheJobBack() async throws {
        let harness = try await Self.harness(.redis)
        try harness.enqueue(1, handler: "test.sleep", queue: "other") { _ in #"{"ms": 600000, "ignore_cancel": true}"# }
        let host = try harness.startHost(arguments: ["--once", "--queues", "other"])
        try await harness.waitUntil("the job running") { try harness.backend.stats(queue: "other").running == 1 }
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 1, "\(host.log)")
        #expect(host.log.contains("stopped by a signal before other drained: 0 jobs ran"), "\(host.log)")
        let stats = try harness.backend.stats(queue: "other")
        #expect((stats.ready, stats.running) == (1, 0), "handed back without using an attempt: \(stats)")
    }

    @Test func nothingReadyExitsZeroAtOnce() async throws {
        let harness = try await Self.harness(.sqlite)
        let output = try await harness.host(["run", "--once", "--json"])
        #expect(output.status == 0, "\(output.stderr)")
        let summary = try JSONDecoder().decode(Summary.self, from: Data(output.stdout.utf8))
        #expect(summary.queues == ["default", "other"] && summary.ran == 0 && summary.succeeded)
    }

    @Test func aRefusedConfigExitsTwoAndJSONNeedsOnce() async throws {
        let harness = try await Self.harness(.sqlite)
        try harness.editConfig { $0.replacingOccurrences(of: "concurrency: 2,", with: "concurency: 2,") }
        let refused = try await harness.host(["run", "--once"])
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("concurency"), "\(refused.stderr)")

        let alone = try await harness.host(["run", "--json"])
        #expect(alone.status != 0 && alone.stderr.contains("--json goes with --once"), "\(alone.stderr)")
    }

    @Test func helpNamesTryForRunningAJobWithoutABackend() async throws {
        let harness = try await Self.harness(.sqlite)
        let help = try await harness.host(["run", "--help"])
        let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("--once") && text.contains("host try HANDLER PAYLOAD"), "\(help.stdout)")
    }
}
