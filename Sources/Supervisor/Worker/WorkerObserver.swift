import Backend
import CWorkerSupport
import Runtime
import Synchronization

/// Reports every job's whereabouts in a worker to its supervisor, and marks the thread running
/// each handler so that a crash can name its job.
final class WorkerObserver: JobObserver {
    private let writer: ReportWriter
    private let maxJobs: Int?
    private let finished = Atomic<Int>(0)
    private let onLimit: @Sendable () -> Void

    /// - Parameter onLimit: called once, when `maxJobs` handlers have returned.
    init(writer: ReportWriter, maxJobs: Int?, onLimit: @escaping @Sendable () -> Void) {
        self.writer = writer
        self.maxJobs = maxJobs
        self.onLimit = onLimit
    }

    func threadWillRunHandlers() {
        jobhost_crash_report_prepare_thread()
    }

    func held(_ jobs: [LeasedJob]) {
        writer.send(jobs.map {
            .held(.init(lease: $0.lease, handler: $0.handler, attempt: $0.attempt, maxAttempts: $0.maxAttempts, crashes: $0.crashes))
        })
    }

    func willRun(_ job: LeasedJob, timeout: Duration) {
        jobhost_crash_report_begin(job.id)
        writer.gather(.started(jobID: job.id, timeoutMilliseconds: timeout.inMilliseconds))
    }

    func didRun(_ job: LeasedJob) {
        jobhost_crash_report_end()
        writer.gather(.returned(jobID: job.id))
        let count = finished.add(1, ordering: .relaxed).newValue
        if let maxJobs, count == maxJobs { onLimit() }
    }

    func letGo(_ leases: [Lease]) {
        for lease in leases { writer.gather(.letGo(jobID: lease.jobID)) }
    }
}
