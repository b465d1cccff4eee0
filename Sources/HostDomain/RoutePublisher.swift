import Backend
import Foundation
import HostConfig
import Logging
import Synchronization
import Threads

/// Publishes this host's routes — for every handler of the plugins it loaded: its queue, the attempts a
/// new job gets there and its timeout, as ``JobRouter`` resolves them — to every backend that keeps
/// routes (``RouteStore``), for producers that enqueue without the config: `<schema>.enqueue` without
/// a queue on PostgreSQL, `FCALL jobhost_enqueue` on Redis, the `enqueue` view on SQLite.
///
/// Each backend gets the routes of the handlers whose queue lives on it: a producer on another backend
/// is refused rather than sent to a queue nobody there runs. Published at start, then again every
/// ``refreshEvery`` (a Redis server restarted without persistence, a database restored from a backup,
/// or another host with an older config that wrote last, all get this host's routes back), and sooner,
/// with backoff, while a backend cannot be reached.
public final class RoutePublisher: Sendable {
    /// A handler a loaded plugin registers, with the default timeout the plugin declares for it.
    public struct Handler: Sendable, Equatable {
        public var name: String
        public var defaultTimeout: Duration?

        public init(name: String, defaultTimeout: Duration? = nil) {
            self.name = name
            self.defaultTimeout = defaultTimeout
        }
    }

    public static let refreshEvery = Duration.seconds(60)
    static let retry = Backoff(first: .seconds(1), max: .seconds(30))

    struct Target: Sendable {
        var backend: String
        var store: any RouteStore
        var routes: [RouteEntry]
    }

    private let targets: [Target]
    private let hostName: String
    private let logger: Logger
    private let ticker = Ticker()
    private let stopped = Completion()
    /// Backends whose last publish failed (logged once per spell), and those published to at least once.
    private let state = Mutex<(troubled: Set<String>, published: Set<String>)>(([], []))
    /// Whether a backend failed on the last pass: the thread then tries again soon, not in a minute.
    private let behind = Atomic<Bool>(false)

    public init(config: HostConfiguration, backends: [String: any JobBackend], handlers: [Handler], hostName: String, logger: Logger) {
        self.hostName = hostName
        self.logger = logger
        let routes = Self.routes(config: config, handlers: handlers)
        targets = config.backends.compactMap { entry in
            guard let store = backends[entry.name] as? any RouteStore, let routes = routes[entry.name], !routes.isEmpty else { return nil }
            return Target(backend: entry.name, store: store, routes: routes)
        }
    }

    /// The routes of `handlers`, by the name of the backend their queue lives on. A handler whose
    /// queue the config lacks (no route and no `default` queue) has none: `host enqueue` refuses it too.
    public static func routes(config: HostConfiguration, handlers: [Handler]) -> [String: [RouteEntry]] {
        let router = JobRouter(config)
        var routes: [String: [RouteEntry]] = [:]
        for handler in handlers {
            guard let queue = router.queue(for: handler.name) else { continue }
            routes[queue.backend, default: []].append(RouteEntry(
                handler: handler.name, queue: queue.name, maxAttempts: router.maxAttempts(for: handler.name, queue: queue),
                timeout: router.timeout(for: handler.name, queue: queue, pluginDefault: handler.defaultTimeout)))
        }
        return routes
    }

    /// One pass on every backend; returns whether every one took the routes.
    @discardableResult
    public func publishOnce() -> Bool {
        var allPublished = true
        for target in targets {
            var problem: String?
            do {
                try target.store.publishRoutes(target.routes, by: hostName)
            } catch {
                problem = "\(error)"
                allPublished = false
            }
            let (startsASpell, first) = state.withLock { state -> (Bool, Bool) in
                guard problem != nil else {
                    state.troubled.remove(target.backend)
                    return (false, state.published.insert(target.backend).inserted)
                }
                return (state.troubled.insert(target.backend).inserted, false)
            }
            if let problem, startsASpell {
                logger.warning(
                    "cannot publish this host's routes; producers enqueueing without a queue use the routes published before; trying again",
                    metadata: ["backend": "\(target.backend)", "error": "\(problem)"])
            } else if first {
                logger.info("published routes", metadata: ["backend": "\(target.backend)", "handlers": "\(target.routes.count)"])
            }
        }
        behind.store(!allPublished, ordering: .releasing)
        return allPublished
    }

    /// Publishes again every ``refreshEvery`` on a thread of its own, sooner while a backend fails (from
    /// the start, when the pass the host made at start failed).
    public func start() {
        guard !targets.isEmpty else {
            stopped.finish()
            return
        }
        startThread(name: "jobhost.routes") { [self] in
            var failures = behind.load(ordering: .acquiring) ? 1 : 0
            while ticker.sleep(failures > 0 ? Self.retry.delay(afterFailures: failures) : Self.refreshEvery) {
                failures = publishOnce() ? 0 : failures + 1
            }
            stopped.finish()
        }
    }

    public func stop() {
        ticker.stop()
        stopped.wait(until: .now + .seconds(5))
    }

    /// As a service of the host's group: started with it, stopped when shutdown reaches it.
    public var service: ThreadService { ThreadService(name: "routes", start: start, stop: stop) }
}
