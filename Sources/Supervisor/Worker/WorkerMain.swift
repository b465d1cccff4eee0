import Backend
import CWorkerSupport
import Foundation
import Glibc
import HostConfig
import HostDomain
import Logging
import PluginHost
import Logs
import Runtime
import Synchronization
import Threads

/// The descriptors a worker process finds open, set up by ``WorkerProcess``.
enum WorkerDescriptors {
    /// Supervisor → worker: the ``WorkerAssignment`` and the config text first (its handshake), then
    /// commands, one per line.
    static let control: Int32 = 3
    /// Worker → supervisor: ``WorkerReport`` lines.
    static let report: Int32 = 4
}

/// The body of a worker process: loads the plugins, runs its queues' handlers, reports every job to
/// the supervisor, and stops when told to (a `drain` line, SIGTERM or SIGINT, the supervisor gone,
/// or its job limit reached).
public enum WorkerMain {
    /// Reads the assignment the supervisor sent, then runs it. Never returns.
    public static func run() -> Never {
        guard let bytes = WorkerAssignment.readFrame(from: WorkerDescriptors.control),
            let assignment = try? JSONDecoder().decode(WorkerAssignment.self, from: bytes)
        else {
            FileHandle.standardError.write(Data("host worker: no assignment on the control pipe; it is started by host run\n".utf8))
            exit(70)
        }
        run(assignment)
    }

    private static func run(_ assignment: WorkerAssignment) -> Never {
        // The supervisor may have died between the spawn and here; then nobody will ever kill us.
        if jobhost_die_with_parent() != 0 || getppid() != assignment.supervisorPID { exit(0) }
        // Processes a plugin starts must not keep the supervisor's pipes open.
        _ = fcntl(WorkerDescriptors.control, F_SETFD, FD_CLOEXEC)
        _ = fcntl(WorkerDescriptors.report, F_SETFD, FD_CLOEXEC)
        let writer = ReportWriter(fd: WorkerDescriptors.report)
        jobhost_crash_report_install(WorkerDescriptors.report)
        if let limit = assignment.memoryLimit {
            // Past twice the recycling limit, allocations fail: the job that made them crashes and is blamed.
            var cap = rlimit(rlim_cur: rlim_t(limit * 2), rlim_max: rlim_t(limit * 2))
            setrlimit(__rlimit_resource_t(RLIMIT_DATA.rawValue), &cap)
        }

        guard let frame = WorkerAssignment.readFrame(from: WorkerDescriptors.control), let text = String(data: frame, encoding: .utf8)
        else { exit(70) }
        let config: HostConfiguration
        do {
            config = try ConfigLoader().load(text: text, path: assignment.configFile)
        } catch {
            for problem in error.diagnostics { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
            exit(78)
        }
        if let trial = assignment.trial { TrialWorker.run(trial, assignment: assignment, config: config, writer: writer) }
        var settings = config.host
        settings.logFormat = HostSettings.LogFormat(rawValue: assignment.logFormat) ?? .text
        var logger = HostLogging.bootstrap(settings)
        logger[metadataKey: "worker"] = "\(assignment.name)"
        logger[metadataKey: "pid"] = "\(getpid())"
        if assignment.surveyOnly { logger.logLevel = assignment.verbose ? .debug : .critical }

        let loader = PluginLoader(config: config, logger: logger)
        var results: [PluginLoadResult] = []
        let wanted = assignment.plugins.map { Set($0) }
        for plugin in config.plugins where !assignment.skipped.contains(plugin.name) && wanted?.contains(plugin.name) != false {
            writer.send([.loading(plugin: plugin.name)])
            // Each step is on the pipe before it starts: if it never ends, the supervisor knows which.
            results.append(loader.load(plugin) { stage, path in writer.send([.stage(stage, path: path)]) })
        }
        if assignment.surveyOnly {
            writer.send([.survey(json: PluginSurveyReport(loader: loader, results: results).json)])
            exit(0)
        }
        for case .refused(let refusal) in results {
            logger.critical("plugin refused in a worker; the worker stops", metadata: ["plugin": "\(refusal.plugin)", "reason": "\(refusal.reason)"])
            exit(78)
        }

        var workerConfig = config
        workerConfig.queues = config.queues.compactMap { queue in
            guard let slots = assignment.slots[queue.name] else { return nil }
            var assigned = queue
            assigned.concurrency = slots
            return assigned
        }
        var registry = loader.registry
        if !assignment.onDemand.isEmpty {
            let onDemand = OnDemandPlugins(loader: loader, owners: assignment.onDemand, config: config, logger: logger)
            registry = registry.falling { onDemand.handler($0) }
        }
        let stop = DispatchSemaphore(value: 0)
        let runLogger = logger
        let late = LateRuntime()
        let observer = WorkerObserver(writer: writer, maxJobs: assignment.maxJobs) {
            // At once, from the slot thread that ran the last job: waking the main thread takes long
            // enough for the other slots to start dozens of held jobs past the limit.
            late.runtime?.stopStartingJobs()
            runLogger.info("recycling: job limit reached", metadata: ["max_jobs": "\(assignment.maxJobs ?? 0)"])
            stop.signal()
        }
        let runtime = HostRuntime(
            config: workerConfig, backends: Backends.make(workerConfig, logger: logger, leaseOwner: assignment.leaseOwner(pid: getpid())), registry: registry, logger: logger,
            grace: nil, observer: observer)
        late.runtime = runtime
        let signals = watchStopSignals { stop.signal() }
        watchControl { stop.signal() }
        observer.watch { runtime.runningJobs() }
        runtime.start()
        writer.send([.ready])

        stop.wait()
        runtime.shutdown(timeout: config.host.shutdownTimeout)
        writer.flush()
        withExtendedLifetime(signals) {}
        if runtime.abandonedHandlers == 0 { loader.shutdown() }
        writer.flush()
        exit(0)
    }

    /// A `drain` line, or end of file (the supervisor closed its end or died), asks the worker to stop.
    private static func watchControl(stop: @escaping @Sendable () -> Void) {
        startThread(name: "jobhost.worker.control") {
            // Plain read(2): FileHandle's reads wait for the whole count they ask for.
            var buffer = [UInt8](repeating: 0, count: 256)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(WorkerDescriptors.control, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 || String(decoding: buffer[0..<count], as: UTF8.self).contains("drain") { break }
            }
            stop()
        }
    }

    private static func watchStopSignals(_ stop: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: stop)
            source.resume()
            return source
        }
    }
}

/// The worker's runtime, once made: the observer that stops it at the job limit is made first.
private final class LateRuntime: Sendable {
    private let value = Mutex<HostRuntime?>(nil)

    var runtime: HostRuntime? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
