import Backend
import Logging
import Synchronization
import Threads

/// Takes run alerts from the backends' outboxes and dispatches them: the one chore that turns a
/// backend's count of failed runs into alerts. Every host runs it; the backends hand each entry to
/// one taker, so each alert goes out once, from whichever host took it, whichever host saw the run end.
public final class RunAlertPump: Sendable {
    /// A queue and the backend that keeps its streaks.
    public struct Source: Sendable {
        public var queue: String
        public var store: any RunStreakStore

        public init(queue: String, store: any RunStreakStore) {
            self.queue = queue
            self.store = store
        }
    }

    /// How often the outboxes are read, unless told otherwise: the delay an alert may have.
    public static let defaultInterval = Duration.seconds(1)
    /// Entries taken per call; a queue with more is read again in the same pass.
    static let batch = 100

    public let sources: [Source]
    private let alerts: FailureAlerts
    private let interval: Duration
    private let logger: Logger
    private let observe: @Sendable (AlertEvent) -> Void
    private let ticker = Ticker()
    private let done = Completion()
    /// Failed passes in a row, by queue: an outage is logged when it starts, every 60 passes, and when it ends.
    private let failures = Mutex<[String: Int]>([:])

    /// - Parameter observe: told of every alert dispatched (metrics).
    public init(
        sources: [Source], alerts: FailureAlerts, interval: Duration = RunAlertPump.defaultInterval, logger: Logger,
        observe: @escaping @Sendable (AlertEvent) -> Void = { _ in }
    ) {
        self.sources = sources
        self.alerts = alerts
        self.interval = interval
        self.logger = logger
        self.observe = observe
    }

    /// One pass over every queue; returns the alerts dispatched. Tests call it directly.
    @discardableResult
    public func runOnce() -> [AlertEvent] {
        var dispatched: [AlertEvent] = []
        for source in sources {
            do {
                while true {
                    let entries = try source.store.takeRunAlerts(queue: source.queue, limit: Self.batch)
                    for entry in entries {
                        guard let event = alerts.handle(entry) else { continue }
                        observe(event)
                        dispatched.append(event)
                    }
                    if entries.count < Self.batch { break }
                }
                if let ended = failures.withLock({ $0.removeValue(forKey: source.queue) }), ended > 1 {
                    logger.notice("run alerts are read again", metadata: ["queue": "\(source.queue)", "failed_passes": "\(ended)"])
                }
            } catch {
                let count = failures.withLock { failures -> Int in
                    failures[source.queue, default: 0] += 1
                    return failures[source.queue]!
                }
                if count == 1 || count % 60 == 0 {
                    logger.warning("cannot read run alerts; will try again", metadata: [
                        "queue": "\(source.queue)", "error": "\(error)", "failed_passes": "\(count)",
                    ])
                }
            }
        }
        return dispatched
    }

    public func start() {
        startThread(name: "jobhost.run-alerts") { [self] in
            ticker.repeatEvery(interval) { runOnce() }
            done.finish()
        }
    }

    /// Stops the loop after a last pass, so alerts of runs that ended during shutdown still go out.
    public func stop() {
        ticker.stop()
        _ = done.wait(until: .now + .seconds(5))
        runOnce()
    }

    /// The pump as one service of a service group.
    public var service: ThreadService { ThreadService(name: "run-alerts", start: start, stop: stop) }
}
