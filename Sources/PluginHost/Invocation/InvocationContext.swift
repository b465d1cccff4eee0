import Foundation
import Logging
import Synchronization

/// The host side of one handler call: what `jh_context` points to. Collects what the handler reports
/// (error text, retry delay, heartbeats) and carries the cancel flag the runtime raises.
public final class InvocationContext: Sendable {
    public let job: JobInvocation
    public let plugin: String
    private let baseLogger: Logger
    let enqueuer: any JobEnqueuer
    private let cancelled = Atomic<Bool>(false)
    private let reported = Mutex(Reported())

    struct Reported {
        var error: String?
        var retryDelay: Duration?
        var progress: Double?
        var note: String?
        var lastHeartbeat: ContinuousClock.Instant?
    }

    public init(job: JobInvocation, plugin: String, logger: Logger, enqueuer: any JobEnqueuer) {
        self.job = job
        self.plugin = plugin
        baseLogger = logger
        self.enqueuer = enqueuer
    }

    /// The logger for what the handler logs, tagged with the plugin and the job. Made when asked:
    /// setting metadata costs more than a no-op job, and most calls log nothing.
    var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "plugin"] = "\(plugin)"
        logger[metadataKey: "job.id"] = "\(job.id)"
        logger[metadataKey: "job.handler"] = "\(job.handler)"
        logger[metadataKey: "job.queue"] = "\(job.queue)"
        logger[metadataKey: "job.attempt"] = "\(job.attempt)"
        return logger
    }

    /// Asks the handler to stop; it sees this through `is_cancelled`.
    public func cancel() { cancelled.store(true, ordering: .relaxed) }

    public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// The last progress the handler reported (0…1), if any.
    public var progress: Double? { reported.withLock { $0.progress } }

    /// The last note the handler gave with a heartbeat, if any.
    public var note: String? { reported.withLock { $0.note } }

    /// When the handler last said it is alive.
    public var lastHeartbeat: ContinuousClock.Instant? { reported.withLock { $0.lastHeartbeat } }

    func setError(_ text: String) { reported.withLock { $0.error = text } }
    func setRetryDelay(_ delay: Duration) { reported.withLock { $0.retryDelay = delay } }

    func heartbeat(progress: Double?, note: String?) {
        reported.withLock {
            $0.lastHeartbeat = .now
            if let progress { $0.progress = min(max(progress, 0), 1) }
            if let note { $0.note = note }
        }
    }

    func outcome(forStatus status: Int32) -> HandlerOutcome {
        let (error, delay) = reported.withLock { ($0.error, $0.retryDelay) }
        switch status {
        case 0: return .success
        case 1: return .retry(reason: error ?? "the handler asked for a retry without a reason", delay: delay)
        case 2: return .discard(reason: error ?? "the handler discarded the job without a reason")
        default: return .retry(reason: "the handler returned \(status), which is not an outcome (0 success, 1 retry, 2 discard)", delay: nil)
        }
    }
}
