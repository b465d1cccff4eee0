import Foundation
import HostConfig
import Logging

/// Failure streaks and their alerts together: what the host wires into the path that settles jobs.
public final class FailureAlerts: Sendable {
    public let streaks: FailureStreaks
    public let dispatcher: AlertDispatcher

    public init(streaks: FailureStreaks, dispatcher: AlertDispatcher) {
        self.streaks = streaks
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
        self.init(
            streaks: FailureStreaks(threshold: settings.afterFailures),
            dispatcher: AlertDispatcher(hostName: hostName, webhook: webhook, logger: logger))
    }

    /// Records one outcome of `subject` and dispatches the alert or recovery it causes, if any.
    /// Cheap when nothing changes; never waits for the network.
    @discardableResult
    public func record(subject: AlertSubject, succeeded: Bool, detail: String = "") -> AlertEvent? {
        guard let event = streaks.record(subject: subject, succeeded: succeeded, detail: detail) else { return nil }
        dispatcher.dispatch(event)
        return event
    }

    /// Sends what is queued, waiting at most `timeout`; see ``AlertDispatcher/shutdown(timeout:)``.
    @discardableResult
    public func shutdown(timeout: Duration) -> Bool { dispatcher.shutdown(timeout: timeout) }
}
