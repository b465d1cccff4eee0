import Foundation
import Glibc
import JobHostTesting
import Testing

/// The README's first commands, on the shipped `config/host.yaml` as it is: `host run` with no Redis
/// or PostgreSQL anywhere, `host enqueue greeter.hello`, and the job done.
struct ZeroSetupTests {
    struct Shown: Decodable {
        let state: String
    }

    @Test func theShippedConfigRunsAJobWithNoServer() async throws {
        // The file is copied unchanged to <tmp>/config/host.yaml: its `../.build/jobhost.sqlite` is then
        // <tmp>/.build/jobhost.sqlite, as it is .build/ of the checkout for `scripts/host run`.
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        let shipped = try String(contentsOf: BuildProducts.repositoryRoot.appendingPathComponent("config/host.yaml"), encoding: .utf8)
        let configDirectory = directory.url.appendingPathComponent("config")
        try FileManager.default.createDirectory(at: configDirectory, withIntermediateDirectories: false)
        let config = configDirectory.appendingPathComponent("host.yaml").path
        try shipped.write(toFile: config, atomically: false, encoding: .utf8)
        let database = directory.url.appendingPathComponent(".build/jobhost.sqlite").path

        // Nothing answers where a Redis or PostgreSQL would be looked for: the config must not need one.
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("JOBHOST_") }.merging([
            "JOBHOST_ADMIN_TOKEN": "zero-setup-token-0123456789", "JOBHOST_NAME": "zero-setup-\(getpid())",
            "REDIS_URL": "redis://127.0.0.1:1/0", "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        ]) { $1 }
        func host(_ arguments: [String]) async throws -> ChildProcess.Output {
            try await ChildProcess.run(BuildProducts.host.path, arguments + ["--config", config], environment: environment)
        }

        let checked = try await host(["check-config"])
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(checked.stdout == "OK: 1 queue, 2 plugins (2 handlers), 1 schedule\nbackend main: sqlite \(database)\n", "\(checked.stdout)")

        var running: BackgroundProcess?
        defer {
            running?.send(SIGKILL)
            _ = running?.waitUntilExitBlocking(timeout: .seconds(10))
        }
        // The admin server's port is free when chosen; chosen again if another process took it first.
        for attempt in 1...3 {
            let listen = ["JOBHOST_ADMIN_LISTEN": "127.0.0.1:\(try Loopback.freePort())"]
            let started = try BackgroundProcess(
                BuildProducts.host.path, ["run", "--config", config], environment: environment.merging(listen) { $1 },
                logPath: directory.url.appendingPathComponent("host-\(attempt).log").path)
            running = started
            try await waitUntil("the host's admin server listening, or the host exiting", details: { started.log }) {
                started.log.contains("admin server listening") || started.exitStatus != nil
            }
            if started.exitStatus == nil || !started.log.contains("Address already in use") { break }
        }
        let started = try #require(running)
        #expect(started.exitStatus == nil, "\(started.log)")

        let enqueued = try await host(["enqueue", "greeter.hello", #"{"name": "Ada"}"#])
        #expect(enqueued.status == 0, "\(enqueued.stderr)")
        let id = enqueued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await waitUntil("job \(id) done", details: { started.log }) {
            let shown = try await host(["jobs", "show", id, "--json"])
            guard shown.status == 0 else { return false }
            return try JSONDecoder().decode(Shown.self, from: Data(shown.stdout.utf8)).state == "done"
        }
        #expect(started.log.contains("Hello, Ada!"), "the Greeter plugin ran with the config's salutation: \(started.log)")
        #expect(FileManager.default.fileExists(atPath: database), "the jobs are in the file under .build/")

        started.send(SIGTERM)
        #expect(await started.waitUntilExit(timeout: .seconds(60)) == 0, "\(started.log)")
    }
}
