import Foundation

/// One job, as a handler sees it.
public struct Job: Sendable {
    /// Unique and sortable; a job runs at least once, so use it as the idempotency key.
    public let id: String
    /// The handler name the job was enqueued for, e.g. `noctua.strategy_batch`.
    public let handler: String
    /// The queue it came from.
    public let queue: String
    /// 1 on the first run.
    public let attempt: Int
    /// How many runs the job gets before it goes to the dead set.
    public let maxAttempts: Int
    /// The payload as the producer sent it: JSON, UTF-8.
    public let payload: Data
    /// When the host will ask the handler to stop, if the job has a timeout.
    public let deadline: Date?
    /// When the job was enqueued.
    public let enqueuedAt: Date

    /// Creates a job; plugins receive jobs from the host, tests build them by hand.
    public init(
        id: String, handler: String, queue: String = "default", attempt: Int = 1, maxAttempts: Int = 1,
        payload: Data, deadline: Date? = nil, enqueuedAt: Date = Date()
    ) {
        self.id = id
        self.handler = handler
        self.queue = queue
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.payload = payload
        self.deadline = deadline
        self.enqueuedAt = enqueuedAt
    }

    /// True on the last attempt the job gets: a handler may clean up or record the failure for good.
    public var isLastAttempt: Bool { attempt >= maxAttempts }

    /// The payload decoded from JSON.
    ///
    /// A payload that does not decode can never succeed, so the error this throws ends the job as
    /// discarded (with the decoder's reason) unless the handler catches it.
    public func decode<T: Decodable>(_ type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        do {
            return try decoder.decode(T.self, from: payload)
        } catch {
            throw DiscardJob("payload of job \(id) does not decode as \(T.self): \(describeDecodingFailure(error))")
        }
    }
}

/// A one-line account of a `DecodingError`, naming the JSON path that failed.
func describeDecodingFailure(_ error: any Error) -> String {
    guard let decodingError = error as? DecodingError else { return String(describing: error) }
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
        return keys.isEmpty ? "" : " at \(keys.joined(separator: "."))"
    }
    switch decodingError {
    case .dataCorrupted(let context):
        return "not valid JSON\(path(context)): \(context.debugDescription)"
    case .keyNotFound(let key, let context):
        return "missing key '\(key.stringValue)'\(path(context))"
    case .typeMismatch(let type, let context):
        return "expected \(type)\(path(context)): \(context.debugDescription)"
    case .valueNotFound(let type, let context):
        return "expected \(type)\(path(context)), found null"
    @unknown default:
        return String(describing: decodingError)
    }
}
