import ArgumentParser
import Foundation
import Glibc
import HostConfig
import JobHostTesting
import Logging
import PostgresBackend

/// `host-bench --idle-memory`: what an idle `host run` costs in memory. Starts the host on a config
/// (its own Redis and PostgreSQL servers when the config has such backends), waits until its workers
/// are up and it has settled, then prints, per process and in total, resident memory, PSS (each shared
/// page divided among the processes that map it, so the total counts it once) and private dirty
/// memory, and the plugins each process mapped.
struct IdleMemory {
    /// The config to run, as given (relative paths in it resolve as beside a copy in a scratch directory).
    let configPath: String
    /// How long the host stays idle after it settled, before the figures are read.
    let idle: Duration
    let scratch: URL

    func run() async throws {
        let originalText: String
        do {
            originalText = try String(contentsOfFile: configPath, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read \(configPath): \(error.localizedDescription)")
        }
        let logger = Logger(label: "bench")
        // A copy in the scratch directory: an SQLite file the config names relative to itself lands there.
        let configDirectory = scratch.appendingPathComponent("config")
        try FileManager.default.createDirectory(at: configDirectory, withIntermediateDirectories: true)
        let copy = configDirectory.appendingPathComponent(URL(fileURLWithPath: configPath).lastPathComponent).path
        try originalText.write(toFile: copy, atomically: true, encoding: .utf8)

        var environment = ProcessInfo.processInfo.environment
        let asWritten = try ConfigLoader(environment: environment).load(text: originalText, path: copy)
        var stops: [@Sendable () -> Void] = []
        defer { for stop in stops { stop() } }
        if asWritten.backends.contains(where: { $0.kind == .redis }) {
            let redis = try await RedisServer.start()
            stops.append { redis.stop() }
            environment["REDIS_URL"] = redis.url
        }
        if asWritten.backends.contains(where: { $0.kind == .postgres }) {
            let postgres = try await PostgresServer.start(database: "app")
            stops.append { postgres.stop() }
            environment["DATABASE_URL"] = postgres.url
        }
        environment["JOBHOST_ADMIN_TOKEN"] = environment["JOBHOST_ADMIN_TOKEN"] ?? String(repeating: "idle-memory-", count: 2)
        environment["JOBHOST_ADMIN_LISTEN"] = "127.0.0.1:\(try Loopback.freePort())"
        let config = try ConfigLoader(environment: environment).load(text: originalText, path: copy)
        for backend in config.backends {
            switch backend.kind {
            case .redis where backend.url.revealed != environment["REDIS_URL"], .postgres where backend.url.revealed != environment["DATABASE_URL"]:
                throw ValidationError(
                    "backend '\(backend.name)' has its URL written out; write ${REDIS_URL} or ${DATABASE_URL} (with a default if you like), "
                        + "which the bench points at its own server")
            case .postgres:
                _ = try PostgresMigrator(url: backend.url.revealed, schema: backend.schema, connectTimeout: .seconds(10), logger: logger).migrate()
            default:
                continue
            }
        }
        let expectedWorkers = config.queues.filter { $0.isolation == .process }.reduce(0) { $0 + min($1.workers, $1.concurrency) }

        let host = try BackgroundProcess(
            BuildProducts.host.path, ["run", "--config", copy], environment: environment,
            logPath: scratch.appendingPathComponent("host.log").path)
        defer {
            host.send(SIGTERM)
            if host.waitUntilExitBlocking(timeout: .seconds(60)) == nil { host.send(SIGKILL) }
        }
        print("idle memory: host run --config \(configPath), \(expectedWorkers) worker process\(expectedWorkers == 1 ? "" : "es") expected")
        try await waitUntil("the host's \(expectedWorkers) workers started", timeout: .seconds(120), details: { host.log.suffix(3000).description }) {
            if let status = host.exitStatus { throw ValidationError("host run exited (status \(status)):\n\(host.log.suffix(3000))") }
            return host.children.count >= expectedWorkers
        }
        // Ready means settled: no process of the host changes its threads or resident pages for a second.
        var last: [Int32: [Int]] = [:]
        try await waitUntil("the host settled", timeout: .seconds(120), interval: .seconds(1)) {
            let now = Dictionary(uniqueKeysWithValues: ([host.pid] + host.children).map { ($0, Self.settleMarks(of: $0)) })
            defer { last = now }
            return now == last
        }
        try await Task.sleep(for: idle)

        let processes = [host.pid] + host.children.sorted()
        let plugins = Set(config.plugins.map { "lib\($0.name).so" })
        print("process                      RSS MiB   PSS MiB   private dirty MiB   plugins mapped")
        var total = (rss: 0, pss: 0, dirty: 0)
        for pid in processes {
            let figures = Self.rollup(of: pid)
            total = (total.rss + figures.rss, total.pss + figures.pss, total.dirty + figures.dirty)
            let mapped = Self.mappedLibraries(of: pid).filter(plugins.contains).map { String($0.dropFirst(3).dropLast(3)) }.sorted()
            print(
                Self.pad(Self.label(of: pid, supervisor: host.pid), 26)
                    + String(format: "%9.1f %9.1f %19.1f   ", Self.mib(figures.rss), Self.mib(figures.pss), Self.mib(figures.dirty))
                    + (mapped.isEmpty ? "-" : mapped.joined(separator: ", ")))
        }
        print(
            Self.pad("total (\(processes.count) processes)", 26)
                + String(format: "%9.1f %9.1f %19.1f", Self.mib(total.rss), Self.mib(total.pss), Self.mib(total.dirty)))
    }

    private static func mib(_ kib: Int) -> Double { Double(kib) / 1024 }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    /// `supervisor 1234` or `worker default.1 1235`.
    private static func label(of pid: Int32, supervisor: Int32) -> String {
        if pid == supervisor { return "supervisor \(pid)" }
        let arguments = procText("/proc/\(pid)/cmdline").split(separator: "\0")
        return "worker \(arguments.last ?? "?") \(pid)"
    }

    /// Resident, PSS and private dirty memory of `pid` in KiB, from `/proc/PID/smaps_rollup`.
    static func rollup(of pid: Int32) -> (rss: Int, pss: Int, dirty: Int) {
        let text = procText("/proc/\(pid)/smaps_rollup")
        var fields: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let value = Int(parts[1]) { fields[String(parts[0].dropLast())] = value }
        }
        return (fields["Rss"] ?? 0, fields["Pss"] ?? 0, fields["Private_Dirty"] ?? 0)
    }

    /// Threads and resident pages: unchanged while a process sleeps.
    private static func settleMarks(of pid: Int32) -> [Int] {
        let status = procText("/proc/\(pid)/status")
        return status.split(separator: "\n").filter { $0.hasPrefix("Threads:") || $0.hasPrefix("VmRSS:") }
            .map { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0 }
    }

    /// The file names of the libraries mapped into `pid`.
    private static func mappedLibraries(of pid: Int32) -> Set<String> {
        let maps = procText("/proc/\(pid)/maps")
        return Set(maps.split(separator: "\n").compactMap { line in line.split(separator: "/").last.map(String.init) })
    }
}
