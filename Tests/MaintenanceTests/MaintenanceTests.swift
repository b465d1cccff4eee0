import Backend
import Foundation
import HostConfig
import JobHostTesting
import RedisBackend
import Runtime
import Testing

/// The one place that decides which chores run, and the loop that runs them.
struct MaintenanceTests {
    @Test func aRescuerAndAPrunerPerBackendEachForThatBackendsQueues() async throws {
        try await withRedis { server in
            let directory = try TemporaryDirectory.create()
            defer { try? directory.remove() }
            let config = try ConfigLoader(environment: [:]).load(
                text: """
                    backends:
                      one: { type: redis, url: "\(server.url)", key_prefix: one }
                      two: { type: redis, url: "\(server.url)", key_prefix: two }
                    queues:
                      a: { backend: one, retention: 1h, dead_retention: forever }
                      b: { backend: two, retention: 5m }
                      c: { backend: one, retention: 10m, dead_retention: 7d }
                    """, file: "test.yaml", directory: directory.url)
            let backends: [String: any JobBackend] = [
                "one": RedisBackend(url: server.url, keyPrefix: "one", connectTimeout: .seconds(2), logger: quiet),
                "two": RedisBackend(url: server.url, keyPrefix: "two", connectTimeout: .seconds(2), logger: quiet),
            ]
            let chores = Maintenance.chores(for: config.queues, backends: backends, logger: quiet)
            #expect(chores.map(\.name) == ["rescue", "prune", "prune-dead", "rescue", "prune", "prune-dead"])
            #expect(chores.map(\.queues) == [["a", "c"], ["a", "c"], ["c"], ["b"], ["b"], ["b"]])
            let pruner = try #require(chores[1] as? JobPruner)
            #expect(pruner.retention.map(\.retention) == [.seconds(3600), .seconds(600)])
            // Queue a keeps its dead jobs forever; b has the default, 30 days.
            let deadPruners = chores.compactMap { $0 as? DeadJobPruner }
            #expect(deadPruners.map { $0.retention.map(\.retention) } == [[.seconds(7 * 86_400)], [.seconds(30 * 86_400)]])
            // A queue whose backend is not given gets no chores.
            #expect(
                Maintenance.chores(for: config.queues, backends: ["one": backends["one"]!], logger: quiet).flatMap(\.queues) == ["a", "c", "a", "c", "c"])
        }
    }

    @Test(arguments: BackendKind.allCases)
    func startedChoresRescueInTheBackgroundUntilStopped(_ kind: BackendKind) async throws {
        try await withBackend(kind) { backend in
            let directory = try TemporaryDirectory.create()
            defer { try? directory.remove() }
            let config = try ConfigLoader(environment: [:]).load(
                text: """
                    backends:
                      main: { type: redis, url: "redis://127.0.0.1:1", key_prefix: unused }
                    queues:
                      work: { backend: main }
                    """, file: "test.yaml", directory: directory.url)
            let maintenance = Maintenance(queues: config.queues, backends: ["main": backend], interval: .milliseconds(50), logger: quiet)
            maintenance.start()
            let job = try await leasedJob(backend, queue: "work", lease: .milliseconds(100))
            var state: JobState?
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                state = try await onThread { try backend.job(queue: "work", id: job.id)?.state }
                if state == .ready { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            try await onThread { maintenance.stop() }
            #expect(state == .ready)
            // Stopped: a lease that expires now stays expired.
            let later = try await leasedJob(backend, queue: "work", lease: .milliseconds(50))
            try await pass(.milliseconds(400))
            #expect(try await onThread { try backend.job(queue: "work", id: later.id)?.state } == .running)
        }
    }
}
