import Backend
import Foundation

/// Concurrency keys (``ConcurrencyLimit``, every ``JobBackend``) and schedules that skip a fire while
/// the previous run is live (every ``ScheduleStore``).
extension BackendConformance {
    /// The concurrency-key scenarios; they take a maker of backend instances, so two instances on one
    /// store stand for two hosts.
    static let concurrencyScenarios: [(name: String, run: @Sendable (MakeOwnedBackend, String) throws -> Void)] = [
        ("concurrencyLimitHoldsAcrossHosts", concurrencyLimitHoldsAcrossHosts),
        ("everyLeaseEndFreesTheConcurrencySlot", everyLeaseEndFreesTheConcurrencySlot),
        ("waitingJobsRunInOrderWithoutBurningAttempts", waitingJobsRunInOrderWithoutBurningAttempts),
    ]

    static func keyedJob(_ queue: String, _ number: Int, key: String, limit: Int = 1, maxAttempts: Int = 3) -> NewJob {
        var job = sampleJob(queue, number, maxAttempts: maxAttempts)
        job.concurrency = ConcurrencyLimit(key: key, limit: limit)
        return job
    }

    /// Two hosts fetching at once, over and over, never run more than the limit of a key's jobs; the
    /// jobs over the limit stay ready with no attempt counted; jobs without a key, and of another key,
    /// enqueued behind them are fetched all the same.
    public static func concurrencyLimitHoldsAcrossHosts(_ make: MakeOwnedBackend, queue: String) throws {
        let hosts = [make("hostA#1/w1"), make("hostB#1/w1")]
        let keyed = (0..<8).map { keyedJob(queue, $0, key: "report", limit: 2) }
        let other = keyedJob(queue, 50, key: "other", limit: 1)
        let plain = (100..<104).map { sampleJob(queue, $0) }
        _ = try hosts[0].enqueue(keyed + [other] + plain)

        let fetched = try onThreads(2) { index -> [LeasedJob] in
            var mine: [LeasedJob] = []
            // Small batches, many rounds: the two hosts' claims overlap as much as they can.
            for _ in 0..<12 { mine += try hosts[index].fetch(queue: queue, limit: 2, lease: .seconds(60)) }
            return mine
        }.flatMap { $0 }
        let ids = fetched.map(\.id)
        try expectEqual(Set(ids).count, ids.count, "jobs fetched twice")
        let keyedIDs = Set(keyed.map(\.id))
        try expectEqual(ids.filter { keyedIDs.contains($0) }.count, 2, "jobs of key 'report' (limit 2) running at once")
        try expect(ids.contains(other.id), "the job of another key was not fetched")
        try expectEqual(Set(ids.filter { !keyedIDs.contains($0) && $0 != other.id }), Set(plain.map(\.id)), "jobs without a key fetched")

        let stats = try hosts[1].stats(queue: queue)
        try expectEqual(stats.running, 7, "running: two of the key, the other key's one, the four without a key")
        try expectEqual(stats.ready, 6, "ready: the jobs waiting for a place count as ready")
        for job in keyed where !ids.contains(job.id) {
            let info = try require(try hosts[1].job(queue: queue, id: job.id), "waiting job \(job.id) is gone")
            try expectEqual(info.state, .ready, "state of a waiting job")
            try expectEqual(info.attempt, 0, "attempts counted for a waiting job")
        }
        try expectEqual(try hosts[0].fetch(queue: queue, limit: 10, lease: .seconds(60)).count, 0, "jobs fetched with every key full")
        // Waiting jobs are listed with the ready ones.
        let listed = Set(try hosts[1].list(queue: queue, state: .ready, offset: 0, limit: 100).map(\.id))
        try expectEqual(listed, keyedIDs.subtracting(ids), "ready jobs listed")
    }

    /// Whichever way a lease ends — done, retried (now or later), dead, released, crashed, rescued after
    /// its expiry, taken back from a holder that is gone (as a rescue or a release) — the job's place
    /// under its key is free in the same step: one more job of the key runs, and no more than one.
    public static func everyLeaseEndFreesTheConcurrencySlot(_ make: MakeOwnedBackend, queue: String) throws {
        let backend = make("hostA#1/w1")
        let gone = make("hostB#1/w1")
        typealias End = (name: String, comesBack: Bool, end: (LeasedJob) throws -> Void)
        let ends: [End] = [
            ("done", false, { job in _ = try backend.settle([(job.lease, .done(retention: .seconds(60)))]) }),
            ("done without retention", false, { job in _ = try backend.settle([(job.lease, .done(retention: .zero))]) }),
            ("retry now", true, { job in _ = try backend.settle([(job.lease, .retry(after: .zero, error: "again"))]) }),
            ("retry later", false, { job in _ = try backend.settle([(job.lease, .retry(after: .seconds(3600), error: "later"))]) }),
            ("dead", false, { job in _ = try backend.settle([(job.lease, .dead(error: "no"))]) }),
            ("release", true, { job in _ = try backend.settle([(job.lease, .release)]) }),
            ("crashed", true, { job in _ = try backend.settle([(job.lease, .crashed(retryAfter: .zero, error: "signal 11"))]) }),
            ("crashed for good", false, { job in _ = try backend.settle([(job.lease, .crashed(retryAfter: nil, error: "signal 11"))]) }),
            ("reclaimed as a rescue", true, { _ in _ = try gone.reclaim(queue: queue, leasedBy: "hostB#1/", .rescue) }),
            ("reclaimed as a release", true, { _ in _ = try gone.reclaim(queue: queue, leasedBy: "hostB#1/", .release) }),
            ("rescued after its lease expired", true, { _ in
                _ = try eventually(within: .seconds(30)) { () throws -> Bool? in
                    try backend.rescueExpired(queue: queue, limit: 100).rescued > 0 ? true : nil
                }
            }),
        ]
        for (index, way) in ends.enumerated() {
            let key = "key-\(index)"
            let first = keyedJob(queue, index * 10, key: key)
            let second = keyedJob(queue, index * 10 + 1, key: key)
            _ = try backend.enqueue([first, second])
            let holder = way.name.hasPrefix("reclaimed") ? gone : backend
            let lease: Duration = way.name.hasPrefix("rescued") ? .milliseconds(300) : .seconds(60)
            let leased = try holder.fetch(queue: queue, limit: 10, lease: lease)
            try expectEqual(leased.map(\.id), [first.id], "\(way.name): jobs of key \(key) (limit 1) fetched")
            try expectEqual(try holder.fetch(queue: queue, limit: 10, lease: .seconds(60)).count, 0, "\(way.name): fetched beside the running one")
            try way.end(leased[0])
            // One job of the key runs again: the waiting one, or (when it came back ready) the ended one.
            let next = try require(
                try eventually(within: .seconds(15)) { () throws -> [LeasedJob]? in
                    let batch = try backend.fetch(queue: queue, limit: 10, lease: .seconds(60))
                    return batch.isEmpty ? nil : batch
                }, "\(way.name): no job of key \(key) ran after the lease ended")
            try expectEqual(next.count, 1, "\(way.name): jobs of key \(key) fetched once the place was free")
            let allowed = way.comesBack ? [first.id, second.id] : [second.id]
            try expect(allowed.contains(next[0].id), "\(way.name): fetched \(next[0].id), expected one of \(allowed)")
            try expectEqual(try backend.fetch(queue: queue, limit: 10, lease: .seconds(60)).count, 0, "\(way.name): fetched beside the next one")
            // Clear the key: the running one done, then the other one if it is still in line.
            _ = try backend.settle([(next[0].lease, .done(retention: .zero))])
            let other = next[0].id == first.id ? second.id : first.id
            if try backend.job(queue: queue, id: other)?.state == .ready {
                let last = try require(
                    try eventually(within: .seconds(15)) { () throws -> LeasedJob? in
                        try backend.fetch(queue: queue, limit: 10, lease: .seconds(60)).first
                    }, "\(way.name): the last job of key \(key) did not run")
                try expectEqual(last.id, other, "\(way.name): the last job of key \(key)")
                _ = try backend.settle([(last.lease, .done(retention: .zero))])
            }
        }
    }

    /// Jobs waiting for their key's place run one after the other in the order they were enqueued, each
    /// on its first attempt, however often a fetch passed over them; a waiting job can be cancelled and
    /// is then skipped.
    public static func waitingJobsRunInOrderWithoutBurningAttempts(_ make: MakeOwnedBackend, queue: String) throws {
        let backend = make("hostA#1/w1")
        let jobs = (0..<5).map { keyedJob(queue, $0, key: "nightly", maxAttempts: 1) }
        _ = try backend.enqueue(jobs)
        var running = try backend.fetch(queue: queue, limit: 10, lease: .seconds(60))
        try expectEqual(running.map(\.id), [jobs[0].id], "jobs of key 'nightly' (limit 1) fetched")
        for _ in 0..<5 { try expectEqual(try backend.fetch(queue: queue, limit: 10, lease: .seconds(60)).count, 0, "fetched while the key is full") }
        try expectEqual(try backend.cancel(queue: queue, id: jobs[2].id), .cancelled, "cancelling a waiting job")

        var order = [jobs[0].id]
        while let current = running.first {
            try expectEqual(current.attempt, 1, "attempt of \(current.id) when it ran")
            _ = try backend.settle([(current.lease, .done(retention: .seconds(60)))])
            running = try eventually(within: .seconds(15)) { () throws -> [LeasedJob]? in
                let batch = try backend.fetch(queue: queue, limit: 10, lease: .seconds(60))
                if !batch.isEmpty { return batch }
                return try backend.stats(queue: queue).ready == 0 ? [] : nil
            } ?? []
            try expect(running.count <= 1, "jobs of key 'nightly' running at once: \(running.map(\.id))")
            order += running.map(\.id)
        }
        try expectEqual(order, [jobs[0].id, jobs[1].id, jobs[3].id, jobs[4].id], "the order the key's jobs ran in")
        try expectEqual(try backend.stats(queue: queue).dead, 0, "dead jobs")
    }

    /// `overlap: skip`: a fire time whose previous run is still ready or running is claimed and recorded
    /// skipped, naming that run, in the same step, enqueuing nothing; the next fire after the run is done
    /// fires again. Without skip, a fire enqueues beside the live run.
    public static func fireSkippedWhileThePreviousRunIsLive(_ store: any JobBackend & ScheduleStore, queue: String) throws {
        // Whole seconds: every backend keeps fire times to the millisecond at least.
        let start = Date(timeIntervalSince1970: (try store.now().timeIntervalSince1970 - 60).rounded(.down))
        func at(_ second: Int) -> Date { start.addingTimeInterval(Double(second)) }
        let first = sampleJob(queue, 1)
        try expectEqual(try store.claimFire(schedule: "tick", at: at(0), job: first, overlap: .skip), .fired(first.id), "the first fire")
        try expectEqual(
            try store.claimFire(schedule: "tick", at: at(5), job: sampleJob(queue, 2), overlap: .skip), .skipped(previous: first.id),
            "a fire while the previous run is ready")
        try expectEqual(
            try store.claimFire(schedule: "tick", at: at(5), job: sampleJob(queue, 3), overlap: .skip), .notFired, "the skipped fire again")
        try expectEqual(try store.stats(queue: queue).ready, 1, "ready jobs after a skip")

        let leased = try require(try store.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "the first run was not fetched")
        try expectEqual(
            try store.claimFire(schedule: "tick", at: at(10), job: sampleJob(queue, 4), overlap: .skip), .skipped(previous: first.id),
            "a fire while the previous run is running")
        try expectEqual(try store.lastFire(schedule: "tick", queue: queue)?.fireTime, at(10), "the last fire time")

        _ = try store.settle([(leased.lease, .done(retention: .seconds(60)))])
        let next = sampleJob(queue, 5)
        try expectEqual(try store.claimFire(schedule: "tick", at: at(15), job: next, overlap: .skip), .fired(next.id), "a fire after the run was done")
        let beside = sampleJob(queue, 6)
        try expectEqual(
            try store.claimFire(schedule: "tick", at: at(20), job: beside, overlap: .allow), .fired(beside.id), "a fire that may overlap")

        let recent = try store.recentFires(schedule: "tick", queue: queue, limit: 10)
        try expectEqual(recent.map(\.fireTime), [at(20), at(15), at(10), at(5), at(0)], "recent fire times")
        try expectEqual(recent.map(\.skipped), [false, false, true, true, false], "recent fires skipped")
        try expectEqual(recent.map(\.jobID), [beside.id, next.id, first.id, first.id, first.id], "recent fires' jobs")
    }
}
