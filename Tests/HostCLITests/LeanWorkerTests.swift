import Foundation
import Glibc
import JobHostTesting
import Testing

/// A worker process maps only the plugins whose handlers its queues receive: every plugin a process
/// loads stays mapped for its life, in each worker.
@Suite(.serialized)
struct LeanWorkerTests {
    @Test
    func aWorkerLoadsOnlyThePluginsItsQueuesReceiveAndAnotherOnDemand() async throws {
        let harness = try await HostHarness(.sqlite)
        try harness.writeConfig(
            host: "shutdown_timeout: 2s, log_level: info",
            plugins: """
                  TestPlugin: {}
                  Echo: {}
                  Greeter: { config: { salutation: Hi } }
                """,
            queues: """
                  default: { concurrency: 2, timeout: 10s, retention: 1h }
                  echoes: { concurrency: 2, timeout: 10s, retention: 1h }
                  greetings: { concurrency: 1, timeout: 10s, retention: 1h }
                """,
            routes: """
                  echo.*: echoes
                  greeter.*: greetings
                """)
        // The greetings queue is not run here: no worker of this host receives Greeter's jobs.
        let host = try harness.startHost(arguments: ["--queues", "default,echoes"])
        let test = try harness.enqueue(1, handler: "test.record") { _ in #"{"record": "\#(harness.recordFile)"}"# }
        let echo = try harness.enqueue(1, handler: "echo.log", queue: "echoes") { _ in #"{"n": 1}"# }
        try await harness.waitUntil("a job done on each queue") {
            try harness.backend.stats(queue: "default").processed == test.count && harness.backend.stats(queue: "echoes").processed == echo.count
        }
        let workers = try Self.workers(of: host)
        #expect(Set(workers.keys) == ["default.1", "echoes.1"], "\(workers)")
        #expect(try Self.mappedPlugins(workers["default.1"]) == ["libTestPlugin.so"])
        #expect(try Self.mappedPlugins(workers["echoes.1"]) == ["libEcho.so"])
        let unplaced = host.log.split(separator: "\n").filter { $0.contains("no worker loads these plugins") }
        #expect(unplaced.count == 1 && unplaced[0].contains("Greeter") && !unplaced[0].contains("Echo"), "\(host.log.suffix(3000))")

        // A producer may send any handler to any queue: the worker loads its plugin then, and the job runs.
        let sent = try harness.enqueue(1, handler: "test.record", queue: "echoes") { _ in #"{"record": "\#(harness.recordFile)"}"# }
        try await harness.waitUntil("the test job sent to the echoes queue done") {
            try harness.backend.stats(queue: "echoes").processed == echo.count + sent.count
        }
        #expect(Set(try harness.recordedIDs()) == Set(test + sent))
        #expect(try Self.mappedPlugins(workers["echoes.1"]) == ["libEcho.so", "libTestPlugin.so"])
        #expect(try Self.mappedPlugins(workers["default.1"]) == ["libTestPlugin.so"])
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0, "\(host.log.suffix(2000))")
    }

    /// Worker name (`<queue>.<n>`, from its command line) → PID.
    static func workers(of host: BackgroundProcess) throws -> [String: Int32] {
        Dictionary(uniqueKeysWithValues: try host.children.map { pid in
            let arguments = try String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8).split(separator: "\0")
            return (arguments.last.map(String.init) ?? "", pid)
        })
    }

    /// The plugin libraries mapped into `pid`, by file name, sorted.
    static func mappedPlugins(_ pid: Int32?) throws -> [String] {
        let pid = try #require(pid)
        // Read to the end: a /proc file reports a size of 0, and a read sized by it stops short.
        let handle = try #require(FileHandle(forReadingAtPath: "/proc/\(pid)/maps"))
        defer { try? handle.close() }
        let maps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        let names = maps.split(separator: "\n").compactMap { line in line.split(separator: "/").last.map(String.init) }
        return Set(names.filter { ["libTestPlugin.so", "libEcho.so", "libGreeter.so"].contains($0) }).sorted()
    }
}
