import AdminHTTP
import Alerting
import ArgumentParser
import Backend
import Foundation
import HostConfig
import HostDomain
import Logging
import Logs
import Monitoring
import PluginHost
import PostgresBackend
import Runtime
import SQLiteBackend
import Scheduler
import ServiceLifecycle
import Supervisor
import Threads

/// `host run`: the host itself.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Runs the host: fetches jobs from every configured queue and runs them on their handlers.",
        discussion: """
            Loads the config and its plugins (refusing to start if any plugin or handler reference is bad, \
            as check-config would report), then runs each queue with its concurrency and fires the \
            schedules until SIGTERM or SIGINT. \
            On a signal it stops fetching, waits up to host.shutdown_timeout for running jobs, hands the rest \
            back to the backend without using an attempt, and exits 0. An unreachable backend is retried \
            with backoff; the host keeps running. \
            At start and every minute it publishes its routes (each handler's queue, attempts and timeout) \
            to the backends, for producers that enqueue without a queue (see host routes).

            With --once it drains instead (for tests, scripts and CI): it runs the jobs that are ready on its \
            queues, and those that become ready while it runs (chained jobs, retries whose backoff ends), fires \
            no schedule and serves no admin API, then stops as on a signal and prints one line of counts \
            (--json: an object). A queue is drained when its backend counts nothing ready and nothing running \
            (other hosts' running jobs included); jobs scheduled for later, retries' backoff included, are \
            not waited for; a paused queue is left alone; an unreachable backend is waited for, as without \
            --once. Exit status with --once: 0 every job it ran ended \
            done (none ran counts too); 1 a job failed (a retry scheduled or dead) or a signal stopped it \
            before the queues drained; 2 the config or a plugin is refused.

            To run one job on a handler without any backend at all: host try HANDLER PAYLOAD.
            """)

    @OptionGroup var options: ConfigOptions
    @OptionGroup var logging: LogFormatOption

    @Option(help: ArgumentHelp("Run only these queues (comma-separated).", valueName: "names"))
    var queues: String?

    @Flag(help: "Run what is ready on the queues, then exit: 0 if every job ended done, 1 if any failed.")
    var once = false

    @Flag(help: "With --once: print the counts as JSON on stdout.")
    var json = false

    func validate() throws {
        if json && !once { throw ValidationError("--json goes with --once: a long-running host prints no summary") }
    }

    func run() async throws {
        let drained: DrainSummary?
        do {
            drained = try await runHost()
        } catch let code as ExitCode where once && code.rawValue == invalidExitCode.rawValue {
            // A script tells a refused config from a failed job.
            throw ExitCode(2)
        }
        guard let drained else { return }
        try drained.print(json: json)
        if !drained.succeeded { throw ExitCode(1) }
    }

    /// The host until a signal, or with --once until its queues are drained; nil when not --once.
    private func runHost() async throws -> DrainSummary? {
        let path = options.resolvedPath()
        let text: String
        let config: HostConfiguration
        do {
            text = try ConfigLoader.readText(path: path)
            config = logging.apply(to: try ConfigLoader().load(text: text, path: path))
        } catch {
            for problem in error.diagnostics { printError("\(problem)") }
            printError("\(path): the host does not start with this config")
            throw invalidExitCode
        }
        let logger = HostLogging.bootstrap(config.host)
        let selected = queues.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        if let selected, let unknown = selected.first(where: { name in !config.queues.contains { $0.name == name } }) {
            printError("unknown queue '\(unknown)'; the config defines \(config.queues.map(\.name).joined(separator: ", "))")
            throw ExitCode.validationFailure
        }
        let running = config.queues.filter { selected?.contains($0.name) ?? true }
        let inWorkers = running.filter { $0.isolation == .process }
        let inThreads = running.filter { $0.isolation == .thread }

        // The plugins are first loaded in a throwaway worker: one that crashes while loading is refused
        // with its name instead of crashing the host, or every worker in turn.
        let survey: PluginInspection
        do {
            survey = try PluginInspection.inWorker(config: config, configText: text)
        } catch {
            printError("cannot load the plugins: \(error)")
            throw invalidExitCode
        }
        var problems = survey.diagnostics(config: config)
        if problems.isEmpty { problems = survey.handlerDiagnostics(config: config) }
        guard problems.isEmpty else {
            for problem in ConfigError(problems).diagnostics { printError("\(problem)") }
            printError("\(path): the host does not start until these are fixed")
            throw invalidExitCode
        }
        let identity = HostIdentity.current(name: config.host.name)
        let backends = Backends.make(config, logger: logger, leaseOwner: identity.leaseOwner("host"))
        try prepareSchemas(config, logger: logger)
        // Before any job is fetched: a previous run of this host that is gone has its jobs back at once.
        let presence = HostPresence(identity: identity, config: config, backends: backends, logger: logger)
        await onOwnThread(name: "jobhost.presence.claim") { presence.claim() }
        // Before any job runs, so a producer enqueueing without a queue finds this host's routes.
        let routes = RoutePublisher(
            config: config, backends: backends, handlers: survey.publishedHandlers, hostName: config.host.name, logger: logger)
        _ = await onOwnThread(name: "jobhost.routes.publish") { routes.publishOnce() }
        // --once serves no admin API: its token is not needed.
        let admin = once ? nil : config.admin
        let adminToken = try admin.map { try Self.adminToken($0) } ?? nil

        let alerts: FailureAlerts
        do {
            alerts = try FailureAlerts(settings: config.alerts, hostName: config.host.name, logger: logger)
        } catch {
            printError(error.message)
            throw invalidExitCode
        }
        let monitor = HostMonitor(alerts: alerts)
        let tally = RunTally(forwardingTo: monitor)
        let events: any JobEventSink = once ? tally : monitor
        var services: [any Service] = [presence.service, routes.service]
        // Lease rescue and pruning for every queue run here, in workers or not. Before the engines, so
        // stopped after them (a group stops its services in reverse order).
        services.append(Maintenance(queues: running, backends: backends, logger: logger).service)
        // Alerts on failed runs, read from the backends' outboxes: after the engines in stopping order,
        // so runs that end while they drain are still told.
        let pump = RunAlertPump(
            sources: running.compactMap { queue in
                (backends[queue.backend] as? any RunStreakStore).map { RunAlertPump.Source(queue: queue.name, store: $0) }
            },
            alerts: alerts, logger: logger, observe: { monitor.alerted($0) })
        services.append(pump.service)
        var supervisor: Supervisor?
        if !inWorkers.isEmpty {
            let started = Supervisor(
                config: config, configText: text, queues: inWorkers, backends: backends, executable: HostExecutable.path, logger: logger,
                events: events, leaseOwnerPrefix: identity.leasePrefix,
                survey: PluginSurveyReport(plugins: survey.entries, searchPaths: survey.searchPaths))
            services.append(ThreadService(
                name: "supervisor", start: started.start,
                stop: { started.shutdown(timeout: config.host.shutdownTimeout, grace: config.host.timeoutGrace) }))
            supervisor = started
        }
        // Queues that trust their plugins run them on threads of this process.
        var local: (runtime: HostRuntime, loader: PluginLoader)?
        if !inThreads.isEmpty {
            let loader = PluginLoader(config: config, logger: logger)
            for case .refused(let refusal) in loader.load(config.plugins) {
                for problem in PluginInspection.diagnostics(of: PluginEntry(refusal: refusal), config: config) { printError("\(problem)") }
                throw invalidExitCode
            }
            let runtime = HostRuntime(
                config: config, backends: backends, registry: loader.registry, logger: logger, grace: config.host.timeoutGrace,
                queues: inThreads.map(\.name), observer: SinkObserver(sink: events))
            services.append(ThreadService(
                name: "runtime", start: runtime.start, stop: { runtime.shutdown(timeout: config.host.shutdownTimeout) }))
            local = (runtime, loader)
        }
        let scheduler = Scheduler(config: config, backends: backends, logger: logger, events: monitor)
        if !once { services.append(ThreadService(name: "scheduler", start: scheduler.start, stop: scheduler.stop)) }
        let readiness = Readiness()
        if let admin {
            let runtime = local?.runtime
            let workers = supervisor
            let probe = HostProbe(
                config: config, backends: backends,
                sources: .init(
                    workers: {
                        workers?.status.map {
                            .init(name: $0.name, queue: $0.queue, pid: $0.pid, held: $0.held, running: $0.running, restarts: $0.restarts)
                        } ?? []
                    },
                    runningInProcess: { runtime?.runningCounts() ?? [:] }),
                scheduler: monitor.schedulerWatch)
            // Only the admin server shows throughput: sampled while it runs.
            let throughput = ThroughputSampler(config: config, backends: backends, logger: logger)
            services.append(throughput.service)
            let host = AdminHost(
                config: config, backends: backends, probe: probe, metrics: monitor.metrics, tasks: monitor.tasks, scheduler: scheduler, readiness: readiness,
                pluginsJSON: Array(PluginSurveyReport(plugins: survey.entries, searchPaths: survey.searchPaths).json.utf8), logger: logger,
                throughput: throughput,
                workers: {
                    workers?.processes.map { .init(pid: $0.pid, queues: [$0.queue], startedAt: $0.startedAt, jobsRun: $0.jobsRun) } ?? []
                })
            // First in the group, so stopped last (a group stops its services in reverse order):
            // health answers while the host drains.
            services.insert(AdminServer.service(host, settings: admin, token: adminToken, logger: logger), at: 0)
        }
        services.append(ReadinessService(readiness: readiness))
        // Last in the group, so the first to hear of shutdown: STOPPING=1 goes out as draining begins.
        if !once, let systemd = SystemdNotifyService(status: "running queues \(running.map(\.name).joined(separator: ", "))", logger: logger) {
            services.append(systemd)
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Alerts still queued are sent, even when the group fails; the wait blocks, so not on the pool.
        let flushAlerts = { _ = await blockingCall(timeout: .seconds(6)) { monitor.shutdown(timeout: .seconds(5)) } }
        var summary: DrainSummary?
        do {
            if once {
                let drain = QueueDrain(
                    queues: running.compactMap { queue in backends[queue.backend].map { (queue.name, $0) } }, finished: { tally.counts.ran },
                    logger: logger)
                let drained = try await Self.runUntilDrained(group, drain)
                summary = DrainSummary(queues: running.map(\.name), counts: tally.counts, drained: drained)
            } else {
                try await group.run()
            }
        } catch {
            await flushAlerts()
            throw error
        }
        await flushAlerts()
        // A plugin's shutdown hook must not run under a handler of its own that is still running.
        if let local {
            let stillRunning = local.runtime.abandonedHandlers
            if stillRunning == 0 {
                local.loader.shutdown()
            } else {
                logger.warning("plugin shutdown hooks skipped: handlers given up on are still running", metadata: ["handlers": "\(stillRunning)"])
            }
        }
        return summary
    }

    /// The admin token from the environment variable the config names; a name with nothing behind it
    /// is refused rather than silently leaving the API without changes.
    private static func adminToken(_ settings: AdminSettings) throws -> String? {
        guard let name = settings.tokenEnv else { return nil }
        guard let token = ProcessInfo.processInfo.environment[name], !token.isEmpty else {
            printError("admin.token_env names \(name), but that environment variable is not set (or empty)")
            throw invalidExitCode
        }
        guard token.utf8.count >= 16 else {
            printError("the admin token in \(name) is too short: use at least 16 characters (e.g. `openssl rand -hex 32`)")
            throw invalidExitCode
        }
        return token
    }

    /// PostgreSQL backends: migrate when `auto_migrate` is set; otherwise refuse to start on a schema
    /// that is behind, rather than fail every call. An unreachable server is not an error here: the
    /// runtime retries it with backoff. SQLite backends: create and migrate the file now (the backend
    /// would on first use anyway), so a path the host cannot use stops it at start with the reason
    /// rather than failing every call; a file busy with another process's write is retried later.
    private func prepareSchemas(_ config: HostConfiguration, logger: Logger) throws {
        for backend in config.backends {
            do {
                switch backend.kind {
                case .redis:
                    continue
                case .postgres:
                    let migrator = PostgresMigrator(
                        url: backend.url.revealed, schema: backend.schema, connectTimeout: backend.connectTimeout, logger: logger)
                    if backend.autoMigrate {
                        let applied = try migrator.migrate()
                        if !applied.isEmpty { logger.notice("applied migrations \(applied)", metadata: ["backend": "\(backend.name)"]) }
                    } else if try migrator.status().contains(where: { $0.appliedAt == nil }) {
                        printError("backend '\(backend.name)': schema \(backend.schema) has pending migrations; run `host migrate` or set auto_migrate: true")
                        throw invalidExitCode
                    }
                case .sqlite:
                    let applied = try SQLiteMigrator(path: backend.path, busyTimeout: backend.busyTimeout).migrate()
                    if !applied.isEmpty {
                        logger.notice("applied migrations \(applied)", metadata: ["backend": "\(backend.name)", "path": "\(backend.path)"])
                    }
                }
            } catch let error as BackendError where error.isTransient {
                logger.error("cannot reach the backend to check its schema; will keep trying", metadata: ["backend": "\(backend.name)", "error": "\(error)"])
            } catch let error as BackendError where backend.kind == .sqlite {
                printError("backend '\(backend.name)': \(error)")
                throw invalidExitCode
            }
        }
    }
}
