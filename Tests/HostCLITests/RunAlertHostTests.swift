import Backend
import Foundation
import JobHostTesting
import Testing

/// Alerts on failed runs, end to end: `host run` processes sharing one backend, a handler that fails
/// every attempt, and the alert command writing each alert it receives to a file.
struct RunAlertHostTests {
    /// The alerts the command received, one JSON object per line.
    static func received(_ file: String) throws -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
    }

    /// A handler failing every attempt of jobs with three attempts raises one alert after three failed
    /// runs (nine failed attempts), though the runs ended on two hosts and one host restarted in between;
    /// a success sends one recovery; a critical handler's dead job alerts at once, naming the job. Each
    /// alert reaches the command once, as JSON.
    @Test(arguments: HostHarness.BackendKind.allCases)
    func oneAlertAfterThreeFailedRunsAcrossTwoHostsAndARestart(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness(kind)
        let alertsFile = harness.directory.url.appendingPathComponent("alerts.jsonl").path
        let flag = harness.directory.url.appendingPathComponent("failing").path
        try harness.writeConfig(
            host: "shutdown_timeout: 5s, log_level: info",
            plugins: "  TestPlugin: {}",
            queues: "  default: { concurrency: 1, timeout: 10s, lease: 5s, retention: 1h, retry: { base: 10ms, max: 20ms } }",
            extra: """
                alerts:
                  after_failures: 3
                  critical: [test.discard]
                  command: [sh, -c, 'cat >> "$0"; echo >> "$0"', "\(alertsFile)"]
                  command_timeout: 30s
                """)
        FileManager.default.createFile(atPath: flag, contents: nil)
        let failing = #"{"path": "\#(flag)"}"#
        func failRun(_ number: Int) async throws {
            _ = try harness.enqueue(1, handler: "test.fail_while", maxAttempts: 3) { _ in failing }
            try await harness.waitUntil("failed run \(number) dead") { try harness.backend.stats(queue: "default").dead == number }
        }

        let first = try harness.startHost("first")
        try await failRun(1)
        #expect(try harness.backend.stats(queue: "default").failed == 3, "three failed attempts make one failed run")
        let second = try harness.startHost("second")
        first.send(SIGTERM)
        #expect(await first.waitUntilExit(timeout: .seconds(60)) == 0, "\(first.log)")
        try await failRun(2)
        let restarted = try harness.startHost("restarted")
        try await failRun(3)
        try await harness.waitUntil("the alert received") { try !Self.received(alertsFile).isEmpty }
        var alerts = try Self.received(alertsFile)
        #expect(alerts.count == 1, "\(alerts)")
        #expect(alerts.first?["alert"] as? String == "failed_runs")
        #expect(alerts.first?["name"] as? String == "test.fail_while" && alerts.first?["queue"] as? String == "default")
        #expect(alerts.first?["failures"] as? Int == 3)
        #expect((alerts.first?["last_error"] as? String)?.contains("planned failure") == true, "\(alerts)")
        let logs = [first, second, restarted].map(\.log).joined()
        #expect(logs.components(separatedBy: "handler test.fail_while failed 3 runs in a row").count == 2, "one alert line in all logs:\n\(logs)")
        #expect(!first.log.contains("runs in a row"), "nine failed attempts of two runs on the first host alerted")

        try FileManager.default.removeItem(atPath: flag)
        _ = try harness.enqueue(1, handler: "test.fail_while", maxAttempts: 3) { _ in failing }
        try await harness.waitUntil("the recovery received") { try Self.received(alertsFile).count >= 2 }
        let discarded = try harness.enqueue(1, handler: "test.discard", maxAttempts: 3) { _ in "{}" }[0]
        try await harness.waitUntil("the critical job's alert received") { try Self.received(alertsFile).count >= 3 }
        for host in [second, restarted] { host.send(SIGTERM) }
        for host in [second, restarted] { #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0, "\(host.log)") }

        alerts = try Self.received(alertsFile)
        #expect(alerts.count == 3, "nothing sent twice: \(alerts)")
        #expect(alerts[1]["alert"] as? String == "recovered" && alerts[1]["failures"] as? Int == 3, "\(alerts[1])")
        let dead = alerts[2]
        #expect(dead["alert"] as? String == "job_dead", "\(dead)")
        #expect(dead["job_id"] as? String == discarded && dead["handler"] as? String == "test.discard")
        #expect(dead["queue"] as? String == "default" && dead["last_error"] as? String == "discarded on purpose")
    }
}
