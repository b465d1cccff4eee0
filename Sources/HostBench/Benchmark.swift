import Alerting
import ArgumentParser
import Backend
import Foundation
import HostConfig
import HostDomain
import JobHostTesting
import Logging
import Monitoring
import PluginHost
import PostgresBackend
import RedisBackend
import Runtime
import SQLiteBackend
import Supervisor

/// Measures the runtime end to end on a private Redis: bulk enqueue, drain of no-op jobs, host memory,
/// and enqueue→start latency of spaced-out jobs. Prints the figures; asserts nothing.
@main
struct Benchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host-bench",
        abstract: "Measures jobhost's throughput and latency against a private redis-server.",
        discussion: "Build in release mode for meaningful figures: swift run -c release host-bench")

    @Option(help: "No-op jobs to enqueue and drain.")
    var jobs = 100_000

    @Option(help: "Worker slots of the queue.")
    var concurrency = 10

    @Option(help: "Jobs for the latency run, enqueued one every 20 ms.")
    var latencyJobs = 200

    @Option(help: "How long finished jobs are kept (0s deletes them at once).")
    var retention = "0s"

    @Option(help: "redis, postgres or sqlite: which private server to start (or, for sqlite, which file to make) and run against.")
    var backend = "redis"

    @Option(help: "sqlite only: the synchronous level, full (every commit synced, the default) or normal.")
    var synchronous = "full"

    @Option(help: ArgumentHelp(
        "postgres only: durable (PostgreSQL's default settings, fsync on: what users run; the default) or fast (fsync, synchronous_commit and full_page_writes off, as the test harness runs it).",
        valueName: "durable|fast"))
    var postgresSettings = "durable"

    @Flag(help: "Drain without the monitoring (metrics, task health, alerts) host run feeds, to measure what it costs.")
    var withoutMonitoring = false

    @Option(help: ArgumentHelp(
        "Instead of throughput: how long a killed host's jobs take to run again (restart: the same host restarted 2 s after the kill; second-host: another host already running).",
        valueName: "restart|second-host"))
    var recovery: String?

    @Option(help: "The host's log level: error (the default) keeps the drain free of per-job lines; info, as host run has it by default, writes a `job done` line per job (send stderr to /dev/null to measure it, not the terminal).")
    var logLevel = "error"

    @Option(help: "The queue's lease (the config's default is 10s; renewed every third of it while a job is held).")
    var lease = "10s"

    @Option(help: "process (handlers in a supervised worker process, the default) or thread (in this process).")
    var isolation = "process"

    @Flag(help: "Instead of throughput: the memory of an idle host run (per process and in all: RSS, PSS, private dirty; the plugins each maps).")
    var idleMemory = false

    @Option(help: "With --idle-memory: the config to run (Redis and PostgreSQL backends get private servers through ${REDIS_URL} and ${DATABASE_URL}).")
    var config = "config/host.yaml"

    func run() async throws {
        let scratch = try TemporaryDirectory.create()
        defer { try? scratch.remove() }
        if idleMemory { return try await IdleMemory(configPath: config, idle: .seconds(5), scratch: scratch.url).run() }
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical") }
        var logger = Logger(label: "bench")
        logger.logLevel = level

        // `pid`: the server's first process, whose tree the CPU figures count; nil for SQLite, which runs in the host.
        let server: (url: String, stop: @Sendable () -> Void, backendYAML: String, make: () throws -> any JobBackend, pid: Int32?)
        switch backend {
        case "redis":
            let redis = try await RedisServer.start()
            server = (redis.url, { redis.stop() }, "{ type: redis, url: \"\(redis.url)\", key_prefix: bench }", {
                RedisBackend(url: redis.url, keyPrefix: "bench", connectTimeout: .seconds(2), logger: logger)
            }, redis.pid)
        case "postgres":
            let url: String
            let stop: @Sendable () -> Void
            let pid: Int32?
            switch postgresSettings {
            case "durable":
                let postgres = try await DurablePostgresServer.start()
                // Killed and removed when the last reference goes, at the end of the run.
                (url, stop, pid) = (postgres.url, { withExtendedLifetime(postgres) {} }, postgres.pid)
            case "fast":
                let postgres = try await PostgresServer.start(database: "bench")
                (url, stop, pid) = (postgres.url, { postgres.stop() }, postgres.pid)
            default:
                throw ValidationError("--postgres-settings must be durable or fast")
            }
            server = (url, stop, "{ type: postgres, url: \"\(url)\", pool_size: 8 }", {
                try PostgresMigrator(url: url, schema: "jobhost", connectTimeout: .seconds(5), logger: logger).migrate()
                return PostgresBackend(url: url, schema: "jobhost", poolSize: 8, connectTimeout: .seconds(5), logger: logger)
            }, pid)
        case "sqlite":
            guard let level = SQLiteBackend.Synchronous(rawValue: synchronous) else { throw ValidationError("--synchronous must be full or normal") }
            let file = scratch.url.appendingPathComponent("bench.sqlite").path
            server = (file, {}, "{ type: sqlite, path: \"\(file)\", synchronous: \(level.rawValue) }", {
                SQLiteBackend(path: file, synchronous: level, logger: logger)
            }, nil)
        default:
            throw ValidationError("--backend must be redis, postgres or sqlite")
        }
        guard ["process", "thread"].contains(isolation) else { throw ValidationError("--isolation must be process or thread") }
        defer { server.stop() }
        if let recovery {
            guard let mode = RecoveryBench.Mode(rawValue: recovery) else { throw ValidationError("--recovery must be restart or second-host") }
            try await RecoveryBench(mode: mode, backendYAML: server.backendYAML, backend: try server.make(), scratch: scratch.url).run()
            return
        }

        let configText = """
            host: { log_level: \(logLevel), log_format: json }
            backends:
              main: \(server.backendYAML)
            plugins:
              TestPlugin: {}
            queues:
              default: { concurrency: \(concurrency), retention: \(retention), timeout: 30s, lease: \(lease), isolation: \(isolation) }
            """
        let configFile = scratch.url.appendingPathComponent("bench.yaml").path
        let config = try ConfigLoader(environment: [:]).load(text: configText, path: configFile)
        let loader = PluginLoader(searchPaths: [BuildProducts.binDirectory], logger: logger)
        guard case .loaded = loader.load(config.plugins[0]) else {
            throw ValidationError("the test plugin did not load from \(BuildProducts.binDirectory.path): \(loader.results)")
        }
        let backend = try server.make()
        let submitter = JobSubmitter(config: config, backends: ["main": backend])
        let (template, _) = try submitter.prepare(.init(handler: "test.noop", payload: Data("{}".utf8)))

        print("jobhost benchmark: \(jobs) no-op jobs, concurrency \(concurrency), retention \(retention), isolation \(isolation), \(self.backend) at \(server.url)"
            + (self.backend == "sqlite" ? ", synchronous \(synchronous)" : "")
            + (self.backend == "postgres"
                ? (postgresSettings == "durable" ? ", PostgreSQL default settings (fsync on)" : ", fsync, synchronous_commit and full_page_writes off") : ""))

        // Bulk enqueue.
        let enqueueStart = ContinuousClock.now
        for start in stride(from: 0, to: jobs, by: 1000) {
            let batch = (start..<min(start + 1000, jobs)).map { _ in
                var job = template
                job.id = JobID.generate()
                return job
            }
            _ = try backend.enqueue(batch)
        }
        let enqueueTime = ContinuousClock.now - enqueueStart
        print(String(format: "bulk enqueue:   %8.0f jobs/s  (%.2f s, batches of 1000)", Double(jobs) / enqueueTime.seconds, enqueueTime.seconds))

        // Drain through the real runtime: in a supervised worker process, or on threads of this one,
        // with every finished job counted in the metrics and watched for alerts as `host run` does.
        let monitor = withoutMonitoring
            ? nil : HostMonitor(alerts: FailureAlerts(threshold: 3, dispatcher: AlertDispatcher(hostName: "bench", webhook: nil, logger: logger)))
        let host: BenchHost
        let maintenance = Maintenance(queues: config.queues, backends: ["main": backend], logger: logger)
        if isolation == "process" {
            host = BenchHost(maintenance: maintenance, supervisor: Supervisor(
                config: config, configText: configText, queues: config.queues, backends: ["main": backend],
                executable: BuildProducts.binDirectory.appendingPathComponent("host").path, logger: logger, events: monitor,
                leaseOwnerPrefix: HostIdentity.current(name: "bench").leasePrefix))
        } else {
            host = BenchHost(maintenance: maintenance, runtime: HostRuntime(
                config: config, backends: ["main": backend], registry: loader.registry, logger: logger,
                observer: monitor.map { SinkObserver(sink: $0) }))
        }
        let hostCPUAtStart = ProcessCPU.seconds(of: getpid())
        let serverCPUAtStart = server.pid.map(ProcessCPU.treeSeconds(of:))
        let drainStart = ContinuousClock.now
        host.start()
        // The first and last tenth separately: a queue that slows as finished jobs pile up shows here.
        var tenth: ContinuousClock.Instant?
        var ninetieth: ContinuousClock.Instant?
        while host.succeeded() < jobs {
            try await Task.sleep(for: .milliseconds(2))
            if tenth == nil, host.succeeded() >= jobs / 10 { tenth = .now }
            if ninetieth == nil, host.succeeded() >= jobs - jobs / 10 { ninetieth = .now }
        }
        let drainEnd = ContinuousClock.now
        // Workers start with the drain, so all their CPU so far is the drain's.
        let workerCPU = host.workerPIDs().reduce(0) { $0 + ProcessCPU.seconds(of: $1) }
        let hostCPU = ProcessCPU.seconds(of: getpid()) - hostCPUAtStart + workerCPU
        let serverCPU = server.pid.flatMap { pid in serverCPUAtStart.map { ProcessCPU.treeSeconds(of: pid) - $0 } }
        let drainTime = drainEnd - drainStart
        print(String(format: "drain:          %8.0f jobs/s  (%.2f s)", Double(jobs) / drainTime.seconds, drainTime.seconds))
        if let tenth, let ninetieth {
            print(String(format: "  first 10%%:    %8.0f jobs/s", Double(jobs / 10) / (tenth - drainStart).seconds))
            print(String(format: "  last 10%%:     %8.0f jobs/s", Double(jobs / 10) / (drainEnd - ninetieth).seconds))
        }
        let perJob = { (seconds: Double) in seconds / Double(jobs) * 1_000_000 }
        print(String(format: "CPU per job:    host %.1f µs%@, server %@; %.0f jobs per CPU-second (host + server)",
                     perJob(hostCPU),
                     host.workerPIDs().isEmpty ? "" : String(format: " (this process %.1f + workers %.1f)", perJob(hostCPU - workerCPU), perJob(workerCPU)),
                     serverCPU.map { String(format: "%.1f µs", perJob($0)) } ?? "none (SQLite runs in the host)",
                     Double(jobs) / (hostCPU + (serverCPU ?? 0))))
        print(String(format: "host RSS:       %8.1f MiB after the drain%@", Double(residentKiB(of: "self")) / 1024,
                     host.workerRSS().map { String(format: " (+ worker %.1f MiB)", Double($0) / 1024) } ?? ""))

        // Latency: enqueue one job every 20 ms, measure until its handler starts.
        let record = scratch.url.appendingPathComponent("latency.txt").path
        _ = FileManager.default.createFile(atPath: record, contents: nil)
        var enqueuedAt: [String: Double] = [:]
        for _ in 0..<latencyJobs {
            var job = template
            job.id = JobID.generate()
            job.handler = "test.record"
            job.payload = Data(#"{"record": "\#(record)"}"#.utf8)
            enqueuedAt[job.id] = Date().timeIntervalSince1970 * 1_000_000
            _ = try backend.enqueue([job])
            try await Task.sleep(for: .milliseconds(20))
        }
        while host.succeeded() < jobs + latencyJobs { try await Task.sleep(for: .milliseconds(5)) }
        host.shutdown()
        let latencies = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n").compactMap { line -> Double? in
            let fields = line.split(separator: " ")
            guard let sent = enqueuedAt[String(fields[0])], let started = Double(fields[3]) else { return nil }
            return (started - sent) / 1000
        }.sorted()
        func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        print(String(format: "latency:        p50 %.2f ms, p99 %.2f ms, max %.2f ms  (%d jobs enqueued 20 ms apart, enqueue → handler start)",
                     percentile(0.5), percentile(0.99), latencies.last ?? 0, latencies.count))
    }

}

/// Resident memory of a process (`self` or a PID), from `/proc`.
func residentKiB(of process: String) -> Int {
    let status = (try? String(contentsOfFile: "/proc/\(process)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
}

/// The host under measurement: a supervisor with its worker, or a runtime on threads of this process,
/// with the maintenance chores beside it as `host run` has them.
struct BenchHost {
    private let maintenance: Maintenance
    private var supervisor: Supervisor?
    private var runtime: HostRuntime?

    init(maintenance: Maintenance, supervisor: Supervisor) {
        self.maintenance = maintenance
        self.supervisor = supervisor
    }

    init(maintenance: Maintenance, runtime: HostRuntime) {
        self.maintenance = maintenance
        self.runtime = runtime
    }

    func start() {
        maintenance.start()
        supervisor?.start()
        runtime?.start()
    }

    /// Jobs finished so far: counted by the runtime, or (for a worker) from its reports: every job
    /// of the benchmark succeeds, so each one the worker lets go of is done.
    func succeeded() -> Int {
        if let runtime { return runtime.succeeded }
        return supervisor!.status.reduce(0) { $0 + $1.letGo }
    }

    func workerPIDs() -> [Int32] {
        supervisor.map { $0.status.compactMap(\.pid) } ?? []
    }

    func workerRSS() -> Int? {
        supervisor.map { $0.status.compactMap(\.pid).reduce(0) { $0 + residentKiB(of: "\($1)") } }
    }

    func shutdown() {
        supervisor?.shutdown(timeout: .seconds(5), grace: .seconds(1))
        runtime?.shutdown(timeout: .seconds(5))
        maintenance.stop()
    }
}
