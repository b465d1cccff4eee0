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
    /// When each schedule's last failed pass counted toward its alert streak.
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

    public func finished(_ jobs: [FinishedJob]) {
        metrics.record(jobs)
        tasks.record(jobs)
        guard let alerts else { return }
        for job in jobs {
            count(alerts.record(
                subject: .handler(job.handler, queue: job.queue), succeeded: job.result == .succeeded, detail: job.error ?? ""))
        }
    }

    private func count(_ event: AlertEvent?) {
        switch event {
        case .raised(let subject, _, _)?: metrics.alerted("raised", about: subject.metricLabel)
        case .recovered(let subject, _)?: metrics.alerted("recovered", about: subject.metricLabel)
        case nil: break
        }
    }

    public func passed(schedule: String, error: String?) {
        schedulerWatch.passed()
        guard let error else {
            count(alerts?.record(subject: .schedule(schedule), succeeded: true))
            return
        }
        metrics.passFailed(schedule: schedule)
        let now = ContinuousClock.now
        let counts = scheduleFailureCounted.withLock { counted in
            if let last = counted[schedule], now - last < Self.scheduleFailureWindow { return false }
            counted[schedule] = now
            return true
        }
        if counts { count(alerts?.record(subject: .schedule(schedule), succeeded: false, detail: "cannot fire: \(error)")) }
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

private extension AlertSubject {
    var metricLabel: (type: String, name: String) {
        switch self {
        case .handler(let name, _): ("handler", name)
        case .schedule(let name): ("schedule", name)
        }
    }
}
