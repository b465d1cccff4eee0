import Backend
import Foundation
import HostDomain
import Hummingbird

/// Cancelling a job, discarding a queue's pending jobs in bulk, and searching a queue.
extension AdminAPI {
    func cancel(id: String) async -> Response {
        await perform { actions throws(OperatorActions.Failure) in
            let job = try actions.cancel(job: id)
            host.logger.notice("job cancelled over HTTP", metadata: ["job.id": "\(id)", "job.queue": "\(job.queue)"])
            return Reply.json(["id": id, "queue": job.queue, "result": "cancelled"])
        }
    }

    /// The body's keys, all of them known: a misspelt `handler` must not widen a discard to every job.
    static let discardKeys: Set<String> = ["state", "older_than_seconds", "handler"]

    func discardPending(queue name: String, body: ByteBuffer) async -> Response {
        let selection: PendingSelection
        switch Self.selection(from: Data(body.readableBytesView)) {
        case .success(let parsed): selection = parsed
        case .failure(let problem): return Reply.error(.badRequest, problem.message)
        }
        return await perform(timeout: Self.bulkTimeout) { actions throws(OperatorActions.Failure) in
            let discarded = try actions.discardPending(queue: name, selection)
            host.logger.notice(
                "pending jobs discarded over HTTP",
                metadata: ["queue": "\(name)", "state": "\(selection.state.rawValue)", "jobs": "\(discarded)"])
            return Reply.json(PendingDiscard(queue: name, state: selection.state, discarded: discarded))
        }
    }

    struct PendingDiscard: Encodable {
        var queue: String
        var state: JobState
        var discarded: Int
    }

    struct BadRequest: Error {
        var message: String
    }

    /// `{"state": "ready"|"scheduled", "older_than_seconds": N, "handler": "x.y"}`, state required.
    static func selection(from body: Data) -> Result<PendingSelection, BadRequest> {
        let example = #"{"state": "ready", "older_than_seconds": 3600, "handler": "x.y"}"#
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            return .failure(BadRequest(message: "the body must be a JSON object like \(example)"))
        }
        if let unknown = object.keys.filter({ !discardKeys.contains($0) }).sorted().first {
            return .failure(BadRequest(message: "unknown key '\(unknown)'; the keys are state, older_than_seconds, handler"))
        }
        guard let fields = try? JSONDecoder().decode(DiscardBody.self, from: body) else {
            return .failure(BadRequest(message: "state and handler must be strings and older_than_seconds a number, like \(example)"))
        }
        let states = PendingSelection.states.map(\.rawValue).joined(separator: " or ")
        guard let text = fields.state, let state = JobState(rawValue: text), PendingSelection.states.contains(state) else {
            return .failure(BadRequest(message: "state must be \(states); running jobs are never discarded"))
        }
        var olderThan: Duration?
        if let seconds = fields.olderThanSeconds {
            guard seconds >= 0, seconds <= maxOlderThanSeconds else {
                return .failure(BadRequest(message: "older_than_seconds must be a number of seconds from 0 to \(Int(maxOlderThanSeconds)) (100 years)"))
            }
            olderThan = .milliseconds(Int64((seconds * 1000).rounded()))
        }
        if fields.handler?.isEmpty == true {
            return .failure(BadRequest(message: "handler must be a handler's name, like x.y"))
        }
        let handler = fields.handler
        return .success(PendingSelection(state: state, olderThan: olderThan, handler: handler))
    }

    /// A century: far past any job's age, well inside what a Duration holds.
    static let maxOlderThanSeconds = 3_153_600_000.0

    /// Keys as the rest of the API writes them, snake_case.
    struct DiscardBody: Decodable {
        var state: String?
        var olderThanSeconds: Double?
        var handler: String?

        enum CodingKeys: String, CodingKey {
            case state, handler
            case olderThanSeconds = "older_than_seconds"
        }
    }

    func search(queue name: String, query: [String: String]) async -> Response {
        guard let text = query["q"], !text.isEmpty else {
            return Reply.error(.badRequest, "give the text to look for as q: an id, a handler's name, or text in payloads")
        }
        guard let limit = Int(query["limit"] ?? "50"), (1...500).contains(limit) else {
            return Reply.error(.badRequest, "limit must be 1 to 500")
        }
        return await perform { actions throws(OperatorActions.Failure) in
            let found = try actions.search(queue: name, text: text, limit: limit)
            return Reply.json(SearchResult(queue: name, query: text, jobs: found.jobs, truncated: found.truncated))
        }
    }

    struct SearchResult: Encodable {
        var queue: String
        var query: String
        var jobs: [JobInfo]
        /// The backend looked at part of the queue only (Redis scans the newest jobs of each state).
        var truncated: Bool
    }
}
