import Backend
import Foundation
import HostDomain
import JobHostTesting
import Runtime
import Synchronization
import Testing

/// A worker at its job limit stops its runtime from the slot thread whose job reached the limit
/// (WorkerMain): no job starts after that but those already on the other slots, and the jobs it had
/// fetched go back to the queue.
struct StopStartingJobsTests {
    @Test func aRuntimeToldToStopStartingRunsNoMoreJobsAndHandsBackTheFetchedOnes() async throws {
        let fixture = try await RuntimeFixture(queues: "  default: { concurrency: 2 }")
        let ids = try fixture.enqueue(300, queue: "default")
        let limit = 20
        let stopper = StopAtLimit(limit: limit)
        let runtime = HostRuntime(
            config: fixture.config, backends: ["main": fixture.backend], registry: fixture.registry, logger: fixture.logger,
            observer: stopper)
        stopper.runtime.withLock { $0 = runtime }
        runtime.start()

        try await waitUntil("the runtime stopped and every job it had fetched is back in the queue") {
            let stats = try fixture.backend.stats(queue: "default")
            return stopper.reached && stats.running == 0 && stats.ready + stats.processed == ids.count
        }
        let runs = try fixture.runs()
        // The other slot may be running one job when the limit is reached, and more if the slot that
        // reached it is preempted before it stops the runtime (a loaded machine); then none starts.
        #expect(runs.count >= limit && runs.count <= limit + 30, "ran \(runs.count) jobs for a limit of \(limit) on 2 slots")
        runtime.shutdown(timeout: .seconds(5))
        let stats = try fixture.backend.stats(queue: "default")
        #expect(stats.ready == ids.count - runs.count && stats.running == 0 && stats.failed == 0, "\(stats)")
    }
}

/// Stops the runtime when `limit` handlers have returned, as a worker does at `worker_max_jobs`.
private final class StopAtLimit: JobObserver {
    let limit: Int
    let runtime = Mutex<HostRuntime?>(nil)
    private let returned = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    var reached: Bool { returned.load(ordering: .relaxed) >= limit }

    func didRun(_ job: LeasedJob) {
        if returned.add(1, ordering: .relaxed).newValue == limit {
            runtime.withLock { $0 }?.stopStartingJobs()
        }
    }

    func threadWillRunHandlers() {}
    func held(_ jobs: [LeasedJob]) {}
    func willRun(_ job: LeasedJob) {}
    func letGo(_ jobs: [(lease: Lease, finished: FinishedJob?)]) {}
}
