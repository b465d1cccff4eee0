import Backend
import Foundation
import HostConfig
import Logging

/// What the host alerts on, and how: failed runs read from the backend's outbox (``event(for:)``),
/// the scheduler's failures to enqueue (``recordEnqueue(schedule:succeeded:detail:)``, counted in this
/// host's memory: they are this host's own), and the dispatcher that tells people.
public final class FailureAlerts: Sendable {
    /// Failed runs (or failures to enqueue) in a row that raise an alert.
    public let threshold: Int
    /// Handlers whose every dead job alerts at once.
    public let critical: CriticalHandlers
    /// Streaks of the scheduler's failures to enqueue, per schedule.
    public let enqueueStreaks: FailureStreaks
    public let dispatcher: AlertDispatcher

    public init(threshold: Int, critical: CriticalHandlers = CriticalHandlers([]), dispatcher: AlertDispatcher) {
        precondition(threshold >= 1, "an alert needs at least one failure")
        self.threshold = threshold
        self.critical = critical
        self.enqueueStreaks = FailureStreaks(threshold: threshold)
        self.dispatcher = dispatcher
    }

    /// Alerts as the `alerts:` block says, the webhook URL read from the environment now.
    ///
    /// - Throws: ``AlertSetupError`` when the webhook's variable is unset or not an http(s) URL;
    ///   its message is ready to print.
    public convenience init(
        settings: AlertSettings, hostName: String, logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(AlertSetupError) {
        let webhook = try AlertWebhook.resolve(settings, environment: environment)
        let command = settings.command.map { AlertCommand(arguments: $0, timeout: settings.commandTimeout) }
        self.init(
            threshold: settings.afterFailures, critical: CriticalHandlers(settings.critical),
            dispatcher: AlertDispatcher(hostName: hostName, webhook: webhook, command: command, logger: logger))
    }

    /// The alert an outbox entry calls for, if any. Pure: the backend counted, this decides.
    ///
    /// - A failed run of a critical handler: ``AlertEvent/jobDead(_:job:failures:)``, every time.
    /// - A failed run that brings a streak to ``threshold``: ``AlertEvent/raised(_:failures:lastError:lastJob:)``
    ///   (a critical handler's streak does not: each of its deaths alerted already).
    /// - A streak that ended after it alerted (reached ``threshold``, or any streak of a critical
    ///   handler): ``AlertEvent/recovered(_:afterFailures:)``.
    public func event(for entry: RunAlertEntry) -> AlertEvent? {
        let subject: AlertSubject
        let isCritical: Bool
        switch entry.subject {
        case .handler(let name):
            subject = .handler(name, queue: entry.queue)
            isCritical = critical.contains(name)
        case .schedule(let name):
            subject = .schedule(name, queue: entry.queue)
            isCritical = false
        }
        switch entry.event {
        case .failed:
            let job = entry.jobID.map { AlertJob(id: $0, handler: entry.handler ?? entry.subject.name, error: entry.error ?? "") }
            if isCritical, let job { return .jobDead(subject, job: job, failures: entry.failures) }
            guard entry.failures == threshold else { return nil }
            return .raised(subject, failures: entry.failures, lastError: entry.error ?? "", lastJob: job)
        case .ended:
            guard entry.failures >= threshold || (isCritical && entry.failures >= 1) else { return nil }
            return .recovered(subject, afterFailures: entry.failures)
        }
    }

    /// Dispatches the alert `entry` calls for (``event(for:)``), if any, and returns it.
    @discardableResult
    public func handle(_ entry: RunAlertEntry) -> AlertEvent? {
        guard let event = event(for: entry) else { return nil }
        dispatcher.dispatch(event)
        return event
    }

    /// Records one pass of the scheduler over `schedule` (did it enqueue, or not and why) and
    /// dispatches the alert or recovery it causes, if any.
    @discardableResult
    public func recordEnqueue(schedule: String, succeeded: Bool, detail: String = "") -> AlertEvent? {
        guard let event = enqueueStreaks.record(subject: .scheduleEnqueue(schedule), succeeded: succeeded, detail: detail) else { return nil }
        dispatcher.dispatch(event)
        return event
    }

    /// Sends what is queued, waiting at most `timeout`; see ``AlertDispatcher/shutdown(timeout:)``.
    @discardableResult
    public func shutdown(timeout: Duration) -> Bool { dispatcher.shutdown(timeout: timeout) }
}

/// The `alerts.critical` list: handler names, or families written `family.*` (every handler whose
/// name starts with `family.`), or `*` for all.
public struct CriticalHandlers: Sendable, Equatable {
    public let patterns: [String]

    public init(_ patterns: [String]) { self.patterns = patterns }

    public func contains(_ handler: String) -> Bool {
        patterns.contains { pattern in
            if pattern == "*" { return true }
            if pattern.hasSuffix(".*") { return handler.hasPrefix(pattern.dropLast()) }
            return pattern == handler
        }
    }
}
