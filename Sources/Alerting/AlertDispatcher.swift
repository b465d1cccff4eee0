import Dispatch
import Foundation
import Logging
import Synchronization
import Threads

/// Tells people about alert events: a log line for each, and, with a webhook, a Slack-compatible
/// `{"text": …}` POST sent from the dispatcher's own thread.
///
/// ``dispatch(_:)`` never waits for the network: events wait in a small bounded queue, and when it
/// is full the event is still logged but its POST is dropped and counted.
public final class AlertDispatcher: Sendable {
    /// Errors longer than this are cut in webhook messages (chat messages should stay readable) …
    static let webhookErrorLimit = 300
    /// … and in log lines (one line should stay one line's worth).
    static let logErrorLimit = 2000

    public let hostName: String
    public let webhook: AlertWebhook?
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
    ///   - webhook: where to POST; nil: only log.
    ///   - queueCapacity: POSTs waiting to be sent; past this, new ones are dropped and counted.
    ///   - retryDelays: the pause before each retry of a failed POST; their count is the number of retries.
    public init(
        hostName: String, webhook: AlertWebhook?, logger: Logger, queueCapacity: Int = 64,
        retryDelays: [Duration] = [.seconds(1), .seconds(5), .seconds(15)]
    ) {
        self.hostName = hostName
        self.webhook = webhook
        self.logger = logger
        self.poster = webhook.map(WebhookPoster.init)
        self.queueCapacity = queueCapacity
        self.retryDelays = retryDelays
        guard poster != nil else { return }
        startThread(name: "jobhost.alerts") { [self] in runSender() }
    }

    /// Logs `event` (critical when raised, notice when recovered) and queues its POST. Does not block.
    public func dispatch(_ event: AlertEvent) {
        log(event)
        guard poster != nil else { return }
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
                "alert webhook queue is full or shut down; this alert is logged only",
                metadata: ["subject": "\(event.subject)", "dropped": "\(dropped)"])
        } else {
            wake.signal()
        }
    }

    /// POSTs dropped because the queue was full or the dispatcher shut down.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    /// Stops taking events and waits up to `timeout` for the queued POSTs, retries included.
    ///
    /// - Returns: whether everything queued was sent (or given up on) in time. Calling it again
    ///   waits again.
    @discardableResult
    public func shutdown(timeout: Duration) -> Bool {
        guard poster != nil else { return true }
        let first = state.withLock { state in
            defer { state.closing = true }
            return !state.closing
        }
        if first { wake.signal() }
        guard finished.wait(timeout: .now() + timeout.seconds) == .success else {
            let left = state.withLock { $0.pending.count }
            logger.warning("alert webhook: shutdown did not wait for every POST", metadata: ["unsent": "\(left)"])
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
        }
        finished.signal()
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
        var metadata: Logger.Metadata = [:]
        switch event.subject {
        case .handler(let name, let queue):
            metadata["handler"] = "\(name)"
            metadata["queue"] = "\(queue)"
        case .schedule(let name):
            metadata["schedule"] = "\(name)"
        }
        switch event {
        case .raised(let subject, let failures, let lastError):
            metadata["failures"] = "\(failures)"
            metadata["last_error"] = "\(Self.excerpt(lastError, limit: Self.logErrorLimit))"
            logger.critical("\(subject) \(Self.failed(failures))", metadata: metadata)
        case .recovered(let subject, let failures):
            metadata["failures"] = "\(failures)"
            logger.notice("\(subject) succeeded again after \(Self.failures(failures))", metadata: metadata)
        }
    }

    /// The message posted for `event`.
    func webhookText(_ event: AlertEvent) -> String {
        var subject = event.subject.description
        if case .handler(_, let queue) = event.subject { subject += " (queue \(queue))" }
        let text: String
        switch event {
        case .raised(_, let failures, let lastError):
            text = "[jobhost \(hostName)] \(subject) \(Self.failed(failures)). "
                + "Last error: \(Self.excerpt(lastError, limit: Self.webhookErrorLimit))"
        case .recovered(_, let failures):
            text = "[jobhost \(hostName)] \(subject) succeeded again after \(Self.failures(failures))."
        }
        return Self.slackEscaped(text)
    }

    private static func failed(_ count: Int) -> String {
        count == 1 ? "failed" : "failed \(count) times in a row"
    }

    private static func failures(_ count: Int) -> String {
        count == 1 ? "1 failure" : "\(count) failures in a row"
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
