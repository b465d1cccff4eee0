import Backend
import Foundation
import HostConfig
import Logging
import Synchronization
import Threads

/// Jobs processed and failed per interval for one queue, from successive reads of the backend's
/// cumulative counters (``QueueStats/processed``, ``QueueStats/failed``): each read after the first
/// adds one point, the change since the read before. Holds at most `capacity` points, oldest first.
/// No I/O: ``ThroughputSampler`` feeds it.
public struct ThroughputRing: Sendable, Equatable {
    public struct Point: Sendable, Equatable, Encodable {
        /// When the read that closed the interval was made.
        public var at: Date
        public var processed: Int
        public var failed: Int

        public init(at: Date, processed: Int, failed: Int) {
            self.at = at
            self.processed = processed
            self.failed = failed
        }
    }

    public let capacity: Int
    /// Oldest first.
    public private(set) var points: [Point] = []
    /// The counters of the last read, the base of the next point; nil after a gap.
    private var last: (processed: Int, failed: Int)?

    public init(capacity: Int) {
        precondition(capacity > 0, "a ring holds at least one point")
        self.capacity = capacity
    }

    public static func == (lhs: ThroughputRing, rhs: ThroughputRing) -> Bool {
        lhs.capacity == rhs.capacity && lhs.points == rhs.points && lhs.last?.processed == rhs.last?.processed
            && lhs.last?.failed == rhs.last?.failed
    }

    /// One read of the counters. A counter lower than at the read before was reset (a backend flushed,
    /// its counters gone): what it reads now is what happened since, never a negative rate.
    public mutating func record(at time: Date, processed: Int, failed: Int) {
        defer { last = (processed, failed) }
        guard let last else { return }
        let point = Point(
            at: time, processed: processed >= last.processed ? processed - last.processed : processed,
            failed: failed >= last.failed ? failed - last.failed : failed)
        points.append(point)
        if points.count > capacity { points.removeFirst(points.count - capacity) }
    }

    /// A read that failed: no point (a gap, not a zero), and the next read is a new base, so the jobs
    /// of the silent spell are not lumped into one interval.
    public mutating func recordGap() {
        last = nil
    }

    /// The points at or after `start`.
    public func points(since start: Date) -> [Point] {
        points.filter { $0.at >= start }
    }
}

/// Samples every queue's counters every ``interval`` (one thread per backend, so a backend that hangs
/// delays only its own queues) into a ``ThroughputRing`` per queue, covering ``window``: what
/// `/api/v1/throughput` shows.
public final class ThroughputSampler: Sendable {
    public static let interval = Duration.seconds(5)
    public static let window = Duration.seconds(600)

    private let config: HostConfiguration
    private let backends: [String: any JobBackend]
    private let interval: Duration
    private let rings: Mutex<[String: ThroughputRing]>
    private let ticker = Ticker()
    private let logger: Logger
    /// Backends whose last read failed: logged once per spell.
    private let troubled = Mutex<Set<String>>([])

    public init(config: HostConfiguration, backends: [String: any JobBackend], logger: Logger, interval: Duration = ThroughputSampler.interval) {
        self.config = config
        self.backends = backends
        self.interval = interval
        self.logger = logger
        let capacity = Int((Self.window.seconds / interval.seconds).rounded(.up))
        rings = Mutex(Dictionary(uniqueKeysWithValues: config.queues.map { ($0.name, ThroughputRing(capacity: max(1, capacity))) }))
    }

    public var intervalSeconds: Double { interval.seconds }

    /// One read of every queue of `backend`; blocks on the backend.
    public func sampleOnce(backend name: String) {
        guard let backend = backends[name] else { return }
        let queues = config.queues.filter { $0.backend == name }.map(\.name)
        var problem: BackendError?
        for queue in queues {
            do throws(BackendError) {
                let stats = try backend.stats(queue: queue)
                let now = Date()
                rings.withLock { $0[queue]?.record(at: now, processed: stats.processed, failed: stats.failed) }
            } catch {
                problem = error
                rings.withLock { $0[queue]?.recordGap() }
            }
        }
        let startsASpell = troubled.withLock { backends -> Bool in
            guard problem != nil else {
                backends.remove(name)
                return false
            }
            return backends.insert(name).inserted
        }
        if let problem, startsASpell {
            logger.warning("cannot read queue counters for the throughput graph; its points stay empty meanwhile", metadata: ["backend": "\(name)", "error": "\(problem)"])
        }
    }

    /// Each queue's points of the last ``window``, oldest first, in the config's queue order.
    public func series(now: Date = Date()) -> [(queue: String, points: [ThroughputRing.Point])] {
        let start = now.addingTimeInterval(-Self.window.seconds)
        let rings = rings.withLock { $0 }
        return config.queues.map { ($0.name, rings[$0.name]?.points(since: start) ?? []) }
    }

    public func start() {
        for backend in Set(config.queues.map(\.backend)).sorted() {
            startThread(name: "jobhost.throughput.\(backend)") { [self] in
                ticker.repeatEvery(interval) { sampleOnce(backend: backend) }
            }
        }
    }

    public func stop() { ticker.stop() }

    /// As a service of the host's group.
    public var service: ThreadService { ThreadService(name: "throughput", start: start, stop: stop) }
}
