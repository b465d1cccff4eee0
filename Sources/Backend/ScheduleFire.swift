import Foundation

/// One fire of a schedule as its backend recorded it: the fire time and the job it enqueued, or — for a
/// fire skipped because the previous run was still live — that run's job.
public struct ScheduleFire: Sendable, Equatable {
    /// Fires kept per schedule and queue: enough for an operator to see how the last runs went, few
    /// enough that the history costs nothing beside the jobs.
    public static let kept = 10

    public var fireTime: Date
    public var jobID: String
    /// Nothing was enqueued: the run of ``jobID`` was still ready, scheduled or running.
    public var skipped: Bool

    public init(fireTime: Date, jobID: String, skipped: Bool = false) {
        self.fireTime = fireTime
        self.jobID = jobID
        self.skipped = skipped
    }
}

/// What a schedule does with a fire time while its previous run is still pending or running.
public enum FireOverlap: String, Sendable, Equatable, CaseIterable {
    /// Fire anyway: runs may overlap.
    case allow
    /// Record the fire time as skipped; enqueue nothing.
    case skip
}

/// What ``ScheduleStore/claimFire(schedule:at:job:overlap:)`` did.
public enum FireClaim: Sendable, Equatable {
    /// This call fired it: the job's id.
    case fired(String)
    /// This call claimed the fire time and recorded it skipped, because the run of this job was live.
    case skipped(previous: String)
    /// Already fired (or skipped) by another host, a later fire time was, or the schedule is off.
    case notFired

    /// The id of the job this call enqueued, if it did.
    public var firedJobID: String? {
        if case .fired(let id) = self { return id }
        return nil
    }
}
