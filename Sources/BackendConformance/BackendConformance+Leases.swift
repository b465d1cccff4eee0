import Backend
import Foundation

/// Leases: fencing of stale holders, renewal, rescue of expired leases, and pruning of finished jobs.
extension BackendConformance {
    /// Once a lease expired and was rescued, its holder can neither settle nor extend it; nothing changes.
    public static func staleLeaseIsFenced(_ backend: any JobBackend, queue: String) throws {
        let job = sampleJob(queue, maxAttempts: 3)
        _ = try backend.enqueue([job])
        let stale = try require(try backend.fetch(queue: queue, limit: 1, lease: .milliseconds(200)).first, "no job fetched")
        let rescued = try eventually(within: .seconds(10)) { () throws -> Int? in
            let result = try backend.rescueExpired(queue: queue, limit: 100)
            return result.rescued > 0 ? result.rescued : nil
        }
        try expectEqual(rescued, 1, "jobs rescued after the lease expired")
        // The age of the waiting job grows meanwhile; every count must stay.
        var afterRescue = try backend.stats(queue: queue)
        afterRescue.oldestReadyAge = nil

        let settlements: [Settlement] = [
            .done(retention: .seconds(60)), .retry(after: .zero, error: "late"), .dead(error: "late"), .release,
            .crashed(retryAfter: .zero, error: "late"), .crashed(retryAfter: nil, error: "late"),
        ]
        for settlement in settlements {
            try expectEqual(try backend.settle([(stale.lease, settlement)]), [false], "settling with a rescued lease (\(settlement))")
        }
        try expectEqual(try backend.extend([stale.lease], by: .seconds(60)), [false], "extending a rescued lease")
        var afterStale = try backend.stats(queue: queue)
        afterStale.oldestReadyAge = nil
        try expectEqual(afterStale, afterRescue, "stats after stale settlements")
        let info = try require(try backend.job(queue: queue, id: job.id), "the rescued job is gone")
        try expectEqual(info.state, .ready, "state of the rescued job")
        try expect(info.lastError?.contains("lease") == true, "a rescued job's lastError should mention the lease: \(info.lastError ?? "nil")")

        let fresh = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "the rescued job is not ready")
        try expectEqual(fresh.id, job.id, "the rescued job")
        try expectEqual(fresh.attempt, 2, "attempt after a rescue (the expired one counts)")
        try expectEqual(
            try backend.settle([(stale.lease, .done(retention: .seconds(60))), (fresh.lease, .done(retention: .seconds(60)))]),
            [false, true], "a batch with the stale and the fresh lease")
        try expectEqual(try backend.stats(queue: queue).processed, 1, "processed")
    }

    /// A lease extended in time is not rescued, however long the job runs.
    public static func extendKeepsJobFromRescue(_ backend: any JobBackend, queue: String) throws {
        _ = try backend.enqueue([sampleJob(queue)])
        // Renewed every fifth of the lease: a loaded machine may stall the loop a while without the
        // lease running out, which would be the machine's fault, not the backend's.
        let lease = Duration.milliseconds(1500)
        let leased = try require(try backend.fetch(queue: queue, limit: 1, lease: lease).first, "no job fetched")
        let start = ContinuousClock.now
        while ContinuousClock.now - start < lease * 2 {
            pause(.milliseconds(300))
            try expectEqual(try backend.extend([leased.lease], by: lease), [true], "extending a held lease")
            let rescue = try backend.rescueExpired(queue: queue, limit: 100)
            try expect(rescue == (0, 0), "a job whose lease was extended was rescued: \(rescue)")
        }
        try expectEqual(try backend.settle([(leased.lease, .done(retention: .seconds(60)))]), [true], "settling an extended lease")
    }

    /// A rescued job whose attempts are used up goes dead, with a reason that mentions the lease.
    public static func rescueWithAttemptsUsedUpGoesDead(_ backend: any JobBackend, queue: String) throws {
        let job = sampleJob(queue, maxAttempts: 1)
        _ = try backend.enqueue([job])
        let leased = try require(try backend.fetch(queue: queue, limit: 1, lease: .milliseconds(100)).first, "no job fetched")
        let result = try eventually(within: .seconds(10)) { () throws -> (rescued: Int, dead: Int)? in
            let result = try backend.rescueExpired(queue: queue, limit: 100)
            return result == (0, 0) ? nil : result
        }
        try expect(result.map { $0 == (0, 1) } == true, "rescue of an expired last attempt: expected (0, 1), got \(String(describing: result))")
        let info = try require(try backend.job(queue: queue, id: job.id), "the job is gone")
        try expectEqual(info.state, .dead, "state")
        try expect(info.lastError?.contains("lease") == true, "the dead job's error should mention the lease: \(info.lastError ?? "nil")")
        try expectEqual(try backend.stats(queue: queue).dead, 1, "dead")
        try expectEqual(try backend.settle([(leased.lease, .done(retention: .seconds(60)))]), [false], "settling the dead job's lease")
    }

    /// Prune deletes done jobs older than the retention and nothing else; a retention of zero at settle
    /// time deletes the job at once (still counted as processed).
    public static func pruneRemovesOnlyOldDoneJobs(_ backend: any JobBackend, queue: String) throws {
        let old = sampleJob(queue, 1)
        let recent = sampleJob(queue, 2)
        let dead = sampleJob(queue, 3)
        let immediate = sampleJob(queue, 4)
        _ = try backend.enqueue([old, recent, dead, immediate])
        let leased = try backend.fetch(queue: queue, limit: 4, lease: .seconds(60))
        try expectEqual(leased.count, 4, "fetched")
        try expectEqual(try backend.settle([(leased[0].lease, .done(retention: .seconds(3600)))]), [true], "settle")
        try expectEqual(try backend.settle([(leased[2].lease, .dead(error: "x"))]), [true], "settle")
        try expectEqual(try backend.settle([(leased[3].lease, .done(retention: .zero))]), [true], "settle")
        try expectEqual(try backend.job(queue: queue, id: immediate.id), nil, "a job done with retention 0")
        pause(.milliseconds(600))
        try expectEqual(try backend.settle([(leased[1].lease, .done(retention: .seconds(3600)))]), [true], "settle")

        try expectEqual(try backend.prune(queue: queue, retention: .milliseconds(300), limit: 100), 1, "jobs pruned")
        try expectEqual(try backend.job(queue: queue, id: old.id), nil, "the old done job")
        try expectEqual(try backend.job(queue: queue, id: recent.id)?.state, .done, "the recent done job")
        try expectEqual(try backend.job(queue: queue, id: dead.id)?.state, .dead, "the dead job")
        let stats = try backend.stats(queue: queue)
        try expectEqual(stats.done, 1, "done")
        try expectEqual(stats.processed, 3, "processed")
        try expectEqual(try backend.prune(queue: queue, retention: .seconds(3600), limit: 100), 0, "jobs pruned with a long retention")
    }
}
