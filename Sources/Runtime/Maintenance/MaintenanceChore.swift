import Backend

/// One chore that keeps a backend's queues healthy, run every so often by every host. Each step of a
/// chore is one atomic backend call, so any number of hosts run it at once.
public protocol MaintenanceChore: Sendable {
    associatedtype Report: ChoreReport
    /// What logs and the chore's thread call it.
    var name: String { get }
    /// The queues it serves.
    var queues: [String] { get }
    /// One pass over its queues; tests call it directly. A queue that fails is reported in the result
    /// and never keeps the pass from the others.
    func runOnce() -> Report
}

/// What one pass of a chore did.
public protocol ChoreReport: Sendable {
    /// The queues the pass could not serve, with why.
    var failures: [QueueFailure] { get }
}

/// A queue a chore's pass could not serve.
public struct QueueFailure: Sendable {
    public var queue: String
    public var error: BackendError

    public init(queue: String, error: BackendError) {
        self.queue = queue
        self.error = error
    }
}
