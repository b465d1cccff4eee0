import Foundation
import ServiceLifecycle

/// The scheduler as a service of `host run`'s service group: fires until graceful shutdown.
public struct SchedulerService: Service {
    let scheduler: Scheduler

    public init(scheduler: Scheduler) { self.scheduler = scheduler }

    public func run() async throws {
        scheduler.start()
        try? await gracefulShutdown()
        let scheduler = self.scheduler
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                scheduler.stop()
                continuation.resume()
            }
            thread.start()
        }
    }
}
