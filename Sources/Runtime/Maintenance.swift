import Backend
import Foundation
import HostConfig
import Logging
import Synchronization
import Threads

/// The chores that keep a backend's queues healthy: rescuing jobs whose lease expired (their host
/// died or stalled) and pruning finished jobs past their retention. Every host runs them; each chore
/// is safe to run on many hosts at once, because each step is one atomic backend call.
public final class Maintenance: Sendable {
    private let queues: [QueueConfig]
    private let backend: any JobBackend
    private let logger: Logger
    let interval: Duration
    private let stopped = Atomic<Bool>(false)
    private let done = Completion()
    /// Failed passes in a row, by queue: an outage is logged when it starts and now and then, not
    /// every second.
    private let failures = Mutex<[String: Int]>([:])

    public init(queues: [QueueConfig], backend: any JobBackend, interval: Duration, logger: Logger) {
        self.queues = queues
        self.backend = backend
        self.interval = interval
        self.logger = logger
    }

    public func start(name: String) {
        startThread(name: "jobhost.maintenance.\(name)") { [self] in
            while !stopped.load(ordering: .acquiring) {
                runOnce()
                var slept = Duration.zero
                while slept < interval, !stopped.load(ordering: .acquiring) {
                    Thread.sleep(forTimeInterval: 0.05)
                    slept += .milliseconds(50)
                }
            }
            done.finish()
        }
    }

    /// One pass over every queue; tests call it directly.
    @discardableResult
    public func runOnce() -> (rescued: Int, dead: Int, pruned: Int) {
        var totals = (rescued: 0, dead: 0, pruned: 0)
        for queue in queues {
            do {
                let (rescued, dead) = try backend.rescueExpired(queue: queue.name, limit: 1000)
                totals.rescued += rescued
                totals.dead += dead
                if rescued + dead > 0 {
                    logger.warning("rescued jobs whose lease expired", metadata: ["queue": "\(queue.name)", "ready_again": "\(rescued)", "dead": "\(dead)"])
                }
                totals.pruned += try backend.prune(queue: queue.name, retention: queue.retention, limit: 1000)
                if let ended = failures.withLock({ $0.removeValue(forKey: queue.name) }), ended > 1 {
                    logger.notice("maintenance passes succeed again", metadata: ["queue": "\(queue.name)", "failed_passes": "\(ended)"])
                }
            } catch {
                let count = failures.withLock { failures -> Int in
                    failures[queue.name, default: 0] += 1
                    return failures[queue.name]!
                }
                if count == 1 || count % 60 == 0 {
                    logger.warning(
                        "maintenance pass failed; will try again", metadata: ["queue": "\(queue.name)", "error": "\(error)", "failed_passes": "\(count)"])
                }
            }
        }
        return totals
    }

    public func stop() {
        stopped.store(true, ordering: .releasing)
        _ = done.wait(until: .now + .seconds(2))
    }
}
