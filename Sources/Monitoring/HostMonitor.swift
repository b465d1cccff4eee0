import Alerting
import Foundation
import HostDomain
import Synchronization

/// Where the host's job and schedule events go: the metrics, each handler's health, the
/// scheduler's liveness, and the alerts.
public final class HostMonitor: JobEventSink, ScheduleEventSink {
    public let metrics: HostMetrics
    public let schedulerWatch: SchedulerWatch
    public let tasks = TaskHealth()
    private let alerts: FailureAlerts?
    /// When each schedule's last failed pass counted toward its enqueue alert streak.
    private let scheduleFailureCounted = Mutex<[String: ContinuousClock.Instant]>([:])

    /// A scheduler passes five times a second; a backend blip must not look like three failures in a
    /// row. Failed passes of a schedule count at most once in this window, so with `after_failures: 3`
    /// a schedule alerts after about half a minute of not being able to fire.
    static let scheduleFailureWindow = Duration.seconds(10)

    public init(metrics: HostMetrics = HostMetrics(), schedulerWatch: SchedulerWatch = SchedulerWatch(), alerts: FailureAlerts? = nil) {
        self.metrics = metrics
        self.schedulerWatch = schedulerWatch
        self.alerts = alerts
    }

    /// Alerts on failed runs do not start here: a run ends on the backend (settled, rescued, by any
    /// host), which counts it; ``RunAlertPump`` reads the count back and calls ``alerted(_:)``.
    public func finished(_ jobs: [FinishedJob]) {
        metrics.record(jobs)
        tasks.record(jobs)
    }

    /// Counts an alert that went out, in the metrics.
    public func alerted(_ event: AlertEvent) {
        let kind: String
        switch event {
        case .raised: kind = "raised"
        case .jobDead: kind = "job_dead"
        case .recovered: kind = "recovered"
        }
        metrics.alerted(kind, about: (event.subject.kind, event.subject.name))
    }

    private func count(_ event: AlertEvent?) {
        if let event { alerted(event) }
    }

    public func passed(schedule: String, error: String?) {
        schedulerWatch.passed()
        guard let error else {
            count(alerts?.recordEnqueue(schedule: schedule, succeeded: true))
            return
        }
        metrics.passFailed(schedule: schedule)
        let now = ContinuousClock.now
        let counts = scheduleFailureCounted.withLock { counted in
            if let last = counted[schedule], now - last < Self.scheduleFailureWindow { return false }
            counted[schedule] = now
            return true
        }
        if counts { count(alerts?.recordEnqueue(schedule: schedule, succeeded: false, detail: "cannot fire: \(error)")) }
    }

    public func fired(schedule: String, at fireTime: Date, lag: Duration) {
        metrics.fired(schedule: schedule, lag: lag)
    }

    public func skipped(schedule: String, at fireTime: Date) {
        metrics.skipped(schedule: schedule)
    }

    /// Sends the alerts still queued, waiting at most `timeout`.
    public func shutdown(timeout: Duration) {
        alerts?.shutdown(timeout: timeout)
    }
}
