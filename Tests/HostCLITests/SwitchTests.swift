import Backend
import Foundation
import Glibc
import JobHostTesting
import Testing

/// `host queues pause/resume` and `host schedules disable/enable` against a running `host run`.
@Suite(.serialized)
struct SwitchTests {
    /// When each recorded job started (the test plugin's "<id> <attempt> <handler> <unix µs>" lines).
    static func starts(_ harness: HostRunHarness) throws -> [(id: String, at: Date)] {
        try String(contentsOfFile: harness.recordFile, encoding: .utf8).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 4, let micros = Double(fields[3]) else { return nil }
            return (String(fields[0]), Date(timeIntervalSince1970: micros / 1_000_000))
        }
    }

    /// The fire times of the jobs schedule `name` enqueued, from their origins, and whether each was a catch-up.
    static func fires(_ harness: HostRunHarness, _ name: String) throws -> [(time: Date, catchUp: Bool)] {
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

    @Test(arguments: HostRunHarness.Kind.allCases)
    func pausedQueueStartsNothingAfterASecondAndDrainsOnResume(_ kind: HostRunHarness.Kind) async throws {
        let harness = try await HostRunHarness(kind, concurrency: 2)
        // Enough work that the queue cannot drain before `host queues pause` has started, on a loaded machine.
        let ids = try harness.enqueue(200, handler: "test.sleep") { _ in #"{"record": "\#(harness.recordFile)", "ms": 100}"# }
        let host = try harness.startHost()
        let busy = try await harness.waitUntil(timeout: .seconds(20)) { try harness.recordedIDs().count >= 6 }
        #expect(busy, "\(host.log)")

        let paused = try harness.host(["queues", "pause", "default"])
        let pausedAt = Date()  // the pause was written before the command returned
        #expect(paused.status == 0, "\(paused.stderr)")
        #expect(paused.stdout.contains("default: paused"), "\(paused.stdout)")
        try await Task.sleep(for: .seconds(3))
        let started = try Self.starts(harness)
        let late = started.filter { $0.at > pausedAt.addingTimeInterval(1) }
        #expect(late.count == 0, "\(late.count) jobs started more than 1 s after the pause, the last \(late.last.map { $0.at.timeIntervalSince(pausedAt) } ?? 0) s after")
        let stats = try harness.backend.stats(queue: "default")
        #expect(stats.paused && stats.running == 0, "\(stats)")
        #expect(stats.ready == ids.count - started.count, "jobs wait as ready: \(stats)")
        #expect(stats.ready > 0, "the queue drained before the pause took hold")

        let listed = try harness.host(["queues", "--json"])
        struct Row: Decodable {
            let queue: String
            let paused: Bool
        }
        #expect(try JSONDecoder().decode([Row].self, from: Data(listed.stdout.utf8)).first { $0.queue == "default" }?.paused == true)
        let table = try harness.host(["queues"])
        #expect(table.stdout.split(separator: "\n").first { $0.hasPrefix("default ") }?.contains(" paused ") == true, "\(table.stdout)")

        let resumed = try harness.host(["queues", "resume", "default", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let finished = try await harness.waitUntil(timeout: .seconds(30)) { try harness.backend.stats(queue: "default").processed == ids.count }
        #expect(finished, "\(host.log)")
        #expect(Set(try harness.recordedIDs()) == Set(ids), "every job ran")
        #expect(try harness.backend.stats(queue: "default").paused == false)

        let unknown = try harness.host(["queues", "pause", "default", "nope"])
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown queue 'nope'; the config defines: default"), "\(unknown.stderr)")
        #expect(try harness.backend.stats(queue: "default").paused == false, "a refused command pauses nothing")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(5)) == 0, "\(host.log)")
    }

    @Test(arguments: HostRunHarness.Kind.allCases)
    func disabledScheduleDoesNotFireUntilEnabled(_ kind: HostRunHarness.Kind) async throws {
        let harness = try await HostRunHarness(kind, extraYAML: """
            schedules:
              tick: { every: 1s, handler: test.noop, catch_up: once }
            """)
        let host = try harness.startHost()
        let firing = try await harness.waitUntil(timeout: .seconds(20)) { try Self.fires(harness, "tick").count >= 2 }
        #expect(firing, "\(host.log)")

        let disabled = try harness.host(["schedules", "disable", "tick"])
        #expect(disabled.status == 0 && disabled.stdout.contains("tick: disabled"), "\(disabled.stdout)\(disabled.stderr)")
        let store = try harness.clock
        let offAt = try #require(try store.scheduleSwitch(schedule: "tick", queue: "default").changedAt)
        try await Task.sleep(for: .seconds(3))
        let whileOff = try Self.fires(harness, "tick").filter { $0.time > offAt }
        #expect(whileOff.isEmpty, "fired while disabled: \(whileOff.map(\.time))")

        let listed = try harness.host(["schedules", "--json"])
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
        let row = try #require(try decoder.decode([Row].self, from: Data(listed.stdout.utf8)).first)
        #expect(row.name == "tick" && row.enabled && row.disabled == true && !row.active && row.next.isEmpty)
        #expect(try harness.host(["schedules"]).stdout.contains("disabled since"))

        let enabled = try harness.host(["schedules", "enable", "tick"])
        #expect(enabled.status == 0 && enabled.stdout == "tick: enabled\n", "\(enabled.stdout)\(enabled.stderr)")
        let onAt = try #require(try store.scheduleSwitch(schedule: "tick", queue: "default").changedAt)
        let again = try await harness.waitUntil(timeout: .seconds(10)) { try Self.fires(harness, "tick").contains { $0.time > onAt } }
        #expect(again, "no fire after enabling: \(host.log)")
        let fires = try Self.fires(harness, "tick")
        #expect(!fires.contains { $0.time > offAt && $0.time <= onAt }, "fired while disabled: \(fires.map(\.time))")
        #expect(fires.allSatisfy { !$0.catchUp }, "caught up the time it was disabled")

        let unknown = try harness.host(["schedules", "disable", "nope"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no schedule named 'nope'; the config has: tick"), "\(unknown.stderr)")
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(5)) == 0, "\(host.log)")
    }
}
