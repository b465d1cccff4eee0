/// Where a handler's jobs go and under which rules: the one place that says which setting wins when a
/// job, its route, its plugin and its queue disagree. Everything that enqueues, runs, retries or fires
/// a job asks this type; nothing else reads `routes:` for precedence.
///
/// It lives beside the model, not above it, because the config's own cross-checks (a schedule must
/// reach a queue; a plugin's default timeout must fit its queue) ask the same questions.
public struct JobRouter: Sendable {
    public let config: HostConfiguration

    public init(_ config: HostConfiguration) { self.config = config }

    // MARK: Handler → route → queue

    /// The route covering `handler`: an exact route, else the longest `family.*` route that matches.
    public func route(for handler: String) -> RouteConfig? {
        if let exact = config.routes.first(where: { $0.pattern == handler }) { return exact }
        return config.routes
            .filter { $0.isWildcard && handler.hasPrefix($0.prefix) }
            .max { $0.prefix.count < $1.prefix.count }
    }

    /// The name of the queue a job of `handler` goes to: the one asked for, else its route's, else `default`.
    public func queueName(for handler: String, requested: String? = nil) -> String {
        requested ?? route(for: handler)?.queue ?? QueueConfig.defaultName
    }

    /// The queue a job of `handler` goes to; nil when the config has no queue of that name.
    public func queue(for handler: String, requested: String? = nil) -> QueueConfig? {
        queue(named: queueName(for: handler, requested: requested))
    }

    public func queue(named name: String) -> QueueConfig? { config.queues.first { $0.name == name } }

    public func schedule(named name: String) -> ScheduleConfig? { config.schedules.first { $0.name == name } }

    /// The queue a schedule's jobs go to (its own `queue:`, else its handler's); its fires and its
    /// switch are kept with that queue.
    public func queueName(for schedule: ScheduleConfig) -> String {
        queueName(for: schedule.handler, requested: schedule.queue)
    }

    // MARK: The rules a job runs under

    /// How failed attempts of `handler` on `queue` are retried: its route's policy, else its queue's,
    /// else the standard one (a job whose queue left the config since it was fetched).
    public func retryPolicy(for handler: String, queue: String) -> RetryPolicy {
        route(for: handler)?.retry ?? self.queue(named: queue)?.retry ?? .standard
    }

    /// How many attempts a new job of `handler` gets: the number asked for, else its route's, else its queue's.
    public func maxAttempts(for handler: String, queue: QueueConfig, requested: Int? = nil) -> Int {
        requested ?? route(for: handler)?.retry?.maxAttempts ?? queue.retry.maxAttempts
    }

    /// How long a job may run before it is asked to stop: its own timeout, else its route's, else its
    /// plugin's default for the handler, else its queue's.
    public func timeout(for handler: String, queue: QueueConfig, job: Duration? = nil, pluginDefault: Duration? = nil) -> Duration {
        job ?? route(for: handler)?.timeout ?? pluginDefault ?? queue.timeout
    }
}
