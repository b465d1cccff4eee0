import Backend
import Foundation
import HostConfig
import HostDomain
import JobHostTesting
import Logging
import PostgresBackend
import Testing

/// The operator's actions against real servers, on every backend: what the `host` commands and the
/// admin API both call.
@Suite(.serialized)
struct OperatorActionsTests {
    enum Kind: String, CaseIterable, Sendable { case redis, postgres, sqlite }

    /// A private server of `kind` (SQLite: a file in a directory of its own), a config with queues
    /// `default` and `other` and schedule `tick` on it, and the actions over it.
    final class Setup: Sendable {
        let actions: OperatorActions
        private let stop: @Sendable () -> Void

        init(_ kind: Kind) async throws {
            let url: String
            switch kind {
            case .redis:
                let server = try await RedisServer.start()
                url = server.url
                stop = { server.stop() }
            case .postgres:
                let server = try await PostgresServer.start()
                url = server.url
                stop = { server.stop() }
                try await onThread {
                    _ = try PostgresMigrator(url: url, connectTimeout: .seconds(10), logger: Logger(label: "test")).migrate()
                }
            case .sqlite:
                let directory = try TemporaryDirectory.create()
                url = directory.url.appendingPathComponent("jobs.sqlite").path
                stop = { try? directory.remove() }
            }
            // A SQLite backend names its file with `path`, a server backend its address with `url`.
            let location = kind == .sqlite ? "path: \"\(url)\"" : "url: \"\(url)\""
            let config = try ConfigLoader(environment: [:]).load(
                text: """
                    backends:
                      main: { type: \(kind.rawValue), \(location) }
                    queues:
                      default: { retry: { max_attempts: 1 } }
                      other: {}
                    schedules:
                      tick: { every: 1h, handler: test.noop, payload: { "from": "tick" } }
                    """, file: "test.yaml", directory: URL(fileURLWithPath: "/tmp"))
            actions = OperatorActions(config: config, backends: Backends.make(config, logger: Logger(label: "test")))
        }

        var backend: any JobBackend { actions.backends["main"]! }

        deinit { stop() }
    }

    @Test(arguments: Kind.allCases) func pauseAndResumeReachTheBackend(kind: Kind) async throws {
        let setup = try await Setup(kind)
        try await onThread {
            try setup.actions.setPaused(queue: "other", true)
            #expect(try setup.backend.isPaused(queue: "other"))
            #expect(try !setup.backend.isPaused(queue: "default"))
            try setup.actions.setPaused(queue: "other", false)
            #expect(try !setup.backend.isPaused(queue: "other"))
        }
    }

    @Test(arguments: Kind.allCases) func aListWithOneUnknownNameIsRefusedWhole(kind: Kind) async throws {
        let setup = try await Setup(kind)
        #expect(throws: OperatorActions.Failure.self) { try setup.actions.queues(named: ["default", "nope"]) }
        #expect(throws: OperatorActions.Failure.self) { try setup.actions.schedules(named: ["tick", "nope"]) }
        do {
            _ = try setup.actions.queues(named: ["nope", "default", "gone"])
            Issue.record("unknown queues were accepted")
        } catch {
            #expect("\(error)" == "unknown queues 'nope', 'gone'; the config defines: default, other")
        }
    }

    @Test(arguments: Kind.allCases) func aScheduleIsSwitchedWhereItsJobsGoAndTriggeredAsAManualRun(kind: Kind) async throws {
        let setup = try await Setup(kind)
        try await onThread {
            let schedule = try #require(setup.actions.config.schedules.first)
            #expect(setup.actions.isDisabled(schedule) == false)
            #expect(try setup.actions.setDisabled(schedule: "tick", true) == "default")
            #expect(setup.actions.isDisabled(schedule) == true)
            try setup.actions.setDisabled(schedule: "tick", false)
            #expect(setup.actions.isDisabled(schedule) == false)

            let id = try setup.actions.trigger(schedule: "tick")
            let (job, _) = try setup.actions.job(id: id)
            #expect(job.queue == "default")
            #expect(job.handler == "test.noop")
            #expect(job.origin == "manual trigger of schedule tick")
            #expect(job.state == .ready)
        }
    }

    @Test(arguments: Kind.allCases) func onlyDeadJobsAreRetriedOrDiscarded(kind: Kind) async throws {
        let setup = try await Setup(kind)
        try await onThread {
            let actions = setup.actions
            let first = try actions.submit(.init(handler: "test.noop", payload: Data("{}".utf8)))
            let second = try actions.submit(.init(handler: "test.noop", payload: Data("{}".utf8)))
            let third = try actions.submit(.init(handler: "test.noop", payload: Data("{}".utf8)))
            // One attempt each (the queue's retry), failed: all three dead.
            let leased = try setup.backend.fetch(queue: "default", limit: 10, lease: .seconds(30))
            #expect(Set(leased.map(\.id)) == [first, second, third])
            _ = try setup.backend.settle(leased.map { ($0.lease, .dead(error: "boom")) })

            #expect(try actions.apply(.retry, toDeadJob: first).state == .dead, "returns the job as it was")
            #expect(try actions.job(id: first).0.state == .ready)
            do throws(OperatorActions.Failure) {
                try actions.apply(.discard, toDeadJob: first)
                Issue.record("a ready job was discarded")
            } catch {
                guard case .notDead(let id, .ready, .discard) = error, id == first else { throw error }
            }
            do throws(OperatorActions.Failure) {
                try actions.apply(.retry, toDeadJob: "NOPE")
                Issue.record("a missing job was retried")
            } catch {
                guard case .noSuchJob("NOPE", nil) = error else { throw error }
            }
            #expect(try actions.applyToAllDead(.discard, queue: "default") == 2)
            #expect(try actions.list(queue: "default", state: .dead, offset: 0, limit: 10).isEmpty)
            #expect(throws: OperatorActions.Failure.self) { try actions.job(id: second) }
        }
    }

    @Test(arguments: Kind.allCases) func aPayloadThatIsNotJSONIsRefusedAndNothingIsEnqueued(kind: Kind) async throws {
        let setup = try await Setup(kind)
        try await onThread {
            do throws(OperatorActions.Failure) {
                _ = try setup.actions.submit(.init(handler: "test.noop", payload: Data("{not json".utf8)))
                Issue.record("a bad payload was enqueued")
            } catch {
                guard case .refused(let reason) = error else { throw error }
                #expect(reason.contains("not valid JSON"))
            }
            #expect(try setup.backend.stats(queue: "default").ready == 0)
        }
    }
}

/// Blocking backend calls run on a thread of their own, off Swift's cooperative pool.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T { try await onDedicatedThread(work) }
