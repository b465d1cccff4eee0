import Foundation

/// Where a host sends the jobs of one handler, as it publishes it to a backend for producers that do not
/// read the config (SQL, plain Redis, an application writing the SQLite file): the queue, and the
/// attempts a new job gets there.
public struct RouteEntry: Sendable, Equatable {
    public var handler: String
    public var queue: String
    public var maxAttempts: Int
    /// What the host would give a job of the handler that has no timeout of its own; for operators
    /// only: producers leave it out, so a later change of the config applies to jobs already waiting.
    public var timeout: Duration

    public init(handler: String, queue: String, maxAttempts: Int, timeout: Duration) {
        self.handler = handler
        self.queue = queue
        self.maxAttempts = maxAttempts
        self.timeout = timeout
    }
}

/// A route as the backend holds it: the entry, and which host wrote it when.
public struct PublishedRoute: Sendable, Equatable {
    public var entry: RouteEntry
    /// The `host.name` of the host that wrote it last.
    public var publishedBy: String
    /// When it was written last, on the backend's clock.
    public var publishedAt: Date

    public init(entry: RouteEntry, publishedBy: String, publishedAt: Date) {
        self.entry = entry
        self.publishedBy = publishedBy
        self.publishedAt = publishedAt
    }
}

/// A backend that keeps the routes hosts publish, one per handler, for its producers' enqueues without
/// a queue. Several hosts write the same table: the last write of a handler wins. A handler no host
/// serves any more keeps its route (producers' jobs still land where they did), with the time it was
/// last published, which shows it is no longer refreshed.
public protocol RouteStore: Sendable {
    /// Writes `routes` as published by `host` now (the backend's clock), replacing each handler's
    /// previous route, all in one atomic step. Routes of other handlers stay as they are.
    func publishRoutes(_ routes: [RouteEntry], by host: String) throws(BackendError)

    /// Every published route, by handler name.
    func publishedRoutes() throws(BackendError) -> [PublishedRoute]
}
