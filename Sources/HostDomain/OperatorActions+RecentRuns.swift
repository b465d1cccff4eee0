import Backend
import Foundation
import HostConfig

/// The recent runs of a schedule: its recorded fires, each with how its job stands now.
extension OperatorActions {
    /// One fire of a schedule and its job as the backend holds it now.
    public struct ScheduleRun: Sendable, Encodable, Equatable {
        /// A run's job state, or `pruned` once the job is no longer stored (done and past retention,
        /// or discarded), or `skipped` for a fire that enqueued nothing because the previous run was
        /// still pending or running (`overlap: skip`).
        public enum State: String, Sendable, Encodable {
            case ready, running, scheduled, done, dead, pruned, skipped
        }

        public var fireTime: Date
        /// The fire's job; for a skipped fire, the run that was still pending or running.
        public var jobID: String
        public var state: State
        /// When a done or dead job finished.
        public var finishedAt: Date?
        public var lastError: String?

        public init(fireTime: Date, jobID: String, state: State, finishedAt: Date? = nil, lastError: String? = nil) {
            self.fireTime = fireTime
            self.jobID = jobID
            self.state = state
            self.finishedAt = finishedAt
            self.lastError = lastError
        }
    }

    /// Runs of a schedule shown at most.
    public static let recentRunsShown = 10

    /// The schedule's last fires, newest first (at most ``recentRunsShown``), each looked up in its
    /// queue; nil when its backend keeps no fires or does not answer. Blocks on the backend.
    public func recentRuns(of schedule: ScheduleConfig) -> [ScheduleRun]? {
        let home = home(of: schedule)
        guard let store = home.store, let backend = home.backend else { return nil }
        do throws(BackendError) {
            return try store.recentFires(schedule: schedule.name, queue: home.queue, limit: Self.recentRunsShown).map { fire throws(BackendError) in
                if fire.skipped { return ScheduleRun(fireTime: fire.fireTime, jobID: fire.jobID, state: .skipped) }
                guard let job = try backend.job(queue: home.queue, id: fire.jobID) else {
                    return ScheduleRun(fireTime: fire.fireTime, jobID: fire.jobID, state: .pruned)
                }
                let state = ScheduleRun.State(rawValue: job.state.rawValue) ?? .pruned
                let finished = job.state == .done || job.state == .dead
                return ScheduleRun(
                    fireTime: fire.fireTime, jobID: fire.jobID, state: state, finishedAt: finished ? job.updatedAt : nil, lastError: job.lastError)
            }
        } catch {
            return nil
        }
    }
}
