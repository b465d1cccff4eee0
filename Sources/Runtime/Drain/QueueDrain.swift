import Backend
import Durations
import Logging
import Synchronization
import Threads

/// Tells `host run --once` when its queues have nothing left to run now.
///
/// A queue is drained when its backend counts no job ready (scheduled jobs already due count as
/// ready) and none running. Both come from one read per queue, which each backend answers from one
/// snapshot; a chained job is enqueued before its parent settles, so a chain is never seen between
/// two links. Across queues (a chain from one queue into another) the reads are not one snapshot:
/// the queues count as drained only when two passes in a row find all of them idle and no job
/// finished in between. Jobs scheduled for later (a retry's backoff, `run_at` in the future) are not
/// waited for. A paused queue counts as drained: its jobs stay where they are.
public final class QueueDrain: Sendable {
    private let queues: [(name: String, backend: any JobBackend)]
    private let finished: @Sendable () -> Int
    private let logger: Logger
    private let interval: Duration
    private let ticker = Ticker()
    private let pausedSeen = Mutex<Set<String>>([])

    /// - Parameters:
    ///   - queues: each queue served, with its backend.
    ///   - finished: how many runs have finished so far (a ``RunTally``'s `ran`).
    ///   - interval: between passes.
    public init(
        queues: [(name: String, backend: any JobBackend)], finished: @escaping @Sendable () -> Int, logger: Logger,
        interval: Duration = .milliseconds(100)
    ) {
        self.queues = queues
        self.finished = finished
        self.logger = logger
        self.interval = interval
    }

    /// Blocks until the queues are drained (true) or ``stop()`` is called (false). A backend that
    /// cannot be read is retried with backoff, as the runners retry it: the queues are not drained
    /// while nobody can tell.
    public func wait() -> Bool {
        var idleAt: Int?
        var failures = 0
        let backoff = Backoff(first: .milliseconds(200), max: .seconds(5))
        while !ticker.isStopped {
            let before = finished()
            do {
                let idle = try queues.allSatisfy { try isIdle($0.name, $0.backend) }
                let after = finished()
                if idle && before == after {
                    if idleAt == after { return true }
                    idleAt = after
                } else {
                    idleAt = nil
                }
                failures = 0
            } catch {
                failures += 1
                idleAt = nil
                logger.warning("cannot read the queues to tell whether they are drained; will keep trying", metadata: ["error": "\(error)"])
            }
            ticker.sleep(failures == 0 ? interval : backoff.delay(afterFailures: failures))
        }
        return false
    }

    public func stop() { ticker.stop() }

    private func isIdle(_ queue: String, _ backend: any JobBackend) throws(BackendError) -> Bool {
        let stats = try backend.stats(queue: queue)
        if stats.paused {
            if pausedSeen.withLock({ $0.insert(queue).inserted }) && stats.ready > 0 {
                logger.notice("queue is paused: its ready jobs are left for later", metadata: ["queue": "\(queue)", "ready": "\(stats.ready)"])
            }
            return stats.running == 0
        }
        return stats.ready == 0 && stats.running == 0
    }
}
