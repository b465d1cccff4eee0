import Backend
import Foundation
import HostDomain
import Prometheus
import Synchronization
import Threads

/// The host's Prometheus metrics. Job and schedule counters are fed by events as they happen; the
/// gauges (queue depths, running jobs, workers, backends) are set from a ``HostSnapshot`` when the
/// metrics are scraped.
public final class HostMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let series = Mutex<[SeriesKey: JobSeries]>([:])
    private let restartsSeen = Mutex<[String: Int]>([:])

    /// Job run times from a millisecond to ten minutes: no-op jobs and AI calls on one scale.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(600),
    ]

    private struct SeriesKey: Hashable {
        var queue: String
        var handler: String
    }

    /// The counters of one queue and handler, made once: looking them up in the registry takes its lock.
    private final class JobSeries: Sendable {
        let completed, failed, retried, dead, timedOut, crashed: Counter
        let duration: DurationHistogram

        init(_ registry: PrometheusCollectorRegistry, _ key: SeriesKey) {
            let labels = [("queue", key.queue), ("handler", key.handler)]
            func counter(_ name: String, _ help: String) -> Counter {
                registry.makeCounter(descriptor: .init(namespace: "jobhost", metricName: name, unitName: "total", helpText: help), labels: labels)
            }
            completed = counter("jobs_completed", "Job runs that succeeded.")
            failed = counter("jobs_failed", "Job runs that failed (retried or dead), timeouts and crashes included.")
            retried = counter("jobs_retried", "Failed job runs that will run again after backoff.")
            dead = counter("jobs_dead", "Jobs that failed for good and went to the dead set.")
            timedOut = counter("jobs_timed_out", "Job runs whose handler overran its timeout.")
            crashed = counter("jobs_crashed", "Job runs during which their worker process died.")
            duration = registry.makeDurationHistogram(
                descriptor: .init(namespace: "jobhost", metricName: "job_duration", unitName: "seconds", helpText: "How long handlers ran, by queue and handler."),
                labels: labels, buckets: HostMetrics.durationBuckets)
        }
    }

    public init() {}

    /// Queue and handler pairs given series of their own; later ones count as handler `other`.
    /// Handler names come with the jobs: a producer sending made-up ones must not grow the metrics
    /// without bound.
    static let seriesLimit = 500

    /// Counts finished jobs: one lock for the whole batch.
    public func record(_ jobs: [FinishedJob]) {
        let resolved = series.withLock { series in
            jobs.map { job in
                var key = SeriesKey(queue: job.queue, handler: job.handler)
                if let known = series[key] { return known }
                if series.count >= Self.seriesLimit { key.handler = "other" }
                if let known = series[key] { return known }
                let made = JobSeries(registry, key)
                series[key] = made
                return made
            }
        }
        for (job, series) in zip(jobs, resolved) {
            switch job.result {
            case .succeeded: series.completed.increment()
            case .retried:
                series.failed.increment()
                series.retried.increment()
            case .dead:
                series.failed.increment()
                series.dead.increment()
            }
            if job.timedOut { series.timedOut.increment() }
            if job.crashed { series.crashed.increment() }
            if let ran = job.runTime { series.duration.record(ran) }
        }
    }

    public func fired(schedule: String, lag: Duration) {
        let labels = [("schedule", schedule)]
        registry.makeCounter(
            descriptor: .init(namespace: "jobhost", metricName: "schedule_fires", unitName: "total", helpText: "Fires of each schedule by this host."),
            labels: labels
        ).increment()
        registry.makeGauge(
            descriptor: .init(
                namespace: "jobhost", metricName: "schedule_lag", unitName: "seconds",
                helpText: "How late the last fire of each schedule was enqueued, after its fire time."),
            labels: labels
        ).set(to: lag.seconds)
    }

    public func skipped(schedule: String) {
        registry.makeCounter(
            descriptor: .init(
                namespace: "jobhost", metricName: "schedule_skips", unitName: "total",
                helpText: "Fire times of each schedule this host recorded as skipped: the previous run was still pending or running."),
            labels: [("schedule", schedule)]
        ).increment()
    }

    /// An alert raised or a recovery sent, for a handler or a schedule of that name.
    public func alerted(_ kind: String, about subject: (type: String, name: String)) {
        registry.makeCounter(
            descriptor: .init(
                namespace: "jobhost", metricName: "alerts", unitName: "total",
                helpText: "Alerts raised (kind=raised) and recoveries (kind=recovered), by handler or schedule."),
            labels: [("kind", kind), ("about", subject.type), ("name", subject.name)]
        ).increment()
    }

    public func passFailed(schedule: String) {
        registry.makeCounter(
            descriptor: .init(
                namespace: "jobhost", metricName: "schedule_failures", unitName: "total",
                helpText: "Scheduler passes that could not fire a schedule (its backend unreachable)."),
            labels: [("schedule", schedule)]
        ).increment()
    }

    /// Sets the gauges from what the host looks like now.
    public func update(from snapshot: HostSnapshot) {
        func gauge(_ name: String, _ unit: String, _ help: String, _ labels: [(String, String)]) -> Gauge {
            registry.makeGauge(descriptor: .init(namespace: "jobhost", metricName: name, unitName: unit, helpText: help), labels: labels)
        }
        for backend in snapshot.backends {
            gauge("backend_up", "", "1 when the backend answered its last check.", [("backend", backend.name)]).set(to: backend.up ? 1 : 0)
        }
        for queue in snapshot.queues {
            let labels = [("queue", queue.name)]
            if let stats = queue.stats {
                for (state, count) in [("ready", stats.ready), ("running", stats.running), ("scheduled", stats.scheduled), ("dead", stats.dead), ("done", stats.done)] {
                    gauge("queue_jobs", "", "Jobs in each queue by state, as the backend counts them.", labels + [("state", state)]).set(to: Double(count))
                }
                gauge("queue_oldest_ready_age", "seconds", "How long the oldest ready job of each queue has waited.", labels)
                    .set(to: stats.oldestReadyAge?.seconds ?? 0)
            }
            if let paused = queue.paused {
                gauge("queue_paused", "", "1 while the queue is paused.", labels).set(to: paused ? 1 : 0)
            }
            gauge("jobs_running", "", "Jobs whose handler runs now on this host.", labels).set(to: Double(queue.runningHere))
        }
        restartsSeen.withLock { seen in
            for worker in snapshot.workers {
                let labels = [("worker", worker.name)]
                gauge("worker_up", "", "1 while the worker process runs.", labels).set(to: worker.pid == nil ? 0 : 1)
                let counter = registry.makeCounter(
                    descriptor: .init(namespace: "jobhost", metricName: "worker_restarts", unitName: "total", helpText: "Restarts of each worker process."),
                    labels: labels)
                let added = worker.restarts - seen[worker.name, default: 0]
                if added > 0 { counter.increment(by: Int64(added)) }
                seen[worker.name] = worker.restarts
            }
        }
    }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
