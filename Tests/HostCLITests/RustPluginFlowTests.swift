import Backend
import Foundation
import JobHostTesting
import Testing

/// The Rust plugin (`Plugins/RustHello`, built by cargo) as a plugin team ships it: loaded by `host run`
/// from its `path:`, its jobs run end to end on a SQLite backend, and tried with `host try`.
struct RustPluginFlowTests {
    func harness(config: String = "{ greeting: Ahoy }") async throws -> HostHarness {
        let library = try RustPlugin.library()
        let harness = try await HostHarness(.sqlite)
        try harness.writeConfig(
            host: "shutdown_timeout: 2s, timeout_grace: 500ms, log_level: info",
            plugins: "  RustHello: { path: \"\(library.path)\", config: \(config) }",
            queues: "  default: { concurrency: 2, timeout: 10s, lease: 3s, retention: 1h, retry: { max_attempts: 3, base: 100ms } }",
            routes: "  rust.*: default")
        return harness
    }

    @Test func hostRunRunsItsJobsOnSQLite() async throws {
        let harness = try await harness()
        defer { harness.stop() }
        let plugins = try await harness.host(["list-plugins"])
        #expect(plugins.status == 0, "\(plugins.stdout)\(plugins.stderr)")
        #expect(plugins.stdout.contains("RustHello  1.0.0    1.1  2 "), "\(plugins.stdout)")

        let host = try harness.startHost()
        let hello = try await harness.enqueue("rust.hello", #"{"name": "Ada", "times": 2}"#)
        let sum = try await harness.enqueue("rust.sum", "[1, 2, 3.5]")
        let bad = try await harness.enqueue("rust.sum", #"[1, "two"]"#)

        #expect(try await harness.finish(hello) == .done)
        #expect(try await harness.finish(sum) == .done)
        // A payload that can never succeed is discarded: dead after one attempt, with the plugin's error.
        #expect(try await harness.finish(bad) == .dead)
        let dead = try #require(try harness.backend.job(queue: "default", id: bad))
        #expect(dead.attempt == 1)
        #expect(dead.lastError == "payload[1]: expected a number, found a string")

        try await harness.waitUntil("the plugin's log lines") { host.log.contains("sum of 3 numbers: 6.5") }
        #expect(host.log.components(separatedBy: "Ahoy, Ada! (job \(hello), attempt 1)").count == 3, "\(host.log)")
        #expect(host.log.contains("ready; greeting \\\"Ahoy\\\"") || host.log.contains(#"ready; greeting "Ahoy""#), "init logged through the host")
    }

    @Test func hostTryRunsItsHandlers() async throws {
        let harness = try await harness()
        defer { harness.stop() }
        struct Report: Decodable {
            struct Log: Decodable { let message: String }
            let outcome: String
            let error: String?
            let result: [String: Double]?
            let logs: [Log]
        }
        func tried(_ arguments: [String]) async throws -> (Int32, Report) {
            let output = try await harness.host(["try"] + arguments + ["--json"])
            return (output.status, try JSONDecoder().decode(Report.self, from: Data(output.stdout.utf8)))
        }

        let (status, sum) = try await tried(["rust.sum", "[1, 2, 3]"])
        #expect(status == 0)
        #expect(sum.outcome == "success")
        #expect(sum.logs.contains { $0.message == "sum of 3 numbers: 6" })
        #expect(sum.result == ["sum": 6, "count": 3], "the sum, set as the job's result (ABI 1.1)")

        let (badStatus, bad) = try await tried(["rust.sum", #"{"numbers": [1]}"#])
        #expect(badStatus == 1)
        #expect(bad.outcome == "discard")
        #expect(bad.error == "payload: expected an array of numbers such as [1, 2.5], found an object")

        // is_cancelled: at the timeout it stops greeting and asks for a retry.
        let (cancelledStatus, cancelled) = try await tried(["rust.hello", #"{"name": "Ada", "times": 10000, "pause_ms": 10}"#, "--timeout", "300ms"])
        #expect(cancelledStatus == 1)
        #expect(cancelled.outcome == "retry")
        #expect(cancelled.error?.hasPrefix("cancelled after ") == true, "\(cancelled.error ?? "")")
    }

    @Test func aConfigTypoRefusesThePluginNamingTheKey() async throws {
        let harness = try await harness(config: "{ greting: Ahoy }")
        defer { harness.stop() }
        let checked = try await harness.host(["check-config"])
        #expect(checked.status == 1)
        #expect(checked.stderr.contains("config.greting: unknown key; this plugin reads only 'greeting'"), "\(checked.stderr)")
        let tried = try await harness.host(["try", "rust.hello", #"{"name": "Ada"}"#])
        #expect(tried.status == 2)
        #expect(tried.stderr.contains("config.greting: unknown key"), "\(tried.stderr)")
    }
}
