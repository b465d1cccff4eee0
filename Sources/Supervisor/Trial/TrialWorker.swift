import CWorkerSupport
import Foundation
import Glibc
import HostConfig
import HostDomain
import Logging
import PluginHost
import Synchronization
import Threads

/// The body of the worker process `host try` starts: loads one plugin, runs one job on one handler,
/// reports every step as a ``TrialEvent`` line and exits. No backend is touched.
///
/// The handler runs as under `host run`: on a thread of its own with an alternate signal stack and
/// the crash reporter's mark, its cancel flag raised at the deadline. Killing the process at the
/// deadline plus grace is the command's part, as it is the supervisor's under `host run`.
enum TrialWorker {
    static func run(_ request: TrialRequest, assignment: WorkerAssignment, config: HostConfiguration, writer: ReportWriter) -> Never {
        let events = TrialEventWriter(writer: writer)
        // Plugin lines (label jobhost.plugin: init's and the handler's) become events; the host's own
        // lines go to stderr, and only when asked for.
        LoggingSystem.bootstrap { label in
            if label == pluginLogLabel { return TrialLogHandler(events: events) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = assignment.verbose ? .debug : .critical
            return handler
        }
        var hostLogger = Logger(label: "jobhost")
        hostLogger.logLevel = assignment.verbose ? .debug : .critical

        guard let plugin = config.plugins.first(where: { $0.name == request.plugin }) else {
            events.send(.refused("the config has no plugin '\(request.plugin)'"))
            exit(0)
        }
        writer.send([.loading(plugin: plugin.name)])
        let loader = PluginLoader(config: config, logger: hostLogger)
        switch loader.load(plugin) {
        case .refused(let refusal):
            events.send(.refused("\(refusal)"))
            exit(0)
        case .loaded(let loaded):
            events.send(.loaded(TrialPlugin(name: loaded.name, version: loaded.version, abi: loaded.abiVersion, path: loaded.path)))
        }
        guard let handler = loader.registry[request.handler] else {
            events.send(.refused("plugin '\(plugin.name)' does not offer handler '\(request.handler)'"))
            exit(0)
        }

        let job = JobInvocation(
            id: request.jobID, handler: request.handler, queue: request.queue, attempt: request.attempt,
            maxAttempts: request.maxAttempts, payload: request.payload, deadline: Date().addingTimeInterval(request.timeout.seconds))
        var pluginLogger = Logger(label: pluginLogLabel)
        pluginLogger.logLevel = .trace
        let enqueuer = TrialEnqueuer(
            submitter: JobSubmitter(config: config, backends: Backends.make(config, logger: hostLogger)), events: events,
            parent: request.jobID)
        let context = InvocationContext(job: job, plugin: plugin.name, logger: pluginLogger, enqueuer: enqueuer)

        let returned = DispatchSemaphore(value: 0)
        let finish = Mutex<TrialFinish?>(nil)
        events.send(.started)
        startThread(name: "jobhost.try.handler") {
            jobhost_crash_report_prepare_thread()
            jobhost_crash_report_begin(request.jobID)
            let began = ContinuousClock.now
            let outcome = handler.invoke(context)
            let ran = ContinuousClock.now - began
            jobhost_crash_report_end()
            finish.withLock { $0 = TrialFinish(outcome, runTime: ran, result: result(of: context)) }
            returned.signal()
        }
        if returned.wait(timeout: .now() + request.timeout.seconds) == .timedOut {
            // The deadline: ask the handler to stop, as host run does. One that does not is killed by
            // the command after the grace period, like a worker of host run.
            context.cancel()
            returned.wait()
        }
        if let finished = finish.withLock({ $0 }) { events.send(.finished(finished)) }
        loader.shutdown()
        writer.flush()
        exit(0)
    }

    static let pluginLogLabel = "jobhost.plugin"

    /// The result the handler set with `set_result` (ABI 1.1), if any.
    private static func result(of context: InvocationContext) -> String? {
        context.result
    }
}

extension TrialFinish {
    init(_ outcome: HandlerOutcome, runTime: Duration, result: String?) {
        let micros = runTime.inMicroseconds
        switch outcome {
        case .success:
            self.init(status: .success, error: nil, retryDelayMilliseconds: nil, result: result, runTimeMicroseconds: micros)
        case .retry(let reason, let delay):
            self.init(status: .retry, error: reason, retryDelayMilliseconds: delay?.inMilliseconds, result: result, runTimeMicroseconds: micros)
        case .discard(let reason):
            self.init(status: .discard, error: reason, retryDelayMilliseconds: nil, result: result, runTimeMicroseconds: micros)
        }
    }
}

/// Writes events at once, not batched: a line must be on the pipe before a crash can follow it.
struct TrialEventWriter: Sendable {
    let writer: ReportWriter

    func send(_ event: TrialEvent) {
        writer.send([.trial(json: event.json)])
    }
}

/// A plugin's log lines, as events.
struct TrialLogHandler: LogHandler {
    let events: TrialEventWriter
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Longer messages are cut: each event is one line on the report pipe.
    static let messageLimit = 16 * 1024

    func log(event: LogEvent) {
        var message = event.message.description
        if message.utf8.count > Self.messageLimit {
            message = String(decoding: message.utf8.prefix(Self.messageLimit), as: UTF8.self) + " … (cut at 16 KiB)"
        }
        // Lines from init carry no job; the handler's carry job.id.
        events.send(.log(TrialLogLine(level: event.level.rawValue, message: message, fromInit: metadata["job.id"] == nil)))
    }
}

/// Chaining under `host try`: each request is checked as `host run` checks it (handler name, JSON,
/// a queue to go to) and reported, but not enqueued; the handler gets an id as if it had been.
struct TrialEnqueuer: JobEnqueuer {
    let submitter: JobSubmitter
    let events: TrialEventWriter
    let parent: String

    func enqueue(_ job: ChainedJob) throws -> String {
        let (prepared, _) = try submitter.prepare(.init(
            handler: job.handler, payload: job.payload, queue: job.queue, delay: job.delay, maxAttempts: job.maxAttempts,
            uniqueKey: job.uniqueKey, origin: "chained from job \(parent)"))
        events.send(.enqueued(TrialChainedJob(
            handler: prepared.handler, queue: prepared.queue, payload: String(decoding: prepared.payload, as: UTF8.self),
            delayMilliseconds: prepared.delay.inMilliseconds, uniqueKey: prepared.uniqueKey, maxAttempts: prepared.maxAttempts,
            id: prepared.id)))
        return prepared.id
    }
}
