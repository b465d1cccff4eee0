import Foundation
import Logging
import Synchronization

/// What a handler last said in a heartbeat.
public struct HandlerProgress: Sendable, Equatable {
    /// As the handler gave it; nil when it said it does not know (a negative value).
    public var fraction: Double?
    public var note: String?
}

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
        var progress: HandlerProgress?
        /// The progress changed since ``takeChangedProgress()`` last took it.
        var progressChanged = false
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

    /// A heartbeat: `fraction` in 0…1, negative when unknown.
    func setProgress(_ fraction: Double, note: String?) {
        let progress = HandlerProgress(fraction: fraction >= 0 ? fraction : nil, note: note)
        reported.withLock {
            guard $0.progress != progress else { return }
            $0.progress = progress
            $0.progressChanged = true
        }
    }

    /// The handler's latest progress if it changed since the last call: what the runner records.
    public func takeChangedProgress() -> HandlerProgress? {
        reported.withLock {
            guard $0.progressChanged else { return nil }
            $0.progressChanged = false
            return $0.progress
        }
    }

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
