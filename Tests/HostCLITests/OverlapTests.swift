import Backend
import Foundation
import JobHostTesting
import Testing

/// `overlap: skip` as hosts run it: a schedule whose run outlasts its interval never runs twice at
/// once, across hosts, and records the fire times it skipped.
@Suite(.serialized)
struct OverlapTests {
    @Test(arguments: HostHarness.BackendKind.allCases)
    func aRunLongerThanTheIntervalNeverOverlapsAndTheSkipsAreRecorded(_ kind: HostHarness.BackendKind) async throws {
        // Each run sleeps 2.5 s; the schedule fires every second: most fire times find a run live.
        let harness = try await HostHarness.testPlugin(kind, concurrency: 4, lease: "10s", timeout: "30s", extraYAML: """
            schedules:
              slow: { every: 1s, handler: test.sleep, payload: { ms: 2500 }, overlap: skip }
            """)
        let hosts = try (0..<2).map { try harness.startHost("host\($0)") }
        try await harness.waitUntil("three runs done and skips recorded", timeout: .seconds(180)) {
            let fires = try harness.scheduleStore.recentFires(schedule: "slow", queue: "default", limit: 10)
            let done = try harness.backend.list(queue: "default", state: .done, offset: 0, limit: 100)
            return done.count >= 3 && fires.contains { $0.skipped }
        }
        for host in hosts { host.send(SIGTERM) }
        for host in hosts { #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0, "\(host.log)") }

        // Every run, done or not, with its start and end as the backend recorded them.
        var runs: [(id: String, start: Date, end: Date)] = []
        for state in [JobState.done, .dead, .ready, .scheduled] {
            for listed in try harness.backend.list(queue: "default", state: state, offset: 0, limit: 1000) {
                let job = try #require(try harness.backend.job(queue: "default", id: listed.id))
                for attempt in job.attempts { runs.append((job.id, attempt.startedAt, attempt.endedAt)) }
            }
        }
        runs.sort { $0.start < $1.start }
        #expect(runs.count >= 3, "runs: \(runs)")
        for (earlier, later) in zip(runs, runs.dropFirst()) {
            #expect(later.start >= earlier.end, "run of \(later.id) started at \(later.start), before \(earlier.id) ended at \(earlier.end)")
        }

        // The skips are recorded, each naming a run that was live, and logged by the host that claimed it.
        let fires = try harness.scheduleStore.recentFires(schedule: "slow", queue: "default", limit: 10)
        let skipped = fires.filter(\.skipped)
        #expect(!skipped.isEmpty)
        let runIDs = Set(runs.map(\.id))
        #expect(skipped.allSatisfy { runIDs.contains($0.jobID) }, "skipped fires name runs that did not run: \(skipped)")
        #expect(hosts.contains { $0.log.contains("fire skipped") }, "no host logged a skipped fire")

        // `host schedules --json` shows them.
        let listed = try await harness.host(["schedules", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains(#""state":"skipped""#) || listed.stdout.contains(#""state" : "skipped""#), "\(listed.stdout)")
        #expect(listed.stdout.contains(#""overlap""#), "\(listed.stdout)")
    }
}

/// `host enqueue --concurrency-key`: the jobs it enqueues share the key's limit.
@Suite struct EnqueueConcurrencyKeyTests {
    @Test(arguments: HostHarness.BackendKind.allCases)
    func jobsEnqueuedWithAKeyRunOneAtATime(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind)
        var ids: [String] = []
        for _ in 0..<3 {
            let output = try await harness.host(["enqueue", "test.noop", "{}", "--concurrency-key", "report:7", "--json"])
            #expect(output.status == 0, "\(output.stderr)")
            let id = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: String])["id"]
            ids.append(try #require(id))
        }
        let two = try await harness.host(["enqueue", "test.noop", "{}", "--concurrency-key", "pair", "--concurrency-limit", "2"])
        #expect(two.status == 0, "\(two.stderr)")
        let leased = try harness.backend.fetch(queue: "default", limit: 10, lease: .seconds(60)).map(\.id)
        #expect(leased.filter(ids.contains) == [ids[0]], "jobs of key report:7 leased: \(leased)")
        #expect(leased.count == 2, "the job of key pair runs beside it: \(leased)")

        let noKey = try await harness.host(["enqueue", "test.noop", "{}", "--concurrency-limit", "2"])
        #expect(noKey.status == 1 && noKey.stderr.contains("--concurrency-limit needs --concurrency-key"), "\(noKey.stderr)")
        let zero = try await harness.host(["enqueue", "test.noop", "{}", "--concurrency-key", "k", "--concurrency-limit", "0"])
        #expect(zero.status == 1 && zero.stderr.contains("must be from 1 to"), "\(zero.stderr)")
    }
}
