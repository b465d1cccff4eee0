import Backend
import Foundation

/// Waiting for work: wake-ups on enqueue and on due scheduled jobs, and an idle wait that waits.
extension BackendConformance {
    /// A host waiting for work wakes for an enqueue from another thread, not at its timeout of a minute.
    public static func waitForWorkWakesOnEnqueue(_ backend: any JobBackend, queue: String) throws {
        let enqueueStarted = ContinuousClock.now + .milliseconds(300)
        let results = try onThreads(2) { index -> ContinuousClock.Instant in
            if index == 0 {
                try backend.waitForWork(queue: queue, timeout: .seconds(60))
                return ContinuousClock.now
            }
            // Give the waiter time to block first.
            pause(enqueueStarted - ContinuousClock.now)
            _ = try backend.enqueue([sampleJob(queue)])
            return ContinuousClock.now
        }
        let (woke, enqueued) = (results[0], results[1])
        try expect(woke >= enqueueStarted, "waitForWork returned \((enqueueStarted - woke).millisecondsText) before anything was enqueued")
        try expect(woke - enqueued < .seconds(30), "waitForWork returned at its timeout, not for the enqueue")
        try expectEqual(try backend.fetch(queue: queue, limit: 10, lease: .seconds(60)).count, 1, "jobs fetched after waking")
    }

    /// With nothing to do, waitForWork waits about its timeout.
    public static func waitForWorkWaitsWhenIdle(_ backend: any JobBackend, queue: String) throws {
        let timeout = Duration.milliseconds(400)
        let start = ContinuousClock.now
        try backend.waitForWork(queue: queue, timeout: timeout)
        let waited = ContinuousClock.now - start
        try expect(waited >= timeout * 0.75, "waitForWork on an idle queue returned after \(waited.millisecondsText) of \(timeout.millisecondsText)")
    }

    /// A host waiting with a long timeout wakes when a scheduled job becomes due, even if it was
    /// scheduled after the wait began.
    public static func waitForWorkWakesWhenScheduledJobIsDue(_ backend: any JobBackend, queue: String) throws {
        let delay = Duration.milliseconds(600)
        let start = ContinuousClock.now
        let job = sampleJob(queue, delay: delay)
        let found = try onThreads(2) { index -> String? in
            if index == 1 {
                // Scheduled while the other thread already waits.
                pause(.milliseconds(100))
                _ = try backend.enqueue([job])
                return nil
            }
            while ContinuousClock.now - start < .seconds(30) {
                try backend.waitForWork(queue: queue, timeout: .seconds(60))
                if let leased = try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first { return leased.id }
            }
            return nil
        }[0]
        let elapsed = ContinuousClock.now - start
        try expectEqual(found, job.id, "the scheduled job, fetched after waiting")
        try expect(elapsed < .seconds(30), "the waiter woke at its timeout of a minute, not for the job that became due")
    }
}
