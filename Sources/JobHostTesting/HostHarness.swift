import Backend
import Foundation
import Glibc
import Logging
import PostgresBackend
import RedisBackend
import SQLiteBackend
import Synchronization

/// The `host` executable as the tests run it: a private backend server (or, for SQLite, a file in the
/// temporary directory), a temporary directory holding the config file, the spawned `host run`
/// processes, and the `host` subcommands.
///
/// Everything it starts is its own to clean up: ``stop()`` (also run when the last reference
/// goes away) kills every `host run` it started, stops the servers it started and removes its
/// directory.
///
/// Setups:
/// - ``testPlugin(_:concurrency:lease:timeout:shutdownTimeout:backendURL:hostYAML:queuesYAML:extraYAML:)``:
///   the test plugin on one queue, the config most CLI tests need;
/// - ``init(_:backendURL:keyPrefix:applicationDatabase:fakeAI:)`` then ``writeConfig(host:plugins:queues:routes:extra:)``
///   for anything else (the reference plugins with their database and a fake AI server, say).
public final class HostHarness: Sendable {
    /// Which backend the jobs live in.
    public enum BackendKind: String, CaseIterable, Sendable, CustomStringConvertible {
        case redis, postgres
        /// A file in the harness's directory: no server.
        case sqlite
        public var description: String { rawValue }
    }

    public let kind: BackendKind
    /// The private Redis server holding the jobs, when the harness started one.
    public let redis: RedisServer?
    /// The private PostgreSQL server holding the jobs, when the harness started one.
    public let postgres: PostgresServer?
    /// A second PostgreSQL server: the application database plugins write to, when asked for.
    public let database: PostgresServer?
    /// The fake AI endpoint, when asked for.
    public let ai: FakeAIServer?
    /// The backend the config's `main` entry points at: a server's URL, or the SQLite file's path.
    public let backendURL: String
    /// The key prefix (Redis) the config gives the backend.
    public let keyPrefix: String
    public let directory: TemporaryDirectory
    /// The config file every `host` command gets with `--config`.
    public let configPath: String
    /// The file the test plugin's `record` payload field points at (created empty).
    public let recordFile: String
    /// A client of the jobs backend, for a test to enqueue into and inspect.
    public let backend: any JobBackend
    private let hosts = Mutex<[BackgroundProcess]>([])
    private let stopped = Mutex(false)

    /// Starts the servers and creates the directory; the config is written by
    /// ``writeConfig(host:plugins:queues:routes:extra:)``.
    ///
    /// - Parameters:
    ///   - kind: the backend the jobs live in.
    ///   - backendURL: a server the test manages itself (for SQLite, a file's path); nil starts a
    ///     private one of `kind` (for SQLite, `jobs.sqlite` in ``directory``).
    ///   - keyPrefix: the Redis key prefix the config and ``backend`` use.
    ///   - applicationDatabase: the name of a database on a second, private PostgreSQL server
    ///     (``database``), for plugins that keep their own tables; nil starts none.
    ///   - fakeAI: start a ``FakeAIServer`` (``ai``).
    ///   - migrate: apply the PostgreSQL schema before returning, so ``backend`` works at once;
    ///     false leaves it to the host (`auto_migrate`).
    public init(
        _ kind: BackendKind = .redis, backendURL: String? = nil, keyPrefix: String = "run", applicationDatabase: String? = nil,
        fakeAI: Bool = false, migrate: Bool = true
    ) async throws {
        self.kind = kind
        self.keyPrefix = keyPrefix
        // nil until the directory exists: a SQLite file of the harness's own lives there.
        var jobsAt: String?
        switch (kind, backendURL) {
        case (_, .some(let url)):
            (redis, postgres, jobsAt) = (nil, nil, url)
        case (.redis, nil):
            let server = try await RedisServer.start()
            (redis, postgres, jobsAt) = (server, nil, server.url)
        case (.postgres, nil):
            let server = try await PostgresServer.start()
            (redis, postgres, jobsAt) = (nil, server, server.url)
        case (.sqlite, nil):
            (redis, postgres) = (nil, nil)
        }
        do {
            database = try await applicationDatabase.asyncMap { try await PostgresServer.start(database: $0) }
        } catch {
            redis?.stop()
            postgres?.stop()
            throw error
        }
        do {
            ai = fakeAI ? try await FakeAIServer.start() : nil
        } catch {
            for server in [redis?.stop, postgres?.stop, database?.stop] { server?() }
            throw error
        }
        do {
            directory = try TemporaryDirectory.create()
        } catch {
            for server in [redis?.stop, postgres?.stop, database?.stop, ai?.stop] { server?() }
            throw error
        }
        self.backendURL = jobsAt ?? directory.url.appendingPathComponent("jobs.sqlite").path
        recordFile = directory.url.appendingPathComponent("ran.txt").path
        _ = FileManager.default.createFile(atPath: recordFile, contents: nil)
        configPath = directory.url.appendingPathComponent("host.yaml").path
        let logger = {
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            return logger
        }()
        switch kind {
        case .redis:
            backend = RedisBackend(url: self.backendURL, keyPrefix: keyPrefix, connectTimeout: .seconds(2), logger: logger)
        case .postgres:
            let url = self.backendURL
            if migrate {
                do {
                    try await onDedicatedThread {
                        try PostgresMigrator(url: url, schema: "jobhost", connectTimeout: .seconds(30), logger: logger).migrate()
                    }
                } catch {
                    for server in [redis?.stop, postgres?.stop, database?.stop, ai?.stop] { server?() }
                    try? directory.remove()
                    throw error
                }
            }
            backend = PostgresBackend(url: url, schema: "jobhost", poolSize: 4, connectTimeout: .seconds(30), logger: logger)
        case .sqlite:
            // Created and migrated by its first call, whoever makes it: this client or a host.
            backend = SQLiteBackend(path: self.backendURL, poolSize: 4, logger: logger)
        }
    }

    /// The test plugin on a `default` queue: what most tests of `host` need.
    ///
    /// - Parameters:
    ///   - hostYAML: more `host:` settings, starting with `, ` (`", timeout_grace: 500ms"`).
    ///   - queuesYAML: more entries under `queues:`, two-space indented.
    ///   - extraYAML: more top-level sections (routes, schedules, admin, alerts).
    public static func testPlugin(
        _ kind: BackendKind = .redis, concurrency: Int = 4, lease: String = "3s", timeout: String = "2s", shutdownTimeout: String = "2s",
        backendURL: String? = nil, hostYAML: String = "", queuesYAML: String = "", extraYAML: String = ""
    ) async throws -> HostHarness {
        let harness = try await HostHarness(kind, backendURL: backendURL)
        try harness.writeConfig(
            host: "shutdown_timeout: \(shutdownTimeout), log_level: info\(hostYAML)",
            plugins: "  TestPlugin: {}",
            queues: "  default: { concurrency: \(concurrency), timeout: \(timeout), lease: \(lease), retention: 1h }\n\(queuesYAML)",
            extra: extraYAML)
        return harness
    }

    /// The config's entry for the jobs backend, `main`.
    public var backendYAML: String {
        switch kind {
        case .redis: "{ type: redis, url: \"\(backendURL)\", key_prefix: \(keyPrefix), connect_timeout: 500ms }"
        case .postgres: "{ type: postgres, url: \"\(backendURL)\", auto_migrate: true, connect_timeout: 2s }"
        case .sqlite: "{ type: sqlite, path: \"\(backendURL)\" }"
        }
    }

    /// Writes the config file, with the jobs backend as `main` unless `backends` says otherwise.
    ///
    /// - Parameters:
    ///   - host: the settings inside `host: { … }`; empty writes no section.
    ///   - plugins: the entries under `plugins:`, two-space indented; empty writes no section.
    ///   - queues: the entries under `queues:`, two-space indented.
    ///   - routes: the entries under `routes:`, two-space indented; empty writes no section.
    ///   - extra: more top-level sections, as written.
    ///   - backends: the entries under `backends:`, two-space indented; nil gives the jobs backend
    ///     as `main`.
    public func writeConfig(
        host: String = "", plugins: String = "", queues: String, routes: String = "", extra: String = "", backends: String? = nil
    ) throws {
        var sections: [String] = []
        if !host.isEmpty { sections.append("host: { \(host) }") }
        sections.append("backends:\n\(backends ?? "  main: \(backendYAML)")")
        if !plugins.isEmpty { sections.append("plugins:\n\(plugins)") }
        sections.append("queues:\n\(queues)")
        if !routes.isEmpty { sections.append("routes:\n\(routes)") }
        if !extra.isEmpty { sections.append(extra) }
        try (sections.joined(separator: "\n") + "\n").write(toFile: configPath, atomically: false, encoding: .utf8)
    }

    /// Rewrites the config file through `change` (a test adding one setting to what a setup wrote).
    public func editConfig(_ change: (String) -> String) throws {
        try change(String(contentsOfFile: configPath, encoding: .utf8)).write(toFile: configPath, atomically: false, encoding: .utf8)
    }

    /// The backend's schedule clock and fire records.
    public var scheduleStore: any ScheduleStore {
        get throws {
            guard let store = backend as? any ScheduleStore else { throw BackendError(.invalid, "\(kind) backend records no schedule fires") }
            return store
        }
    }

    deinit { stop() }

    /// Kills every `host run` started here, stops the servers started here and removes the
    /// directory. Later calls do nothing.
    public func stop() {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        for host in hosts.withLock({ $0 }) {
            host.send(SIGKILL)
            _ = host.waitUntilExitBlocking(timeout: .seconds(5))
        }
        redis?.stop()
        postgres?.stop()
        database?.stop()
        ai?.stop()
        try? directory.remove()
    }

    /// Starts `host run --config <config>` with `arguments` added, and `environment` added to this
    /// process's; it logs to `<name>-<n>.log` in the directory.
    @discardableResult
    public func startHost(_ name: String = "host", arguments: [String] = [], environment: [String: String] = [:]) throws -> BackgroundProcess {
        try hosts.withLock { hosts in
            let process = try BackgroundProcess(
                BuildProducts.host.path, ["run", "--config", configPath] + arguments,
                environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
                logPath: directory.url.appendingPathComponent("\(name)-\(hosts.count).log").path)
            hosts.append(process)
            return process
        }
    }

    /// Every `host run` started so far.
    public var startedHosts: [BackgroundProcess] { hosts.withLock { $0 } }

    /// Runs `host <arguments> --config <config>` to completion, on a thread of its own, with
    /// `environment` added to this process's.
    ///
    /// - Parameter config: another config file than the harness's.
    public func host(
        _ arguments: [String], config: String? = nil, environment: [String: String] = [:], timeout: Duration = .seconds(60)
    ) async throws -> ChildProcess.Output {
        try await ChildProcess.run(
            BuildProducts.host.path, arguments + ["--config", config ?? configPath],
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, timeout: timeout)
    }

    /// Enqueues through `host enqueue`, as an application's operator would; returns the job id.
    public func enqueue(_ handler: String, _ payload: String, queue: String? = nil) async throws -> String {
        let output = try await host(["enqueue", handler, payload] + (queue.map { ["--queue", $0] } ?? []))
        guard output.status == 0 else { throw HarnessError.commandFailed(command: "host enqueue", status: output.status, stderr: output.stderr) }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Enqueues `count` jobs straight into the backend, in batches; `payload` makes the n-th
    /// job's JSON. Returns their ids.
    @discardableResult
    public func enqueue(
        _ count: Int, handler: String, queue: String = "default", maxAttempts: Int = 5, payload: (Int) -> String
    ) throws -> [String] {
        var ids: [String] = []
        for start in stride(from: 0, to: count, by: 500) {
            let jobs = (start..<min(start + 500, count)).map {
                NewJob(queue: queue, handler: handler, payload: Data(payload($0).utf8), maxAttempts: maxAttempts)
            }
            ids += try backend.enqueue(jobs)
        }
        return ids
    }

    /// One run the test plugin recorded: its `record` handlers write "<id> <attempt> <handler>
    /// <unix µs>" as the job starts.
    public struct Run: Hashable, Sendable {
        public let id: String
        public let attempt: Int
        public let handler: String
        /// When the job started, by the host's clock.
        public let at: Date
    }

    /// The runs recorded in ``recordFile`` so far, in the order they started.
    public func runs() throws -> [Run] {
        try Self.runs(in: recordFile)
    }

    /// The runs recorded in `file`, which the test plugin writes.
    public static func runs(in file: String) throws -> [Run] {
        try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 4, let attempt = Int(fields[1]), let micros = Double(fields[3]) else { return nil }
            return Run(id: String(fields[0]), attempt: attempt, handler: String(fields[2]), at: Date(timeIntervalSince1970: micros / 1_000_000))
        }
    }

    /// The ids the test plugin recorded, one per run.
    public func recordedIDs() throws -> [String] {
        try String(contentsOfFile: recordFile, encoding: .utf8).split(separator: "\n").map { String($0.split(separator: " ")[0]) }
    }

    /// ``JobHostTesting/waitUntil(_:timeout:interval:details:isolation:_:)`` with the end of every
    /// started host's log in the error, which usually says why the awaited thing did not happen.
    public func waitUntil(
        _ what: String, timeout: Duration = .seconds(60), isolation: isolated (any Actor)? = #isolation,
        _ condition: () async throws -> Bool
    ) async throws {
        try await JobHostTesting.waitUntil(what, timeout: timeout, details: { self.logTails() }, condition)
    }

    /// The end of each started host's log, for failure messages.
    public func logTails(characters: Int = 3000) -> String {
        hosts.withLock { $0 }.map { "--- \($0.logPath) (end) ---\n\($0.log.suffix(characters))" }.joined(separator: "\n")
    }

    /// Waits until the job is finished, done or dead, and returns which.
    public func finish(_ job: String, queue: String = "default", timeout: Duration = .seconds(60)) async throws -> JobState {
        var state: JobState?
        try await waitUntil("job \(job) done or dead", timeout: timeout) {
            state = try backend.job(queue: queue, id: job)?.state
            return state == .done || state == .dead
        }
        return state!
    }

    /// Whether every queue has settled: nothing ready, running or scheduled.
    public func idle(_ queues: [String]) throws -> Bool {
        try queues.allSatisfy { queue in
            let stats = try backend.stats(queue: queue)
            return stats.ready == 0 && stats.running == 0 && stats.scheduled == 0
        }
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
