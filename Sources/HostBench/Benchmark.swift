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
import PostgresClient
import RedisBackend
import RedisClient
import Runtime
import SQLiteBackend
import Supervisor
import Synchronization
import Threads

/// Measures the runtime end to end on a private Redis or PostgreSQL server or a SQLite file: enqueue
/// (as applications do, or batched), drain of no-op jobs, CPU per job of host and server, what the
/// server did per job, memory over the drain, and enqueue→start latency of spaced-out jobs. Prints the
/// figures; asserts nothing.
@main
struct Benchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host-bench",
        abstract: "Measures jobhost's throughput, cost per job, memory and latency against a private Redis, PostgreSQL or SQLite.",
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

    @Option(help: ArgumentHelp(
        "How jobs are enqueued. app (the default): one job per call over connections of their own, as docs/redis.md, docs/postgres.md and docs/sqlite.md tell applications to (Redis: MULTI/EXEC; PostgreSQL: SELECT jobhost.enqueue(…), autocommit; SQLite: INSERT INTO jobs in BEGIN IMMEDIATE). bulk: the backend's batched enqueue, 1000 jobs a call.",
        valueName: "app|bulk"))
    var enqueue = "app"

    @Option(help: "app enqueue only: producer connections, each on a thread of its own.")
    var producers = 4

    @Option(help: "Give up when no job has finished for this many seconds.")
    var stallSeconds = 120

    @Flag(help: "Print one JSON object with every figure (snake_case keys) instead of the text; progress still goes to stderr.")
    var json = false

    private var stallTimeout: Duration { .seconds(stallSeconds) }

    @Flag(help: "Instead of throughput: the memory of an idle host run (per process and in all: RSS, PSS, private dirty; the plugins each maps).")
    var idleMemory = false

    @Option(help: "With --idle-memory: the config to run (Redis and PostgreSQL backends get private servers through ${REDIS_URL} and ${DATABASE_URL}).")
    var config = "config/host.yaml"

    func run() async throws {
        guard ["app", "bulk"].contains(enqueue) else { throw ValidationError("--enqueue must be app or bulk") }
        guard producers >= 1 else { throw ValidationError("--producers must be at least 1") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        let scratch = try TemporaryDirectory.create()
        defer { try? scratch.remove() }
        if idleMemory { return try await IdleMemory(configPath: config, idle: .seconds(5), scratch: scratch.url).run() }
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical") }
        let logger = {
            var logger = Logger(label: "bench")
            logger.logLevel = level
            return logger
        }()

        // `pid`: the server's first process, whose tree the CPU figures count; nil for SQLite, which runs in the host.
        let server: (url: String, stop: @Sendable () -> Void, backendYAML: String, make: () throws -> any JobBackend, pid: Int32?, target: ProducerTarget)
        switch backend {
        case "redis":
            let redis = try await RedisServer.start()
            server = (redis.url, { redis.stop() }, "{ type: redis, url: \"\(redis.url)\", key_prefix: bench }", {
                RedisBackend(url: redis.url, keyPrefix: "bench", connectTimeout: .seconds(2), logger: logger)
            }, redis.pid, .redis(url: redis.url, keyPrefix: "bench"))
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
            }, pid, .postgres(url: url, schema: "jobhost"))
        case "sqlite":
            guard let level = SQLiteBackend.Synchronous(rawValue: synchronous) else { throw ValidationError("--synchronous must be full or normal") }
            let file = scratch.url.appendingPathComponent("bench.sqlite").path
            server = (file, {}, "{ type: sqlite, path: \"\(file)\", synchronous: \(level.rawValue) }", {
                SQLiteBackend(path: file, synchronous: level, logger: logger)
            }, nil, .sqlite(path: file, synchronous: level.rawValue))
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
        // Creates the schema (SQLite makes it on first use), which the producers' own connections need.
        _ = try backend.stats(queue: "default")
        let submitter = JobSubmitter(config: config, backends: ["main": backend])
        let (template, _) = try submitter.prepare(.init(handler: "test.noop", payload: Data("{}".utf8)))

        // Clients of this process's own for the server's counters; the host's connections are its own.
        let redis = self.backend == "redis" ? try RedisClient(url: server.url, poolSize: 1, logger: logger) : nil
        let postgres = self.backend == "postgres"
            ? try PostgresClient(url: server.url, applicationName: "host-bench statistics", poolSize: 1, logger: logger) : nil
        let settings =
            if let redis { try ServerProfile.redisSettings(redis) }
            else if let postgres { try ServerProfile.postgresSettings(postgres, durable: postgresSettings == "durable") }
            else { sqliteSettings(path: server.url, synchronous: synchronous) }
        var report = Report(backend: self.backend, serverSettings: settings, jobs: jobs, concurrency: concurrency, retention: retention, isolation: isolation)
        let say: (String) -> Void = json ? { _ in } : { print($0) }
        say("\(settings); \(jobs) no-op jobs, concurrency \(concurrency), retention \(retention), isolation \(isolation), enqueue \(enqueue)")
        say("server: \(server.url)")

        // Enqueue: as applications do (one job per call, on producer threads of their own), or in batches.
        let postgresAtEnqueue = try postgres.map(ServerProfile.PostgresCounters.read)
        let enqueueStart = ContinuousClock.now
        let jobs = self.jobs
        if enqueue == "bulk" {
            report.enqueue.path = "the backend's batched enqueue, batches of 1000"
            report.enqueue.producers = 1
            for start in stride(from: 0, to: jobs, by: 1000) {
                let batch = (start..<min(start + 1000, jobs)).map { _ in
                    var job = template
                    job.id = JobID.generate()
                    return job
                }
                _ = try backend.enqueue(batch)
                ProgressLine.tenth(of: jobs, before: start, after: start + batch.count) { "enqueued \(start + batch.count) of \(jobs)" }
            }
        } else {
            report.enqueue.path = server.target.path
            report.enqueue.producers = producers
            let (target, producers, queue, maxAttempts) = (server.target, self.producers, template.queue, template.maxAttempts)
            let enqueued = ProgressLine.Counter()
            try await onThreads(producers, name: "bench.producer") { index, stop in
                let producer = try target.connect(queue: queue, maxAttempts: maxAttempts, logger: logger)
                for _ in 0..<(jobs / producers + (index < jobs % producers ? 1 : 0)) where !stop.isSet {
                    _ = try producer.enqueue(handler: "test.noop", payload: "{}")
                    let count = enqueued.add()
                    ProgressLine.tenth(of: jobs, before: count - 1, after: count) { "enqueued \(count) of \(jobs)" }
                }
            }
        }
        let enqueueTime = ContinuousClock.now - enqueueStart
        report.enqueue.mode = enqueue
        report.enqueue.seconds = enqueueTime.seconds
        report.enqueue.jobsPerSecond = Double(jobs) / enqueueTime.seconds
        say(String(format: "%@ enqueue:    %8.0f jobs/s  (%.2f s, %@%@)", enqueue, report.enqueue.jobsPerSecond, enqueueTime.seconds,
                   enqueue == "app" ? "\(producers) producers: " : "", report.enqueue.path))
        var postgresAtDrain: ServerProfile.PostgresCounters?
        if let postgres, let postgresAtEnqueue {
            postgresAtDrain = try await Self.settledCounters(postgres)
            let perJob = postgresAtDrain!.perJob(since: postgresAtEnqueue, jobs: jobs)
            report.enqueue.postgresPerJob = perJob
            say("  PostgreSQL per job enqueued: " + Self.describe(perJob))
        }

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
        let redisAtDrain = try redis.map(ServerProfile.RedisCommands.read)
        let hostCPUAtStart = ProcessCPU.seconds(of: getpid())
        let serverCPUAtStart = server.pid.map(ProcessCPU.treeSeconds(of:))
        let drainStart = ContinuousClock.now
        host.start()
        // At each tenth: when, and the memory then. A queue that slows as finished jobs pile up shows
        // in the last tenth's rate; a worker that leaks, in its RSS.
        var tenths: [ContinuousClock.Instant] = []
        let boundary = { (tenth: Int) in tenth * jobs / 10 }
        var lastCount = 0
        var lastProgress = drainStart
        // The first tenth is timed from the first job done: starting the worker is not the queue slowing.
        var firstDone: (at: ContinuousClock.Instant, count: Int)?
        while true {
            let count = host.succeeded()
            if firstDone == nil, count > 0 { firstDone = (.now, count) }
            while tenths.count < 10, count >= boundary(tenths.count + 1) {
                let now = ContinuousClock.now
                let since = tenths.last ?? drainStart
                tenths.append(now)
                let workers = host.workerRSS()
                let supervisor = residentKiB(of: "self")
                if let workers { report.rssKib.workers = (report.rssKib.workers ?? []) + [workers] }
                report.rssKib.supervisor.append(supervisor)
                ProgressLine.say(String(
                    format: "drained %3d%% (%d of %d): %.0f jobs/s over this tenth, RSS%@ supervisor %.1f MiB", tenths.count * 10,
                    count, jobs, Double(boundary(tenths.count) - boundary(tenths.count - 1)) / (now - since).seconds,
                    workers.map { String(format: " worker %.1f MiB,", Double($0) / 1024) } ?? "", Double(supervisor) / 1024))
            }
            if count >= jobs { break }
            if count != lastCount {
                (lastCount, lastProgress) = (count, .now)
            } else if ContinuousClock.now - lastProgress > stallTimeout {
                host.shutdown()
                throw BenchFailure("the drain stalled: \(count) of \(jobs) jobs done, none finished in the last \(stallTimeout)")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        let drainEnd = ContinuousClock.now
        // Workers start with the drain, so all their CPU so far is the drain's.
        let workerCPU = host.workerPIDs().reduce(0) { $0 + ProcessCPU.seconds(of: $1) }
        let hostCPU = ProcessCPU.seconds(of: getpid()) - hostCPUAtStart + workerCPU
        let serverCPU = server.pid.flatMap { pid in serverCPUAtStart.map { ProcessCPU.treeSeconds(of: pid) - $0 } }
        let redisProfile = try redis.flatMap { redis in try redisAtDrain.map { try ServerProfile.RedisCommands.read(redis).perJob(since: $0, jobs: jobs) } }
        let drainTime = drainEnd - drainStart
        report.drain.seconds = drainTime.seconds
        report.drain.jobsPerSecond = Double(jobs) / drainTime.seconds
        say(String(format: "drain:          %8.0f jobs/s  (%.2f s)", report.drain.jobsPerSecond, drainTime.seconds))
        if tenths.count == 10, jobs >= 10, let firstDone, firstDone.count < boundary(1) {
            let first = Double(boundary(1) - firstDone.count) / (tenths[0] - firstDone.at).seconds
            let last = Double(jobs - boundary(9)) / (tenths[9] - tenths[8]).seconds
            report.drain.firstTenthJobsPerSecond = first
            report.drain.lastTenthJobsPerSecond = last
            report.drain.lastOverFirst = last / first
            report.drain.withinFifteenPercent = abs(last / first - 1) <= 0.15
            say(String(format: "  first 10%%:    %8.0f jobs/s  (from the first job done)", first))
            say(String(format: "  last 10%%:     %8.0f jobs/s  (%+.0f%% of the first: %@)", last, (last / first - 1) * 100,
                       abs(last / first - 1) <= 0.15 ? "within 15%" : "NOT within 15%"))
        }
        let perJob = { (seconds: Double) in seconds / Double(jobs) * 1_000_000 }
        report.cpuPerJobMicroseconds = .init(
            host: perJob(hostCPU), thisProcess: perJob(hostCPU - workerCPU), workers: host.workerPIDs().isEmpty ? nil : perJob(workerCPU),
            server: serverCPU.map(perJob))
        report.jobsPerCpuSecond = Double(jobs) / (hostCPU + (serverCPU ?? 0))
        say(String(format: "CPU per job:    host %.1f µs%@, server %@; %.0f jobs per CPU-second (host + server)",
                   perJob(hostCPU),
                   host.workerPIDs().isEmpty ? "" : String(format: " (this process %.1f + workers %.1f)", perJob(hostCPU - workerCPU), perJob(workerCPU)),
                   serverCPU.map { String(format: "%.1f µs", perJob($0)) } ?? "none (SQLite runs in the host)",
                   report.jobsPerCpuSecond!))
        if let redisProfile {
            report.serverProfile.redisCommands = redisProfile
            say("Redis per job (INFO commandstats over the drain; a script's µs include the commands it runs, which count under their own names too):")
            for cost in redisProfile {
                say("  " + cost.command.padding(toLength: 14, withPad: " ", startingAt: 0)
                    + String(format: " %6.2f calls  %7.2f µs", cost.callsPerJob, cost.microsecondsPerJob))
            }
        }
        if let postgres, let postgresAtDrain {
            // Read after the counters settle, so the idle host's few statements of those seconds count too.
            let perJob = try await Self.settledCounters(postgres).perJob(since: postgresAtDrain, jobs: jobs)
            report.serverProfile.postgresPerJob = perJob
            say("PostgreSQL per job drained: " + Self.describe(perJob))
        }
        report.rssKib.workersFlat = report.rssKib.workers.flatMap { isFlat($0) }
        report.rssKib.supervisorFlat = isFlat(report.rssKib.supervisor)
        let mib = { (samples: [Int]) in samples.map { String(format: "%.1f", Double($0) / 1024) }.joined(separator: " ") }
        let flat = { (flat: Bool?) in flat.map { $0 ? "flat (±5%)" : "NOT flat (±5%)" } ?? "" }
        if let workers = report.rssKib.workers {
            say("worker RSS at each tenth, MiB:     \(mib(workers))  \(flat(report.rssKib.workersFlat))")
        }
        say("\(isolation == "process" ? "supervisor" : "host") RSS at each tenth, MiB: \(mib(report.rssKib.supervisor))  \(flat(report.rssKib.supervisorFlat))")

        // Latency: enqueue one job every 20 ms, the same way as the drain's jobs, measure until its handler starts.
        let record = scratch.url.appendingPathComponent("latency.txt").path
        _ = FileManager.default.createFile(atPath: record, contents: nil)
        let (latencyJobs, target, app) = (self.latencyJobs, server.target, enqueue == "app")
        let enqueuedAt = try await onDedicatedThread { () throws -> [String: Double] in
            let payload = #"{"record": "\#(record)"}"#
            let producer = app ? try target.connect(queue: template.queue, maxAttempts: template.maxAttempts, logger: logger) : nil
            var sent: [String: Double] = [:]
            for _ in 0..<latencyJobs {
                let at = Date().timeIntervalSince1970 * 1_000_000
                if let producer {
                    sent[try producer.enqueue(handler: "test.record", payload: payload)] = at
                } else {
                    var job = template
                    job.id = JobID.generate()
                    job.handler = "test.record"
                    job.payload = Data(payload.utf8)
                    _ = try backend.enqueue([job])
                    sent[job.id] = at
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return sent
        }
        let latencyStart = ContinuousClock.now
        while host.succeeded() < jobs + latencyJobs {
            guard ContinuousClock.now - latencyStart < stallTimeout else {
                host.shutdown()
                throw BenchFailure("the latency run stalled: \(host.succeeded() - jobs) of \(latencyJobs) jobs done after \(stallTimeout)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        host.shutdown()
        let latencies = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n").compactMap { line -> Double? in
            let fields = line.split(separator: " ")
            guard let sent = enqueuedAt[String(fields[0])], let started = Double(fields[3]) else { return nil }
            return (started - sent) / 1000
        }.sorted()
        if !latencies.isEmpty {
            func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
            report.latency = .init(p50Ms: percentile(0.5), p99Ms: percentile(0.99), maxMs: latencies.last!, jobs: latencies.count)
            say(String(format: "latency:        p50 %.2f ms, p99 %.2f ms, max %.2f ms  (%d jobs enqueued 20 ms apart, enqueue → handler start)",
                       percentile(0.5), percentile(0.99), latencies.last!, latencies.count))
        }
        if json { print(try report.json()) }
    }

    /// PostgreSQL's counters once every connection has reported: a backend sends its statistics at
    /// most once a second while busy, and an idle one within 10 s, so the figures are read after 11.
    private static func settledCounters(_ postgres: PostgresClient) async throws -> ServerProfile.PostgresCounters {
        ProgressLine.say("waiting 11 s for PostgreSQL's statistics to be reported")
        try await Task.sleep(for: .seconds(11))
        return try ServerProfile.PostgresCounters.read(postgres)
    }

    private static func describe(_ perJob: [String: Double]) -> String {
        ServerProfile.PostgresCounters.names.compactMap { name in
            perJob[name].map { name.replacingOccurrences(of: "_", with: " ") + String(format: $0 >= 100 ? " %.0f" : " %.2f", $0) }
        }.joined(separator: ", ")
    }
}

/// Progress to stderr, so stdout keeps only the figures (and `--json` its one object).
enum ProgressLine {
    static func say(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Says `line()` when the count passes from `before` to `after` across a tenth of `total`.
    static func tenth(of total: Int, before: Int, after: Int, _ line: () -> String) {
        if before * 10 / total != after * 10 / total { say(line()) }
    }

    final class Counter: Sendable {
        private let value = Atomic<Int>(0)
        /// The count after adding one.
        func add() -> Int { value.wrappingAdd(1, ordering: .relaxed).newValue }
    }
}

/// Resident memory of a process (`self` or a PID), from `/proc`.
func residentKiB(of process: String) -> Int {
    let status = procText("/proc/\(process)/status")
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
