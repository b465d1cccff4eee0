import Foundation
import Runtime

/// Where the host's job and schedule events go: the metrics, the scheduler's liveness, and alerts.
public final class HostMonitor: JobEventSink, ScheduleEventSink {
    public let metrics: HostMetrics
    public let schedulerWatch: SchedulerWatch
    public let tasks = TaskHealth()

    public init(metrics: HostMetrics = HostMetrics(), schedulerWatch: SchedulerWatch = SchedulerWatch()) {
        self.metrics = metrics
        self.schedulerWatch = schedulerWatch
    }

    public func finished(_ jobs: [FinishedJob]) {
        metrics.record(jobs)
        tasks.record(jobs)
    }

    public func passed(schedule: String, error: String?) {
        schedulerWatch.passed()
        if error != nil { metrics.passFailed(schedule: schedule) }
    }

    public func fired(schedule: String, at fireTime: Date, lag: Duration) {
        metrics.fired(schedule: schedule, lag: lag)
    }
}
