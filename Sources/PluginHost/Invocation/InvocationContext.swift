import Foundation
import Logging
import Synchronization

/// The host side of one handler call: what `jh_context` points to. Collects what the handler reports
/// (error text, retry delay, result) and carries the cancel flag the runtime raises.
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
        var result: String?
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

    func setError(_ text: String) { reported.withLock { $0.error = text } }
    func setRetryDelay(_ delay: Duration) { reported.withLock { $0.retryDelay = delay } }
    func setResult(_ json: String) { reported.withLock { $0.result = json } }

    /// The result the handler set (JSON text), if any: stored with the job when it succeeds.
    public var result: String? { reported.withLock { $0.result } }

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
