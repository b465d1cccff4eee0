import Backend
import CWorkerSupport
import Foundation
import HostDomain
import Runtime
import Synchronization
import Threads

/// Reports every job's whereabouts in a worker to its supervisor, and marks the thread running
/// each handler so that a crash can name its job.
///
/// Handlers' starts are not reported one by one: every few milliseconds the observer asks the
/// runtime which handlers run and reports those it sees for the second time (with their deadlines),
/// and those no longer running. The supervisor needs starts to enforce deadlines (seconds away) and
/// to count running jobs; most jobs are over sooner, and a slot thread pays no lock for them here.
final class WorkerObserver: JobObserver {
    static let tick = Duration.milliseconds(5)

    private let writer: ReportWriter
    private let maxJobs: Int?
    private let finished = Atomic<Int>(0)
    private let onLimit: @Sendable () -> Void
    private let jobs = Mutex(Jobs())

    /// By lease, not job id: a job retried at once may be fetched again by this worker before its
    /// previous run is let go of, and the two runs must keep their own numbers.
    private struct Jobs {
        /// The number each held job goes by in the reports.
        var next = 1
        var numbers: [Lease: Int] = [:]
        /// Running at the last look, not yet reported.
        var seen: Set<Lease> = []
        /// Reported as running.
        var reported: Set<Lease> = []
    }

    /// - Parameter onLimit: called once, when `maxJobs` handlers have returned.
    init(writer: ReportWriter, maxJobs: Int?, onLimit: @escaping @Sendable () -> Void) {
        self.writer = writer
        self.maxJobs = maxJobs
        self.onLimit = onLimit
    }

    /// Starts reporting the handlers `running` lists.
    func watch(_ running: @escaping @Sendable () -> [(lease: Lease, deadline: ContinuousClock.Instant)]) {
        startThread(name: "jobhost.worker.running") { [self] in
            while true {
                Thread.sleep(forTimeInterval: Self.tick.seconds)
                report(running: running())
            }
        }
    }

    func threadWillRunHandlers() {
        jobhost_crash_report_prepare_thread()
    }

    func held(_ jobs: [LeasedJob]) {
        let reports = self.jobs.withLock { state in
            jobs.map { job -> WorkerReport in
                let number = state.next
                state.next += 1
                state.numbers[job.lease] = number
                return .held(.init(
                    number: number, lease: job.lease, handler: job.handler, attempt: job.attempt, maxAttempts: job.maxAttempts,
                    crashes: job.crashes))
            }
        }
        writer.send(reports)
    }

    func willRun(_ job: LeasedJob) {
        jobhost_crash_report_begin(job.id)
    }

    func didRun(_ job: LeasedJob) {
        jobhost_crash_report_end()
        let count = finished.add(1, ordering: .relaxed).newValue
        if let maxJobs, count == maxJobs { onLimit() }
    }

    func letGo(_ jobs: [(lease: Lease, finished: FinishedJob?)]) {
        let gone = self.jobs.withLock { state in
            jobs.compactMap { lease, finished -> WorkerReport? in
                // Most jobs end before the watcher sees them: no hashing for sets that are empty.
                if !state.seen.isEmpty { state.seen.remove(lease) }
                if !state.reported.isEmpty { state.reported.remove(lease) }
                return state.numbers.removeValue(forKey: lease).map { .letGo(number: $0, run: finished.map(WorkerReport.Run.init)) }
            }
        }
        writer.gather(gone)
    }

    private func report(running: [(lease: Lease, deadline: ContinuousClock.Instant)]) {
        let now = ContinuousClock.now
        let reports = jobs.withLock { state -> [WorkerReport] in
            if running.isEmpty && state.seen.isEmpty && state.reported.isEmpty { return [] }
            var reports: [WorkerReport] = []
            var seenNow: Set<Lease> = []
            for (lease, deadline) in running {
                guard let number = state.numbers[lease], !state.reported.contains(lease) else { continue }
                if state.seen.contains(lease) {
                    state.reported.insert(lease)
                    reports.append(.started(number: number, timeoutMilliseconds: Int((deadline - now).inMilliseconds)))
                } else {
                    seenNow.insert(lease)
                }
            }
            if !state.reported.isEmpty {
                let stillRunning = Set(running.map(\.lease))
                for lease in state.reported where !stillRunning.contains(lease) {
                    state.reported.remove(lease)
                    if let number = state.numbers[lease] { reports.append(.returned(number: number)) }
                }
            }
            state.seen = seenNow
            return reports
        }
        writer.gather(reports)
    }
}
