import Backend
import Foundation
import Glibc
import JobHostTesting
import Testing

/// `host queues pause/resume` and `host schedules disable/enable` against a running `host run`.
@Suite(.serialized)
struct SwitchTests {
    /// The fire times of the jobs schedule `name` enqueued, from their origins, and whether each was a catch-up.
    static func fires(_ harness: HostHarness, _ name: String) throws -> [(time: Date, catchUp: Bool)] {
        let formatter = ISO8601DateFormatter()
        var fires: [(Date, Bool)] = []
        for state in JobState.allCases {
            for job in try harness.backend.list(queue: "default", state: state, offset: 0, limit: 10_000) {
                guard let origin = job.origin, origin.hasPrefix("schedule \(name) ") else { continue }
                let parts = origin.split(separator: " ")
                if let time = formatter.date(from: String(parts[2])) { fires.append((time, origin.hasSuffix("(catch-up)"))) }
            }
        }
        return fires
    }

    /// Once the host has taken a pause in (its running jobs finished, those fetched ahead handed
    /// back: it holds none of the queue's jobs), no job of the queue starts until it is resumed.
    @Test(arguments: HostHarness.BackendKind.allCases)
    func pausedQueueStartsNothingOnceThePauseTookHoldAndDrainsOnResume(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind, concurrency: 2)
        // Enough work that the queue cannot drain before `host queues pause` has started, on a loaded machine.
        let ids = try harness.enqueue(200, handler: "test.sleep") { _ in #"{"record": "\#(harness.recordFile)", "ms": 300}"# }
        let host = try harness.startHost()
        try await harness.waitUntil("the host is running jobs") { try harness.recordedIDs().count >= 6 }

        let paused = try await harness.host(["queues", "pause", "default"])
        #expect(paused.status == 0, "\(paused.stderr)")
        #expect(paused.stdout.contains("default: paused"), "\(paused.stdout)")
        try await harness.waitUntil("the host holding none of the paused queue's jobs") {
            let stats = try harness.backend.stats(queue: "default")
            return stats.paused && stats.running == 0
        }
        let started = try harness.runs()
        let stats = try harness.backend.stats(queue: "default")
        #expect(stats.ready == ids.count - started.count, "jobs wait as ready: \(stats)")
        #expect(stats.ready > 0, "the queue drained: the pause never took hold")

        let listed = try await harness.host(["queues", "--json"])
        struct Row: Decodable {
            let queue: String
            let paused: Bool
        }
        #expect(try JSONDecoder().decode([Row].self, from: Data(listed.stdout.utf8)).first { $0.queue == "default" }?.paused == true)
        let table = try await harness.host(["queues"])
        #expect(table.stdout.split(separator: "\n").first { $0.hasPrefix("default ") }?.contains(" paused ") == true, "\(table.stdout)")

        // The commands above took a while, in which a host ignoring the pause would have started jobs.
        let beforeResume = try harness.runs()
        #expect(beforeResume.count == started.count, "jobs started while paused: \(beforeResume.dropFirst(started.count).map(\.id))")

        let resumed = try await harness.host(["queues", "resume", "default", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try await harness.waitUntil("every job processed") { try harness.backend.stats(queue: "default").processed == ids.count }
        #expect(Set(try harness.recordedIDs()) == Set(ids), "every job ran")
        #expect(try harness.backend.stats(queue: "default").paused == false)

        let unknown = try await harness.host(["queues", "pause", "default", "nope"])
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown queue 'nope'; the config defines: default"), "\(unknown.stderr)")
        #expect(try harness.backend.stats(queue: "default").paused == false, "a refused command pauses nothing")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0, "\(host.log)")
    }

    @Test(arguments: HostHarness.BackendKind.allCases)
    func disabledScheduleDoesNotFireUntilEnabled(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind, extraYAML: """
            schedules:
              tick: { every: 1s, handler: test.noop, catch_up: once }
              tock: { every: 1s, handler: test.noop }
            """)
        let host = try harness.startHost()
        try await harness.waitUntil("the schedule firing") { try Self.fires(harness, "tick").count >= 2 }

        let disabled = try await harness.host(["schedules", "disable", "tick"])
        #expect(disabled.status == 0 && disabled.stdout.contains("tick: disabled"), "\(disabled.stdout)\(disabled.stderr)")
        let store = try harness.scheduleStore
        let offAt = try #require(try store.scheduleSwitch(schedule: "tick", queue: "default").changedAt)
        // `tock` fires in the same scheduler passes: once it has fired twice since, `tick` was passed over twice.
        try await harness.waitUntil("two fires of tock after tick was disabled") {
            try Self.fires(harness, "tock").filter { $0.time > offAt }.count >= 2
        }
        let whileOff = try Self.fires(harness, "tick").filter { $0.time > offAt }
        #expect(whileOff.isEmpty, "fired while disabled: \(whileOff.map(\.time))")

        let listed = try await harness.host(["schedules", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        struct Row: Decodable {
            let name: String
            let enabled: Bool
            let disabled: Bool?
            let active: Bool
            let next: [Date]
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let row = try #require(try decoder.decode([Row].self, from: Data(listed.stdout.utf8)).first { $0.name == "tick" })
        #expect(row.name == "tick" && row.enabled && row.disabled == true && !row.active && row.next.isEmpty)
        #expect(try await harness.host(["schedules"]).stdout.contains("disabled since"))

        let enabled = try await harness.host(["schedules", "enable", "tick"])
        #expect(enabled.status == 0 && enabled.stdout == "tick: enabled\n", "\(enabled.stdout)\(enabled.stderr)")
        let onAt = try #require(try store.scheduleSwitch(schedule: "tick", queue: "default").changedAt)
        try await harness.waitUntil("a fire of tick after enabling") { try Self.fires(harness, "tick").contains { $0.time > onAt } }
        let fires = try Self.fires(harness, "tick")
        #expect(!fires.contains { $0.time > offAt && $0.time <= onAt }, "fired while disabled: \(fires.map(\.time))")
        #expect(fires.allSatisfy { !$0.catchUp }, "caught up the time it was disabled")

        let unknown = try await harness.host(["schedules", "disable", "nope"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no schedule named 'nope'; the config has: tick"), "\(unknown.stderr)")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0, "\(host.log)")
    }
}
