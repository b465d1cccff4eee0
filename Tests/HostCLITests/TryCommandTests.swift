import Foundation
import JobHostTesting
import Testing

/// `host try`: one job on one handler of the repository's plugins, with no backend; what it prints and
/// the exit status for each way a handler can end.
struct TryCommandTests {
    /// `host try --json`, as decoded by a script.
    struct Report: Decodable {
        struct Plugin: Decodable {
            let name: String
            let version: String
            let abi: String
        }
        struct Job: Decodable {
            let id: String
            let queue: String
            let attempt: Int
            let max_attempts: Int
            let timeout_ms: Int
        }
        struct Log: Decodable, Equatable {
            let level: String
            let message: String
            let from_init: Bool
        }
        struct Enqueued: Decodable {
            let handler: String
            let queue: String
            let payload: [String: Int]
            let delay_ms: Int
            let id: String
        }
        let handler: String
        let isolation: String
        let plugin: Plugin?
        let job: Job?
        let outcome: String
        let error: String?
        let retry_delay_ms: Int?
        let logs: [Log]
        let enqueued: [Enqueued]
        let run_time_us: Int?
    }

    /// The three repository plugins on one queue, the jobs in a SQLite file that nothing should create.
    func harness(testPlugin: String = "{ greeting: hola }") async throws -> HostHarness {
        let harness = try await HostHarness(.sqlite)
        try harness.writeConfig(
            host: "timeout_grace: 500ms",
            plugins: "  Echo: {}\n  Greeter: { config: { salutation: Ahoy } }\n  TestPlugin: { config: \(testPlugin) }",
            queues: "  default: { timeout: 20s, retry: { max_attempts: 4 } }")
        return harness
    }

    func report(_ output: ChildProcess.Output) throws -> Report {
        try JSONDecoder().decode(Report.self, from: Data(output.stdout.utf8))
    }

    @Test func successShowsThePluginTheLogLinesAndTheRunTime() async throws {
        let harness = try await harness()
        defer { harness.stop() }
        let output = try await harness.host(["try", "greeter.hello", #"{"name": "Ada"}"#])
        #expect(output.status == 0, "\(output.stderr)")
        let lines = output.stdout.split(separator: "\n").map(String.init)
        // The ABI's minor is the one PluginKit was built with.
        #expect(lines.first?.hasPrefix("plugin    Greeter 1.0.0 (ABI 1.") == true, "\(output.stdout)")
        // Greeter's own 5 s wins over the queue's 20 s, as under host run.
        #expect(lines.contains { $0.hasPrefix("job       ") && $0.hasSuffix(" greeter.hello, attempt 1 of 4, queue default, timeout 5s, in a worker process") })
        #expect(lines.contains("log       info: Ahoy, Ada!"))
        #expect(lines.contains("outcome   success"))
        #expect(lines.last?.hasPrefix("run time  ") == true && lines.last?.hasSuffix(" ms") == true, "\(output.stdout)")
        #expect(!FileManager.default.fileExists(atPath: harness.backendURL), "host try touched the backend")

        let json = try report(try await harness.host(["try", "greeter.hello", #"{"name": "Ada"}"#, "--json", "--job-id", "job-7", "--timeout", "2s"]))
        #expect(json.outcome == "success" && json.error == nil && json.retry_delay_ms == nil)
        #expect(json.plugin?.name == "Greeter" && json.plugin?.abi.hasPrefix("1.") == true)
        #expect(json.job?.id == "job-7" && json.job?.timeout_ms == 2000 && json.job?.queue == "default")
        #expect(json.logs == [.init(level: "info", message: "Ahoy, Ada!", from_init: false)])
        #expect(json.isolation == "process")
        #expect(json.run_time_us != nil)
    }

    @Test func aRetryOrADiscardExitsOneWithTheError() async throws {
        let harness = try await harness()
        defer { harness.stop() }
        let delayed = try await harness.host(["try", "test.retry_in", #"{"delay_ms": 1500}"#])
        #expect(delayed.status == 1, "\(delayed.stderr)")
        #expect(delayed.stdout.contains("outcome   retry: asked for a delay\ndelay     1s500ms, as the handler asked\n"), "\(delayed.stdout)")

        let echo = try report(try await harness.host(["try", "echo.log", #""fail""#, "--json"]))
        #expect(echo.outcome == "retry" && echo.error == "asked to fail" && echo.retry_delay_ms == nil)
        #expect(echo.logs.first?.message.hasSuffix(#"attempt 1: "fail""#) == true)

        let discarded = try await harness.host(["try", "test.discard", "--json"])
        #expect(discarded.status == 1)
        let json = try report(discarded)
        #expect(json.outcome == "discard" && json.error == "discarded on purpose")

        let badPayload = try report(try await harness.host(["try", "greeter.hello", #"{"nom": "Ada"}"#, "--json"]))
        #expect(badPayload.outcome == "discard")
        #expect(badPayload.error?.hasSuffix("does not decode as Greeting: missing key 'name'") == true)

        // The attempt reaches the handler: test.flaky fails its first attempt only.
        #expect(try await harness.host(["try", "test.flaky", #"{"failures": 1}"#]).status == 1)
        #expect(try await harness.host(["try", "test.flaky", #"{"failures": 1}"#, "--attempt", "2"]).status == 0)
    }

    @Test(arguments: [
        ("test.segfault", "{}", "worker crashed: SIGSEGV"),
        ("test.abort", "{}", "worker crashed: SIGABRT"),
        ("test.exit", #"{"status": 7}"#, "worker exited: the handler called exit(7)"),
    ])
    func aCrashingHandlerIsReportedNotFatal(handler: String, payload: String, reason: String) async throws {
        let harness = try await harness()
        defer { harness.stop() }
        let output = try await harness.host(["try", handler, payload, "--json"])
        #expect(output.status == 2, "\(output.stderr)")
        let json = try report(output)
        #expect(json.outcome == "crash")
        #expect(json.error == reason)
    }

    @Test func theCancelFlagGoesUpAtTheTimeoutAndAHandlerIgnoringItIsKilled() async throws {
        let harness = try await harness()
        defer { harness.stop() }
        // test.sleep stops when asked to and returns a retry.
        let stopped = try report(try await harness.host(["try", "test.sleep", #"{"ms": 30000}"#, "--timeout", "200ms", "--json"]))
        #expect(stopped.outcome == "retry" && stopped.error == "cancelled")

        // test.spin never looks: killed timeout_grace (500ms) after its deadline.
        let killed = try await harness.host(["try", "test.spin", "--timeout", "100ms"])
        #expect(killed.status == 2)
        #expect(killed.stdout.contains(
            "outcome   timeout: the handler did not stop within 500ms of its deadline (100ms); its worker was killed"), "\(killed.stdout)")
    }

    @Test func chainedJobsAreCheckedAndListedButNotEnqueued() async throws {
        let harness = try await harness()
        defer { harness.stop() }
        let output = try await harness.host(["try", "test.chain", #"{"next": "echo.log", "next_payload": "{\"a\": 1}"}"#, "--json"])
        #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
        let json = try report(output)
        let chained = try #require(json.enqueued.first)
        #expect(chained.handler == "echo.log" && chained.queue == "default" && chained.payload == ["a": 1] && chained.delay_ms == 0)
        // init's lines come too (at every level, marked), then the handler's.
        #expect(json.logs.first == .init(level: "debug", message: "test plugin ready", from_init: true))
        #expect(json.logs.last?.message == "enqueued \(chained.id)" && json.logs.last?.from_init == false)
        #expect(!FileManager.default.fileExists(atPath: harness.backendURL), "host try touched the backend")

        // What host run would refuse, host try refuses too: the handler sees the error.
        let refused = try report(try await harness.host(["try", "test.chain", #"{"next": "Not A Handler"}"#, "--json"]))
        #expect(refused.outcome == "retry")
        #expect(refused.error?.contains("is not a handler name") == true, "\(refused.error ?? "")")
    }

    @Test func thePayloadComesInlineFromAFileOrFromStandardInput() async throws {
        let harness = try await harness()
        defer { harness.stop() }
        let file = harness.directory.url.appendingPathComponent("payload.json")
        try #"{"name": "File"}"#.write(to: file, atomically: true, encoding: .utf8)
        let fromFile = try await harness.host(["try", "greeter.hello", "@\(file.path)"])
        #expect(fromFile.stdout.contains("log       info: Ahoy, File!"), "\(fromFile.stdout)")
        let fromStdin = try await ChildProcess.run(
            BuildProducts.host.path, ["try", "greeter.hello", "-", "--config", harness.configPath], input: #"{"name": "Pipe"}"#)
        #expect(fromStdin.stdout.contains("log       info: Ahoy, Pipe!"), "\(fromStdin.stdout)")
    }

    @Test func refusalsExitTwoAndSayWhy() async throws {
        let harness = try await harness()
        defer { harness.stop() }
        let unknown = try await harness.host(["try", "nope.nothing"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("try refused: no loaded plugin offers handler 'nope.nothing'; offered: echo.log, greeter.hello, test."), "\(unknown.stderr)")

        let notJSON = try await harness.host(["try", "greeter.hello", "{name: Ada}"])
        #expect(notJSON.status == 2)
        #expect(notJSON.stderr.contains("the payload is not valid JSON"), "\(notJSON.stderr)")

        // A plugin its init refuses: host run would not start, and host try says which plugin and why.
        let refusing = try await self.harness(testPlugin: "{ refuse: 'the api_url is missing' }")
        defer { refusing.stop() }
        let output = try await refusing.host(["try", "test.noop", "--json"])
        #expect(output.status == 2)
        let json = try report(output)
        #expect(json.outcome == "refused")
        #expect(json.error?.contains("refused: plugin 'TestPlugin': init check failed: the api_url is missing") == true, "\(json.error ?? "")")

        // One that crashes while loading is named, and the command carries on to say so.
        let crashing = try await self.harness(testPlugin: "{ crash_in_init: 'true' }")
        defer { crashing.stop() }
        let crashed = try await crashing.host(["try", "test.noop"])
        #expect(crashed.status == 2)
        #expect(crashed.stderr.contains("plugin 'TestPlugin': crash check failed"), "\(crashed.stderr)")
    }

    @Test func helpSaysWhereTheHandlerRuns() async throws {
        let help = try await ChildProcess.run(BuildProducts.host.path, ["try", "--help"])
        #expect(help.status == 0)
        let words = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(words.contains("in a worker process of its own started as `host run` starts its workers"), "\(help.stdout)")
        #expect(try await ChildProcess.run(BuildProducts.host.path, ["--help"]).stdout.contains("try"))
    }
}
