import Foundation

/// One fire of a schedule as its backend recorded it: the fire time and the job it enqueued.
public struct ScheduleFire: Sendable, Equatable {
    /// Fires kept per schedule and queue: enough for an operator to see how the last runs went, few
    /// enough that the history costs nothing beside the jobs.
    public static let kept = 10

    public var fireTime: Date
    public var jobID: String

    public init(fireTime: Date, jobID: String) {
        self.fireTime = fireTime
        self.jobID = jobID
    }
}
