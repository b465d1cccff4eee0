import Dispatch
import Foundation
import Logging
import Synchronization
import Threads

/// Tells people about alert events: a log line for each; with a webhook, a Slack-compatible
/// `{"text": …}` POST; with a command, a run of it with the alert as JSON on stdin (``AlertCommand``).
/// POSTs and runs happen on the dispatcher's own thread, the webhook first.
///
/// ``dispatch(_:)`` never waits for the network or the command: events wait in a small bounded
/// queue, and when it is full the event is still logged but its delivery is dropped and counted.
public final class AlertDispatcher: Sendable {
    /// Errors longer than this are cut in webhook messages (chat messages should stay readable) …
    static let webhookErrorLimit = 300
    /// … and in log lines (one line should stay one line's worth).
    static let logErrorLimit = 2000

    public let hostName: String
    public let webhook: AlertWebhook?
    public let command: AlertCommand?
    private let logger: Logger
    private let poster: WebhookPoster?
    private let queueCapacity: Int
    private let retryDelays: [Duration]
    private let state = Mutex(State())
    /// One signal per queued event, and one more for shutdown.
    private let wake = DispatchSemaphore(value: 0)
    /// Signalled when the sender thread has sent everything and stopped.
    private let finished = DispatchSemaphore(value: 0)

    private struct State {
        var pending: [AlertEvent] = []
        var dropped = 0
        var closing = false
    }

    /// - Parameters:
    ///   - hostName: named in webhook messages, so a channel fed by several hosts tells them apart.
    ///   - webhook: where to POST; nil: no POST.
    ///   - command: what to run per alert; nil: none. Without either, alerts are only logged.
    ///   - queueCapacity: deliveries waiting; past this, new ones are dropped and counted.
    ///   - retryDelays: the pause before each retry of a failed POST; their count is the number of retries.
    public init(
        hostName: String, webhook: AlertWebhook?, command: AlertCommand? = nil, logger: Logger, queueCapacity: Int = 64,
        retryDelays: [Duration] = [.seconds(1), .seconds(5), .seconds(15)]
    ) {
        self.hostName = hostName
        self.webhook = webhook
        self.command = command
        self.logger = logger
        self.poster = webhook.map(WebhookPoster.init)
        self.queueCapacity = queueCapacity
        self.retryDelays = retryDelays
        guard delivers else { return }
        startThread(name: "jobhost.alerts") { [self] in runSender() }
    }

    /// Whether anything beyond the log line is sent.
    private var delivers: Bool { poster != nil || command != nil }

    /// Logs `event` (critical when raised or a job died, notice when recovered) and queues its
    /// delivery. Does not block.
    public func dispatch(_ event: AlertEvent) {
        log(event)
        guard delivers else { return }
        let dropped = state.withLock { state -> Int? in
            guard !state.closing, state.pending.count < queueCapacity else {
                state.dropped += 1
                return state.dropped
            }
            state.pending.append(event)
            return nil
        }
        if let dropped {
            logger.warning(
                "alert queue is full or shut down; this alert is logged only",
                metadata: ["subject": "\(event.subject)", "dropped": "\(dropped)"])
        } else {
            wake.signal()
        }
    }

    /// Deliveries dropped because the queue was full or the dispatcher shut down.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    /// Stops taking events and waits up to `timeout` for the queued deliveries, retries included.
    ///
    /// - Returns: whether everything queued was sent (or given up on) in time. Calling it again
    ///   waits again.
    @discardableResult
    public func shutdown(timeout: Duration) -> Bool {
        guard delivers else { return true }
        let first = state.withLock { state in
            defer { state.closing = true }
            return !state.closing
        }
        if first { wake.signal() }
        guard finished.wait(timeout: .now() + timeout.seconds) == .success else {
            let left = state.withLock { $0.pending.count }
            logger.warning("alerts: shutdown did not wait for every delivery", metadata: ["unsent": "\(left)"])
            return false
        }
        finished.signal()  // so a later call returns at once
        return true
    }

    private func runSender() {
        while true {
            wake.wait()
            let next = state.withLock { $0.pending.isEmpty ? nil : $0.pending.removeFirst() }
            // Every event's signal follows its append, so an empty queue means the shutdown signal.
            guard let next else { break }
            send(next)
            run(next)
        }
        finished.signal()
    }

    private func run(_ event: AlertEvent) {
        guard let command else { return }
        let body: Data
        do {
            body = try JSONSerialization.data(
                withJSONObject: event.json(hostName: hostName, message: message(event)), options: [.withoutEscapingSlashes, .sortedKeys])
        } catch {
            logger.error("alert command: cannot encode the alert", metadata: ["error": "\(error)"])
            return
        }
        if let failure = command.run(body) {
            logger.error("alert command failed", metadata: [
                "command": "\(command)", "alert": "\(event.kind)", "subject": "\(event.subject)", "reason": "\(failure)",
            ])
        }
    }

    private func send(_ event: AlertEvent) {
        guard let poster else { return }
        let body: Data
        do {
            body = try JSONSerialization.data(withJSONObject: ["text": webhookText(event)], options: [.withoutEscapingSlashes])
        } catch {
            logger.error("alert webhook: cannot encode the message", metadata: ["error": "\(error)"])
            return
        }
        let attempts = retryDelays.count + 1
        for attempt in 1...attempts {
            if attempt > 1 { Thread.sleep(forTimeInterval: retryDelays[attempt - 2].seconds) }
            switch poster.post(body) {
            case .delivered:
                return
            case .failed(let reason, let retryable):
                let last = attempt == attempts || !retryable
                var metadata: Logger.Metadata = [
                    "webhook": "\(poster.webhook)", "subject": "\(event.subject)", "attempt": "\(attempt)", "reason": "\(reason)",
                ]
                if last {
                    metadata["gave_up"] = "true"
                    logger.error("alert webhook POST failed; not retried", metadata: metadata)
                    return
                }
                logger.warning("alert webhook POST failed; retrying", metadata: metadata)
            }
        }
    }

    private func log(_ event: AlertEvent) {
        var metadata: Logger.Metadata = ["alert": "\(event.kind)"]
        switch event.subject {
        case .handler(let name, let queue):
            metadata["handler"] = "\(name)"
            metadata["queue"] = "\(queue)"
        case .schedule(let name, let queue):
            metadata["schedule"] = "\(name)"
            metadata["queue"] = "\(queue)"
        case .scheduleEnqueue(let name):
            metadata["schedule"] = "\(name)"
        }
        switch event {
        case .raised(_, let failures, let lastError, let job):
            metadata["failures"] = "\(failures)"
            metadata["last_error"] = "\(Self.excerpt(lastError, limit: Self.logErrorLimit))"
            if let job { metadata["job.id"] = "\(job.id)" }
            logger.critical("\(message(event))", metadata: metadata)
        case .jobDead(_, let job, let failures):
            metadata["job.id"] = "\(job.id)"
            metadata["failures"] = "\(failures)"
            metadata["last_error"] = "\(Self.excerpt(job.error, limit: Self.logErrorLimit))"
            logger.critical("\(message(event))", metadata: metadata)
        case .recovered(_, let failures):
            metadata["failures"] = "\(failures)"
            logger.notice("\(message(event))", metadata: metadata)
        }
    }

    /// What happened, in one sentence without the error: the log line's message and the start of
    /// the webhook's text.
    func message(_ event: AlertEvent) -> String {
        let subject = event.subject
        let runs = subject.countsRuns
        switch event {
        case .raised(_, let failures, _, _):
            return "\(subject) \(Self.failed(failures, runs: runs))"
        case .jobDead(_, let job, _):
            return "job \(job.id) of critical \(subject) ended dead"
        case .recovered(_, let failures):
            return "\(subject) succeeded again after \(Self.failures(failures, runs: runs))"
        }
    }

    /// The message posted for `event`.
    func webhookText(_ event: AlertEvent) -> String {
        var text = "[jobhost \(hostName)] \(message(event))"
        if let queue = event.subject.queue { text += " (queue \(queue))" }
        switch event {
        case .raised(_, _, let lastError, _):
            text += ". Last error: \(Self.excerpt(lastError, limit: Self.webhookErrorLimit))"
        case .jobDead(_, let job, _):
            text += ". Error: \(Self.excerpt(job.error, limit: Self.webhookErrorLimit))"
        case .recovered:
            text += "."
        }
        return Self.slackEscaped(text)
    }

    private static func failed(_ count: Int, runs: Bool) -> String {
        if runs { return count == 1 ? "failed a run (the job ended dead)" : "failed \(count) runs in a row" }
        return count == 1 ? "failed" : "failed \(count) times in a row"
    }

    private static func failures(_ count: Int, runs: Bool) -> String {
        if runs { return count == 1 ? "1 failed run" : "\(count) failed runs in a row" }
        return count == 1 ? "1 failure" : "\(count) failures in a row"
    }

    /// Slack reads `<…>` as links and mentions (`<!channel>`), so an error text must not be able to write them.
    static func slackEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;")
            .replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    static func excerpt(_ text: String, limit: Int) -> String {
        // utf8.count is O(1) for native strings; Character counting would walk a huge error first.
        text.utf8.count <= limit ? text : String(text.prefix(limit)) + "…"
    }
}
