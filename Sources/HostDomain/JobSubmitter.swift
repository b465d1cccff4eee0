import Backend
import Foundation
import HostConfig

/// Turns "run handler H with this payload" into a job on the right queue and backend: the one path
/// for `host enqueue`, job chaining from handlers, schedules and manual triggers.
public struct JobSubmitter: Sendable {
    let config: HostConfiguration
    let backends: [String: any JobBackend]

    public init(config: HostConfiguration, backends: [String: any JobBackend]) {
        self.config = config
        self.backends = backends
    }

    public struct Request: Sendable {
        public var handler: String
        public var payload: Data
        public var queue: String?
        public var delay: Duration
        public var maxAttempts: Int?
        public var timeout: Duration?
        public var uniqueKey: String?
        /// Where the job comes from, for operators (see `NewJob.origin`).
        public var origin: String?
        /// At most this many jobs of the queue with its key run at once (see `NewJob.concurrency`).
        public var concurrency: ConcurrencyLimit?

        public init(
            handler: String, payload: Data, queue: String? = nil, delay: Duration = .zero, maxAttempts: Int? = nil,
            timeout: Duration? = nil, uniqueKey: String? = nil, origin: String? = nil, concurrency: ConcurrencyLimit? = nil
        ) {
            self.handler = handler
            self.payload = payload
            self.queue = queue
            self.delay = delay
            self.maxAttempts = maxAttempts
            self.timeout = timeout
            self.uniqueKey = uniqueKey
            self.origin = origin
            self.concurrency = concurrency
        }
    }

    /// Why a job was not enqueued. Nothing was written when this is thrown.
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The job as it would be enqueued, after routing and validation.
    public func prepare(_ request: Request) throws(Refusal) -> (NewJob, any JobBackend) {
        guard HandlerName.isValid(request.handler) else {
            throw Refusal(description: "'\(request.handler)' is not a handler name; write family.action, e.g. greeter.hello")
        }
        do {
            _ = try JSONSerialization.jsonObject(with: request.payload, options: [.fragmentsAllowed])
        } catch {
            let preview = String(decoding: request.payload.prefix(60), as: UTF8.self)
            throw Refusal(description: "the payload is not valid JSON (\(preview.isEmpty ? "empty" : "starts with: \(preview)")); nothing was enqueued")
        }
        let router = JobRouter(config)
        let queueName = router.queueName(for: request.handler, requested: request.queue)
        guard let queue = router.queue(named: queueName) else {
            throw Refusal(description: request.queue == nil
                ? "no route sends '\(request.handler)' to a queue and there is no queue named 'default'"
                : "unknown queue '\(queueName)'; the config defines \(config.queues.map(\.name).joined(separator: ", "))")
        }
        guard let backend = backends[queue.backend] else {
            throw Refusal(description: "queue '\(queue.name)' uses backend '\(queue.backend)', which is not available")
        }
        if let attempts = request.maxAttempts, attempts < 1 {
            throw Refusal(description: "max attempts must be at least 1, got \(attempts)")
        }
        if let concurrency = request.concurrency {
            guard !concurrency.key.isEmpty, concurrency.key.utf8.count <= ConcurrencyLimit.maxKeyBytes, !concurrency.key.utf8.contains(0) else {
                throw Refusal(description: "a concurrency key must be non-empty text of at most \(ConcurrencyLimit.maxKeyBytes) bytes")
            }
            guard (1...ConcurrencyLimit.maxLimit).contains(concurrency.limit) else {
                throw Refusal(description:
                    "the concurrency limit of key '\(concurrency.key)' must be from 1 to \(ConcurrencyLimit.maxLimit), got \(concurrency.limit)")
            }
        }
        let maxAttempts = router.maxAttempts(for: request.handler, queue: queue, requested: request.maxAttempts)
        let job = NewJob(
            queue: queue.name, handler: request.handler, payload: request.payload, maxAttempts: maxAttempts,
            delay: request.delay, timeout: request.timeout, uniqueKey: request.uniqueKey, origin: request.origin,
            concurrency: request.concurrency)
        return (job, backend)
    }

    /// Enqueues one job; returns its id.
    public func submit(_ request: Request) throws -> String {
        let (job, backend) = try prepare(request)
        guard let id = try backend.enqueue([job]).first else {
            throw BackendError(.server, "the backend accepted job \(job.id) but returned no id")
        }
        return id
    }
}
