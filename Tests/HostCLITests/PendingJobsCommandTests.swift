import Backend
import Foundation
import JobHostTesting
import Testing

/// `host jobs cancel`, `host jobs discard --state` and `host jobs search`, straight on each backend.
struct PendingJobsCommandTests {
    struct CancelAnswer: Decodable {
        let id: String
        let queue: String?
        let result: String
        let error: String?
    }

    @Test(arguments: HostHarness.BackendKind.allCases)
    func cancelDeletesAPendingJobAndRefusesARunningOne(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind)
        let running = try harness.enqueue(1, handler: "test.noop") { _ in "{}" }[0]
        let lease = try #require(try harness.backend.fetch(queue: "default", limit: 1, lease: .seconds(60)).first).lease
        let pending = try harness.enqueue(2, handler: "test.noop") { #"{"n": \#($0)}"# }

        var output = try await harness.host(["jobs", "cancel", pending[0]])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout == "\(pending[0]): cancelled (queue default)\n")
        #expect(try harness.backend.job(queue: "default", id: pending[0]) == nil)

        output = try await harness.host(["jobs", "cancel", pending[1], "--queue", "default", "--json"])
        #expect(output.status == 0, "\(output.stderr)")
        let cancelled = try JSONDecoder().decode(CancelAnswer.self, from: Data(output.stdout.utf8))
        #expect(cancelled.id == pending[1] && cancelled.queue == "default" && cancelled.result == "cancelled" && cancelled.error == nil)

        output = try await harness.host(["jobs", "cancel", running])
        #expect(output.status == 1)
        #expect(output.stderr.contains("job \(running) is running: a running job is never cancelled"), "\(output.stderr)")
        output = try await harness.host(["jobs", "cancel", running, "--json"])
        #expect(output.status == 1)
        #expect(try JSONDecoder().decode(CancelAnswer.self, from: Data(output.stdout.utf8)).result == "running", "\(output.stdout)")
        #expect(try harness.backend.job(queue: "default", id: running)?.state == .running)
        #expect(try harness.backend.settle([(lease, .done(retention: .seconds(60)))]) == [true], "the refused job settles as usual")

        output = try await harness.host(["jobs", "cancel", running, "--json"])
        #expect(output.status == 1)
        #expect(try JSONDecoder().decode(CancelAnswer.self, from: Data(output.stdout.utf8)).result == "done", "\(output.stdout)")
        output = try await harness.host(["jobs", "cancel", pending[0], "--json"])
        #expect(output.status == 1)
        #expect(try JSONDecoder().decode(CancelAnswer.self, from: Data(output.stdout.utf8)).result == "not_found", "\(output.stdout)")
        #expect(output.stderr.contains("no job \(pending[0]) in any queue"), "\(output.stderr)")
        output = try await harness.host(["jobs", "cancel", pending[0], "--queue", "nope"])
        #expect(output.status == 64 && output.stderr.contains("unknown queue 'nope'"), "\(output.stderr)")
    }

    @Test(arguments: HostHarness.BackendKind.allCases)
    func discardByStateTakesOnlyWhatWasAskedAndNeedsConfirmation(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind)
        let running = try harness.enqueue(1, handler: "test.noop") { _ in "{}" }[0]
        _ = try harness.backend.fetch(queue: "default", limit: 1, lease: .seconds(60))
        let noop = try harness.enqueue(4, handler: "test.noop") { #"{"n": \#($0)}"# }
        let other = try harness.enqueue(2, handler: "test.fail_while") { _ in #"{"path": "/nonexistent"}"# }
        let later = try harness.backend.enqueue([
            NewJob(queue: "default", handler: "test.noop", payload: Data("{}".utf8), maxAttempts: 3, delay: .seconds(3600)),
        ])

        // Without a terminal and without --yes, nothing happens.
        var output = try await harness.host(["jobs", "discard", "--queue", "default", "--state", "ready"])
        #expect(output.status == 64, "\(output.stderr)")
        #expect(output.stderr.contains("stdin is not a terminal; give --yes"), "\(output.stderr)")
        #expect(try harness.backend.stats(queue: "default").ready == noop.count + other.count)

        output = try await harness.host(["jobs", "discard", "--queue", "default", "--state", "running", "--yes"])
        #expect(output.status == 64 && output.stderr.contains("--state must be ready or scheduled"), "\(output.stderr)")
        output = try await harness.host(["jobs", "discard", "--state", "ready", "--yes"])
        #expect(output.status == 64 && output.stderr.contains("--state needs --queue"), "\(output.stderr)")
        output = try await harness.host(["jobs", "discard", "--queue", "default", "--state", "ready", "--older-than", "soon", "--yes"])
        #expect(output.status == 64 && output.stderr.contains("--older-than"), "\(output.stderr)")

        output = try await harness.host(["jobs", "discard", "--queue", "default", "--state", "ready", "--older-than", "1h", "--yes"])
        #expect(output.status == 0 && output.stdout == "0 ready jobs of queue default discarded\n", "\(output.stdout)\(output.stderr)")
        output = try await harness.host([
            "jobs", "discard", "--queue", "default", "--state", "ready", "--handler", "test.noop", "--yes", "--json",
        ])
        #expect(output.status == 0, "\(output.stderr)")
        struct Answer: Decodable {
            let queue: String
            let state: String
            let discarded: Int
        }
        let answer = try JSONDecoder().decode(Answer.self, from: Data(output.stdout.utf8))
        #expect(answer.queue == "default" && answer.state == "ready" && answer.discarded == noop.count)
        #expect(try Set(harness.backend.list(queue: "default", state: .ready, offset: 0, limit: 10).map(\.id)) == Set(other))
        #expect(try harness.backend.job(queue: "default", id: running)?.state == .running)
        #expect(try harness.backend.job(queue: "default", id: later[0])?.state == .scheduled)

        // At a terminal it asks, and does it on "y".
        let command = [BuildProducts.host.path, "jobs", "discard", "--queue", "default", "--state", "scheduled", "--config", harness.configPath]
        let terminal = try await ChildProcess.run("script", ["-qfec", command.joined(separator: " "), "/dev/null"], input: "y\n", timeout: .seconds(60))
        #expect(terminal.status == 0, "\(terminal.stdout)\(terminal.stderr)")
        #expect(terminal.stdout.contains("Queue default has 1 scheduled job. Discard every scheduled job of queue default?"), "\(terminal.stdout)")
        #expect(terminal.stdout.contains("1 scheduled job of queue default discarded"), "\(terminal.stdout)")
        #expect(try harness.backend.job(queue: "default", id: later[0]) == nil)
        #expect(try harness.backend.job(queue: "default", id: running)?.state == .running)
    }

    @Test(arguments: HostHarness.BackendKind.allCases)
    func searchFindsJobsByPayloadHandlerAndID(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(kind)
        var ids: [String] = []
        for customer in ["acme-1", "globex-2", "acme-3"] {
            ids += try harness.enqueue(1, handler: "test.noop") { _ in #"{"customer": "\#(customer)"}"# }
            try await Task.sleep(for: .milliseconds(15))
        }
        let other = try harness.enqueue(1, handler: "test.fail_while") { _ in #"{"path": "/nonexistent"}"# }[0]

        var output = try await harness.host(["jobs", "search", "--queue", "default", "acme", "--json"])
        #expect(output.status == 0, "\(output.stderr)")
        struct Answer: Decodable {
            struct Job: Decodable {
                let id: String
                let state: String
                let handler: String
            }
            let queue: String
            let query: String
            let jobs: [Job]
            let truncated: Bool
        }
        var answer = try JSONDecoder().decode(Answer.self, from: Data(output.stdout.utf8))
        #expect(answer.queue == "default" && answer.query == "acme" && !answer.truncated)
        #expect(answer.jobs.map(\.id) == [ids[2], ids[0]], "newest first")
        #expect(answer.jobs.allSatisfy { $0.state == "ready" && $0.handler == "test.noop" })

        output = try await harness.host(["jobs", "search", "--queue", "default", "test.fail_while", "--json"])
        answer = try JSONDecoder().decode(Answer.self, from: Data(output.stdout.utf8))
        #expect(answer.jobs.map(\.id) == [other])
        output = try await harness.host(["jobs", "search", "--queue", "default", "test.noop", "--limit", "1", "--json"])
        answer = try JSONDecoder().decode(Answer.self, from: Data(output.stdout.utf8))
        #expect(answer.jobs.map(\.id) == [ids[2]])

        output = try await harness.host(["jobs", "search", "--queue", "default", ids[1]])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains(ids[1]) && output.stdout.contains("globex-2") && !output.stdout.contains(ids[0]), "\(output.stdout)")
        output = try await harness.host(["jobs", "search", "--queue", "default", "initech"])
        #expect(output.status == 0 && output.stdout == "No job of queue default matches \"initech\".\n", "\(output.stdout)")
        output = try await harness.host(["jobs", "search", "--queue", "nope", "acme"])
        #expect(output.status == 64 && output.stderr.contains("unknown queue 'nope'"), "\(output.stderr)")
    }
}
