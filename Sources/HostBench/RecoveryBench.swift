import Backend
import Foundation
import Glibc
import JobHostTesting

/// How long the jobs a killed host held take to run again, measured as an operator would see it: real
/// `host run` processes with the config's default lease, 500 jobs of 200 ms at concurrency 10, the
/// host killed with SIGKILL mid-run, then restarted under the same name (`restart`) or left dead with a
/// second host already running (`second-host`). Prints the figures; asserts nothing.
struct RecoveryBench {
    enum Mode: String, CaseIterable {
        case restart
        case secondHost = "second-host"
    }

    let mode: Mode
    let backendYAML: String
    let backend: any JobBackend
    let scratch: URL

    func run() async throws {
        let records = scratch.appendingPathComponent("runs.txt").path
        _ = FileManager.default.createFile(atPath: records, contents: nil)
        func config(_ name: String) throws -> String {
            let path = scratch.appendingPathComponent("\(name).yaml").path
            // No lease: the default, as an operator who has not tuned it runs.
            try """
                host: { name: \(name), log_level: info }
                backends:
                  main: \(backendYAML)
                plugins:
                  TestPlugin: {}
                queues:
                  default: { concurrency: 10, timeout: 30s }
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        func start(_ name: String, _ n: Int) throws -> BackgroundProcess {
            try BackgroundProcess(
                BuildProducts.host.path, ["run", "--config", try config(name)],
                logPath: scratch.appendingPathComponent("\(name)-\(n).log").path)
        }

        let jobs = (0..<500).map { _ in
            NewJob(queue: "default", handler: "test.sleep", payload: Data(#"{"record": "\#(records)", "ms": 200}"#.utf8), maxAttempts: 5)
        }
        let ids = Set(try backend.enqueue(jobs))
        let victim = try start("bench-a", 1)
        let other = mode == .secondHost ? try start("bench-b", 1) : nil
        var hosts = [victim] + (other.map { [$0] } ?? [])
        defer { for host in hosts { host.send(SIGKILL) } }
        try await waitUntil("100 jobs started", timeout: .seconds(600)) { try HostHarness.runs(in: records).count >= 100 }

        // What the victim holds now: running, and fetched ahead of its slots.
        let held = Set(try backend.list(queue: "default", state: .running, offset: 0, limit: 1000).map(\.id))
        victim.send(SIGKILL)
        let killedAt = Date()
        _ = await victim.waitUntilExit(timeout: .seconds(30))
        var from = killedAt
        if mode == .restart {
            try await Task.sleep(for: .seconds(2))
            from = Date()
            hosts.append(try start("bench-a", 2))
        }
        try await waitUntil("every job done", timeout: .seconds(600)) { try backend.stats(queue: "default").processed >= ids.count }

        // The first start of each held job after the kill (jobs the other host held at the kill are
        // among them and start on time; the victim's are the ones that wait).
        var again: [String: Double] = [:]
        for run in try HostHarness.runs(in: records) where held.contains(run.id) && run.at > killedAt {
            again[run.id] = min(again[run.id] ?? .infinity, run.at.timeIntervalSince(from))
        }
        let waits = again.values.sorted()
        let what = mode == .restart ? "after the restart (2 s after the kill)" : "after the kill"
        print("recovery (\(mode.rawValue)): \(held.count) jobs leased at the kill, \(waits.count) of them started again")
        if let last = waits.last {
            print(String(format: "  started again %@: median %.2f s, max %.2f s", what, waits[waits.count / 2], last))
        }
        for host in hosts { host.send(SIGTERM) }
        for host in hosts { _ = await host.waitUntilExit(timeout: .seconds(30)) }
    }
}
