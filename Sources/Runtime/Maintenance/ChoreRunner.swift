import Backend
import Logging
import Synchronization
import Threads

/// Runs a chore on a thread of its own: a pass at once, then one every `interval` until stopped. An
/// outage is logged per queue when it starts, every 60 failed passes, and when it ends, not every pass.
final class ChoreRunner: Sendable {
    private let chore: any MaintenanceChore
    private let interval: Duration
    private let logger: Logger
    private let ticker = Ticker()
    private let done = Completion()
    /// Failed passes in a row, by queue.
    private let failures = Mutex<[String: Int]>([:])

    init(chore: any MaintenanceChore, interval: Duration, logger: Logger) {
        self.chore = chore
        self.interval = interval
        var logger = logger
        logger[metadataKey: "chore"] = "\(chore.name)"
        self.logger = logger
    }

    func start(name: String) {
        startThread(name: "jobhost.maintenance.\(name)") { [self] in
            ticker.repeatEvery(interval) { runPass() }
            done.finish()
        }
    }

    /// Stops the loop: no pass starts after this.
    func stop() { ticker.stop() }

    /// Waits until `deadline` for a pass under way to end; true if the loop ended.
    @discardableResult
    func waitStopped(until deadline: ContinuousClock.Instant) -> Bool { done.wait(until: deadline) }

    private func runPass() {
        let failed = Dictionary(chore.runOnce().failures.map { ($0.queue, $0.error) }, uniquingKeysWith: { first, _ in first })
        for queue in chore.queues {
            if let error = failed[queue] {
                let count = failures.withLock { failures -> Int in
                    failures[queue, default: 0] += 1
                    return failures[queue]!
                }
                if count == 1 || count % 60 == 0 {
                    logger.warning(
                        "maintenance pass failed; will try again", metadata: ["queue": "\(queue)", "error": "\(error)", "failed_passes": "\(count)"])
                }
            } else if let ended = failures.withLock({ $0.removeValue(forKey: queue) }), ended > 1 {
                logger.notice("maintenance passes succeed again", metadata: ["queue": "\(queue)", "failed_passes": "\(ended)"])
            }
        }
    }
}
