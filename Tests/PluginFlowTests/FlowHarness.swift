import Backend
import Foundation
import Glibc
import JobHostTesting
import Logging
import RedisBackend
import Testing

/// The reference plugins through the real `host run`: jobs on a private Redis, the plugins' tables
/// in a private PostgreSQL (the application database), the AI a local fake server.
final class FlowHarness {
    let redis: RedisServer
    let postgres: PostgresServer
    let ai: FakeAIServer
    let directory: TemporaryDirectory
    let configPath: String
    let backend: any JobBackend
    private var hosts: [BackgroundProcess] = []

    /// - Parameters:
    ///   - plugins: the plugin entries (`Noctua`, …) to load; each gets the database, Redis and AI settings.
    ///   - queues: extra YAML under `queues:` (two-space indented entries), after the default queue.
    ///   - extraYAML: more top-level sections (routes, schedules).
    ///   - maxAttempts: of the default queue, where every family's jobs go.
    ///   - routes: extra YAML under `routes:` (two-space indented entries), before the family routes;
    ///     an exact handler name there wins over its family's `family.*` route.
    init(
        plugins: [String], maxAttempts: Int = 5, queues: String = "", routes: String = "", extraYAML: String = "",
        aiTimeoutSeconds: Double = 5
    ) async throws {
        let redis = try await RedisServer.start()
        let postgres = try await PostgresServer.start(database: "app")
        let ai = try await FakeAIServer.start()
        (self.redis, self.postgres, self.ai) = (redis, postgres, ai)
        directory = try TemporaryDirectory.create()
        configPath = directory.url.appendingPathComponent("host.yaml").path
        let pluginYAML = plugins.map { name in
            """
              \(name):
                config:
                  database_url: "\(postgres.url)"
                  redis_url: "\(redis.url)"
                  ai_base_url: "\(ai.url)"
                  ai_model: fake-1
                  ai_timeout_seconds: \(aiTimeoutSeconds)
            """
        }.joined(separator: "\n")
        // The handler names of each plugin start with its family: Noctua → noctua.*, CompanyContext → company_context.*.
        let routeYAML = plugins.map { name in
            let family = name.replacing(/([a-z])([A-Z])/) { "\($0.1)_\($0.2)" }.lowercased()
            return "  \(family).*: { queue: default, timeout: 8s }"
        }.joined(separator: "\n")
        try """
            host: { shutdown_timeout: 3s, log_level: info, timeout_grace: 2s }
            backends:
              main: { type: redis, url: "\(redis.url)", key_prefix: flow, connect_timeout: 1s }
            plugins:
            \(pluginYAML)
            queues:
              default: { concurrency: 4, timeout: 8s, lease: 10s, retry: { max_attempts: \(maxAttempts), base: 200ms, max: 1s } }
            \(queues)
            routes:
            \(routes)
            \(routeYAML)
            \(extraYAML)
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
        var logger = Logger(label: "flow-test")
        logger.logLevel = .critical
        backend = RedisBackend(url: redis.url, keyPrefix: "flow", connectTimeout: .seconds(2), logger: logger)
    }

    deinit {
        for host in hosts { host.send(SIGKILL) }
        redis.stop()
        postgres.stop()
        try? directory.remove()
    }

    func startHost(_ name: String = "host") throws -> BackgroundProcess {
        let process = try BackgroundProcess(
            BuildProducts.host.path, ["run", "--config", configPath],
            logPath: directory.url.appendingPathComponent("\(name)-\(hosts.count).log").path)
        hosts.append(process)
        return process
    }

    func host(_ arguments: [String]) throws -> ChildProcess.Output {
        try ChildProcess.run(BuildProducts.host.path, arguments + ["--config", configPath], timeout: .seconds(30))
    }

    /// Enqueues through `host enqueue`, as an application's operator would; returns the job id.
    func enqueue(_ handler: String, _ payload: String) throws -> String {
        let output = try host(["enqueue", handler, payload])
        guard output.status == 0 else { throw HarnessError.commandFailed(command: "host enqueue", status: output.status, stderr: output.stderr) }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// One value from the application database (`psql -At`), trimmed.
    func sql(_ query: String) throws -> String {
        try postgres.psql(query)
    }

    func waitUntil(timeout: Duration, _ condition: () throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? condition()) == true { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return (try? condition()) == true
    }

    /// Waits until the job is finished — done or dead — and returns which (nil if it never finished).
    func finish(_ job: String, queue: String = "default", timeout: Duration = .seconds(20)) async throws -> JobState? {
        let finished = try await waitUntil(timeout: timeout) {
            let state = try backend.job(queue: queue, id: job)?.state
            return state == .done || state == .dead
        }
        return finished ? try backend.job(queue: queue, id: job)?.state : nil
    }

    /// Every queue settled: nothing ready, running or scheduled.
    func idle(_ queues: [String]) throws -> Bool {
        try queues.allSatisfy { queue in
            let stats = try backend.stats(queue: queue)
            return stats.ready == 0 && stats.running == 0 && stats.scheduled == 0
        }
    }
}
