import Foundation
import Glibc
import JobHostTesting
import Testing

/// `host.log_format` and `host run --log-format`: JSON lines from the host and its workers, text when
/// forced or on a terminal.
@Suite(.serialized)
struct LogFormatTests {
    /// A plugin setting full of what JSON must escape (YAML turns `\t`, `\n`, `\u0001` into the characters);
    /// `test.log` logs it.
    static let greeting = #""tab\there \"quoted\" back\\slash ü ✓ \u0001 line\nnext""#
    static let greetingText = "tab\there \"quoted\" back\\slash ü ✓ \u{01} line\nnext"

    static func harness(format: String) async throws -> HostHarness {
        try await HostHarness.testPlugin(hostYAML: ", log_format: \(format)")
    }

    /// Runs `host run` with `arguments` until a `test.log` job has run, then stops it with SIGTERM;
    /// returns what it wrote.
    static func runOneLogJob(_ harness: HostHarness, arguments: [String] = []) async throws -> (log: String, jobID: String) {
        try harness.editConfig { $0.replacingOccurrences(of: "TestPlugin: {}", with: "TestPlugin: { config: { greeting: \(greeting) } }") }
        let id = try harness.enqueue(1, handler: "test.log") { _ in #"{"say": "\"hi\" \\ there"}"# }[0]
        let host = try harness.startHost(arguments: arguments)
        try await harness.waitUntil("every enqueued job ran") { try harness.backend.stats(queue: "default").processed == 1 }
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0, "\(host.log)")
        return (host.log, id)
    }

    @Test func autoWritesJSONLinesWhenStderrIsNotATerminalAndWorkersDoToo() async throws {
        let harness = try await Self.harness(format: "auto")
        let (log, id) = try await Self.runOneLogJob(harness)
        let lines = log.split(separator: "\n")
        #expect(lines.count >= 5, "\(log)")
        var objects: [[String: Any]] = []
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not a JSON object: \(line)")
            if let object { objects.append(object) }
        }
        let timestamp = #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/#
        for object in objects {
            #expect((object["ts"] as? String)?.wholeMatch(of: timestamp) != nil, "\(object)")
            #expect(["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(object["level"] as? String ?? ""))
            #expect(object["label"] as? String == "jobhost" && object["message"] is String && object["file"] is String && object["line"] is Int)
        }
        // The supervisor's lines and its worker's (the worker logs what the handler logged).
        #expect(objects.contains { $0["message"] as? String == "supervising workers" && $0["worker"] == nil })
        let jobLine = try #require(objects.first { ($0["message"] as? String)?.hasPrefix("greeting=") == true }, "\(log)")
        #expect(jobLine["message"] as? String == #"greeting=\#(Self.greetingText) payload={"say": "\"hi\" \\ there"}"#)
        #expect(jobLine["job.id"] as? String == id && jobLine["job.handler"] as? String == "test.log")
        #expect(jobLine["job.queue"] as? String == "default" && jobLine["job.attempt"] as? String == "1")
        #expect(jobLine["queue"] as? String == "default" && jobLine["plugin"] as? String == "TestPlugin")
        #expect(jobLine["worker"] as? String == "default.1" && jobLine["pid"] is String)
    }

    @Test func theFlagOverridesTheConfigForTheHostAndItsWorkers() async throws {
        let harness = try await Self.harness(format: "json")
        let (log, _) = try await Self.runOneLogJob(harness, arguments: ["--log-format", "text"])
        let lines = log.split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { !$0.hasPrefix("{") }, "\(log)")
        #expect(lines.contains { $0.contains(" info jobhost:") && $0.contains("supervising workers") }, "\(log)")
        #expect(lines.contains { $0.contains("worker=default.1") && $0.contains("greeting=tab") }, "the worker logs text too: \(log)")
    }

    @Test func autoWritesTextOnATerminal() async throws {
        let harness = try await Self.harness(format: "auto")
        // script(1) runs the host on a pseudo-terminal and copies what it writes there to its own output.
        let terminal = try BackgroundProcess(
            "script", ["-qfec", "exec \(BuildProducts.host.path) run --config \(harness.configPath)", "/dev/null"],
            logPath: harness.directory.url.appendingPathComponent("terminal.log").path)
        func lines() -> [Substring] { terminal.log.split(whereSeparator: \.isNewline) }
        try await waitUntil("the host and its worker logging on the terminal", details: { terminal.log }) {
            lines().contains { $0.contains(" info jobhost:") && $0.contains("supervising workers") }
                && lines().contains { $0.contains("worker=default.1") && $0.contains("plugin loaded") }
        }
        let host = try #require(terminal.children.first, "the host under script")
        kill(host, SIGTERM)
        #expect(await terminal.waitUntilExit(timeout: .seconds(60)) == 0, "\(terminal.log)")
        #expect(lines().allSatisfy { !$0.hasPrefix("{") }, "\(terminal.log)")
    }
}
