import Backend
import Foundation

/// Cancelling a job, discarding pending jobs in bulk and searching a queue, for every front door.
extension OperatorActions {
    /// Cancels one ready or scheduled job, in `queue` or whichever queue holds it; returns it as it
    /// was. A running job is refused (``Failure/notPending(id:state:)``), never deleted.
    @discardableResult
    public func cancel(job id: String, queue: String? = nil) throws(Failure) -> JobInfo {
        let (job, backend) = try job(id: id, queue: queue)
        switch try call({ () throws(BackendError) in try backend.cancel(queue: job.queue, id: id) }) {
        case .cancelled: return job
        case .running: throw .notPending(id: id, state: .running)
        case .settled(let state): throw .notPending(id: id, state: state)
        // Gone between the look and the cancel.
        case .notFound: throw .noSuchJob(id: id, queue: queue)
        }
    }

    /// Discards every ready or scheduled job of `queue` that `selection` picks; returns how many.
    /// - Parameter progress: after each batch, with how many were discarded so far.
    public func discardPending(
        queue name: String, _ selection: PendingSelection, progress: (_ discarded: Int) -> Void = { _ in }
    ) throws(Failure) -> Int {
        guard PendingSelection.states.contains(selection.state) else {
            throw .refused(
                "only ready or scheduled jobs can be discarded in bulk, not \(selection.state.rawValue) ones"
                    + (selection.state == .dead ? " (dead jobs: host jobs discard --all)" : ""))
        }
        let (queue, backend) = try queue(named: name)
        return try call { () throws(BackendError) in try backend.discardAllPending(queue: queue.name, selection, progress: progress) }
    }

    /// Jobs of `queue` in any state whose id or handler is `text` or whose payload contains it
    /// (case-sensitively), newest first.
    public func search(queue name: String, text: String, limit: Int) throws(Failure) -> JobSearchResult {
        guard !text.isEmpty else { throw .refused("search for what? give a non-empty text") }
        let (queue, backend) = try queue(named: name)
        return try call { () throws(BackendError) in try backend.search(queue: queue.name, text: text, limit: limit) }
    }
}

/// The words for a job that cannot be cancelled.
enum PendingFailure {
    static func text(id: String, state: JobState) -> String {
        switch state {
        case .running: "job \(id) is running: a running job is never cancelled; it settles as usual"
        case .dead: "job \(id) is dead, not ready or scheduled: discard it instead (host jobs discard \(id))"
        default: "job \(id) is \(state.rawValue), not ready or scheduled: only those can be cancelled"
        }
    }
}
