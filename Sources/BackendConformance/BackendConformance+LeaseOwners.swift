import Backend
import Foundation

/// Owned leases (every ``LeaseReclaimer``) and the host-name registry (every ``HostRegistry``).
extension BackendConformance {
    /// Makes a backend instance on the store under test whose fetches record the given lease owner;
    /// every instance it makes shares the store (jobs fetched by one are seen by the others).
    public typealias MakeOwnedBackend = @Sendable (_ leaseOwner: String) -> any JobBackend & LeaseReclaimer

    /// The scenarios every ``LeaseReclaimer`` must pass. Each takes a maker of backend instances (one
    /// per lease owner) and a queue name nobody else uses.
    public static let leaseScenarios: [(name: String, run: @Sendable (MakeOwnedBackend, String) throws -> Void)] = [
        ("leaseOwnerRecordedPerFetchCall", leaseOwnerRecordedPerFetchCall),
        ("reclaimTakesBackOnlyThatHoldersRunningJobs", reclaimTakesBackOnlyThatHoldersRunningJobs),
        ("reclaimRescueCountsTheAttempt", reclaimRescueCountsTheAttempt),
        ("reclaimReleaseGivesTheAttemptBack", reclaimReleaseGivesTheAttemptBack),
        ("reclaimedLeaseIsFenced", reclaimedLeaseIsFenced),
        ("reclaimLeavesAJobFetchedAgainByAnotherOwner", reclaimLeavesAJobFetchedAgainByAnotherOwner),
    ] + attemptScenarios + concurrencyScenarios

    /// The scenarios every ``HostRegistry`` must pass. Each takes the registry and a name nobody else
    /// uses, to build host names from.
    public static let hostRegistryScenarios: [(name: String, run: @Sendable (any HostRegistry, String) throws -> Void)] = [
        ("hostNameClaimedWhenFreeAndByItsOwnInstance", hostNameClaimedWhenFreeAndByItsOwnInstance),
        ("hostNameRefusedWhileFreshGrantedOnceStale", hostNameRefusedWhileFreshGrantedOnceStale),
        ("hostNameReplacedAndReleasedOnlyByItsHolder", hostNameReplacedAndReleasedOnlyByItsHolder),
        ("hostRecordsListEveryName", hostRecordsListEveryName),
    ]

    // MARK: - Owned leases

    /// Each fetch call of an instance records its own owner id, `<leaseOwner>/<n>` with n = 1, 2, … per
    /// call: reclaiming one call's owner id takes back that call's jobs and no others.
    public static func leaseOwnerRecordedPerFetchCall(_ make: MakeOwnedBackend, queue: String) throws {
        let backend = make("hostA#1/w1")
        let jobs = (0..<3).map { sampleJob(queue, $0) }
        _ = try backend.enqueue(jobs)
        let first = try backend.fetch(queue: queue, limit: 1, lease: .seconds(60))
        let second = try backend.fetch(queue: queue, limit: 2, lease: .seconds(60))
        try expectEqual(first.map(\.id) + second.map(\.id), jobs.map(\.id), "fetched ids")

        try expect(try backend.reclaim(queue: queue, leasedBy: "hostA#1/w1/3", .release) == (0, 0), "a reclaim of a fetch call not made yet took jobs")
        try expect(try backend.reclaim(queue: queue, leasedBy: "hostA#1/w2", .release) == (0, 0), "a reclaim of another holder took jobs")
        let secondBack = try backend.reclaim(queue: queue, leasedBy: "hostA#1/w1/2", .release)
        try expect(secondBack == (2, 0), "reclaim of the second fetch call: expected (2, 0), got \(secondBack)")
        try expectEqual(try backend.job(queue: queue, id: jobs[0].id)?.state, .running, "the first call's job")
        try expectEqual(try backend.job(queue: queue, id: jobs[1].id)?.state, .ready, "a second call's job")
        try expectEqual(try backend.job(queue: queue, id: jobs[2].id)?.state, .ready, "a second call's job")
        let firstBack = try backend.reclaim(queue: queue, leasedBy: "hostA#1/w1/1", .release)
        try expect(firstBack == (1, 0), "reclaim of the first fetch call: expected (1, 0), got \(firstBack)")
        try expectEqual(try backend.stats(queue: queue).running, 0, "running after both reclaims")
    }

    /// A host's prefix takes back exactly that host's running jobs, of every holder in it: another
    /// host's running jobs (one whose name merely starts alike, too), a settled job, and jobs of
    /// another queue stay as they are. The prefix is plain text, not a pattern.
    public static func reclaimTakesBackOnlyThatHoldersRunningJobs(_ make: MakeOwnedBackend, queue: String) throws {
        let worker1 = make("hostA#1/w1")
        let worker2 = make("hostA#1/w2")
        let otherHost = make("hostB#1/w1")
        let alike = make("hostA#10/w1")
        let patternBait = make("hostX#1/w1")
        let other = queue + "-other"
        let jobs = (0..<6).map { sampleJob(queue, $0) }
        _ = try worker1.enqueue(jobs + [sampleJob(other, 9)])

        let held1 = try worker1.fetch(queue: queue, limit: 2, lease: .seconds(60))
        let held2 = try worker2.fetch(queue: queue, limit: 1, lease: .seconds(60))
        let heldB = try otherHost.fetch(queue: queue, limit: 1, lease: .seconds(60))
        let heldAlike = try alike.fetch(queue: queue, limit: 1, lease: .seconds(60))
        let heldBait = try patternBait.fetch(queue: queue, limit: 1, lease: .seconds(60))
        let heldOther = try worker1.fetch(queue: other, limit: 1, lease: .seconds(60))
        try expectEqual([held1.count, held2.count, heldB.count, heldAlike.count, heldBait.count, heldOther.count], [2, 1, 1, 1, 1, 1], "fetched")
        try expectEqual(try worker1.settle([(held1[0].lease, .done(retention: .seconds(60)))]), [true], "settling one job")

        // As LIKE patterns these would take host X's job (or everyone's).
        for pattern in ["host_#1/", "host%", "%"] {
            try expect(try worker1.reclaim(queue: queue, leasedBy: pattern, .release) == (0, 0), "reclaim by \"\(pattern)\" matched as a pattern")
        }
        let result = try worker1.reclaim(queue: queue, leasedBy: "hostA#1/", .release)
        try expect(result == (2, 0), "reclaim of host A: expected (2, 0), got \(result)")

        try expectEqual(try worker1.job(queue: queue, id: held1[0].id)?.state, .done, "the settled job")
        for job in [held1[1], held2[0]] {
            try expectEqual(try worker1.job(queue: queue, id: job.id)?.state, .ready, "a job of host A")
        }
        for job in [heldB[0], heldAlike[0], heldBait[0]] {
            try expectEqual(try worker1.job(queue: queue, id: job.id)?.state, .running, "a job of another host")
        }
        try expectEqual(try worker1.job(queue: other, id: heldOther[0].id)?.state, .running, "host A's job of another queue")
        let stats = try worker1.stats(queue: queue)
        try expectEqual(stats.running, 3, "running")
        try expectEqual(stats.ready, 2, "ready")
        try expectEqual(try worker1.reclaim(queue: queue, leasedBy: "hostA#1/", .release).ready, 0, "a second reclaim of host A")
        try expectEqual(try worker1.settle([(heldB[0].lease, .done(retention: .zero))]), [true], "settling host B's job")
    }

    /// `.rescue` is what an expired lease gets: the attempt stays counted and is counted as failed, the
    /// last error names the lease, and a job on its last attempt goes dead.
    public static func reclaimRescueCountsTheAttempt(_ make: MakeOwnedBackend, queue: String) throws {
        let backend = make("hostA#1/w1")
        let again = sampleJob(queue, 1, maxAttempts: 3)
        let last = sampleJob(queue, 2, maxAttempts: 1, uniqueKey: "last")
        _ = try backend.enqueue([again, last])
        try expectEqual(try backend.fetch(queue: queue, limit: 2, lease: .seconds(60)).count, 2, "fetched")

        let result = try backend.reclaim(queue: queue, leasedBy: "hostA#1/", .rescue)
        try expect(result == (1, 1), "reclaim with rescue: expected (1, 1), got \(result)")
        let ready = try require(try backend.job(queue: queue, id: again.id), "the job with attempts left is gone")
        try expectEqual(ready.state, .ready, "state of the job with attempts left")
        try expectEqual(ready.attempt, 1, "attempt of the job with attempts left")
        try expect(ready.lastError?.contains("lease") == true, "its error should name the lease: \(ready.lastError ?? "nil")")
        let dead = try require(try backend.job(queue: queue, id: last.id), "the job on its last attempt is gone")
        try expectEqual(dead.state, .dead, "state of the job on its last attempt")
        try expect(dead.lastError?.contains("lease") == true, "its error should name the lease: \(dead.lastError ?? "nil")")
        let stats = try backend.stats(queue: queue)
        try expectEqual(stats.failed, 2, "failed attempts counted")
        try expectEqual(stats.dead, 1, "dead")
        try expectEqual(stats.running, 0, "running")
        // The dead job freed its unique key.
        let replacement = sampleJob(queue, 3, uniqueKey: "last")
        try expectEqual(try backend.enqueue([replacement]), [replacement.id], "a job with the dead job's unique key")
        let refetched = try backend.fetch(queue: queue, limit: 1, lease: .seconds(60))
        try expectEqual(refetched.map(\.id), [again.id], "the rescued job, first in line")
        try expectEqual(refetched.first?.attempt, 2, "attempt of the rescued job's next run")
    }

    /// `.release` is what a release settlement does: ready at the front of the line, the attempt not
    /// counted (a job on its last attempt runs again), nothing counted as failed, the unique key kept.
    public static func reclaimReleaseGivesTheAttemptBack(_ make: MakeOwnedBackend, queue: String) throws {
        let backend = make("hostA#1/w1")
        let job = sampleJob(queue, 1, maxAttempts: 1, uniqueKey: "once")
        let behind = sampleJob(queue, 2)
        _ = try backend.enqueue([job])
        try expectEqual(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).map(\.id), [job.id], "fetched")
        _ = try backend.enqueue([behind])

        let result = try backend.reclaim(queue: queue, leasedBy: "hostA#1/w1", .release)
        try expect(result == (1, 0), "reclaim with release: expected (1, 0), got \(result)")
        let info = try require(try backend.job(queue: queue, id: job.id), "the job is gone")
        try expectEqual(info.state, .ready, "state")
        try expectEqual(info.attempt, 0, "attempt after a release")
        let stats = try backend.stats(queue: queue)
        try expectEqual(stats.failed, 0, "failed attempts counted")
        try expectEqual(stats.ready, 2, "ready")
        try expectEqual(try backend.enqueue([sampleJob(queue, 3, uniqueKey: "once")]), [job.id], "enqueueing the released job's unique key")
        let refetched = try backend.fetch(queue: queue, limit: 1, lease: .seconds(60))
        try expectEqual(refetched.map(\.id), [job.id], "the released job, first in line")
        try expectEqual(refetched.first?.attempt, 1, "attempt of its next run")
    }

    /// A job taken back no longer answers to the lease it had: neither settling nor extending with the
    /// old token does anything, in either mode, and the next fetch's token works.
    public static func reclaimedLeaseIsFenced(_ make: MakeOwnedBackend, queue: String) throws {
        let backend = make("hostA#1/w1")
        let job = sampleJob(queue, 1, maxAttempts: 5)
        _ = try backend.enqueue([job])
        for mode in [ReclaimMode.release, .rescue] {
            let leased = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "no job fetched")
            try expect(try backend.reclaim(queue: queue, leasedBy: "hostA#1/", mode) == (1, 0), "reclaim (\(mode)) took nothing")
            try expectEqual(try backend.extend([leased.lease], by: .seconds(60)), [false], "extending a reclaimed lease (\(mode))")
            try expectEqual(
                try backend.settle([(leased.lease, .done(retention: .seconds(60)))]), [false], "settling a reclaimed lease (\(mode))")
            try expectEqual(try backend.job(queue: queue, id: job.id)?.state, .ready, "state after the stale settlement (\(mode))")
        }
        let current = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "no job fetched")
        try expectEqual(try backend.settle([(current.lease, .done(retention: .seconds(60)))]), [true], "settling the current lease")
    }

    /// A job whose lease expired, was rescued and fetched again by another owner belongs to that owner:
    /// reclaiming the first owner does nothing to it.
    public static func reclaimLeavesAJobFetchedAgainByAnotherOwner(_ make: MakeOwnedBackend, queue: String) throws {
        let gone = make("hostA#1/w1")
        let successor = make("hostB#1/w1")
        let job = sampleJob(queue, 1, maxAttempts: 5)
        _ = try gone.enqueue([job])
        try expectEqual(try gone.fetch(queue: queue, limit: 1, lease: .milliseconds(100)).count, 1, "fetched by the first owner")
        let rescued = try eventually(within: .seconds(10)) { () throws -> Int? in
            let result = try successor.rescueExpired(queue: queue, limit: 10)
            return result.rescued > 0 ? result.rescued : nil
        }
        try expectEqual(rescued, 1, "rescued after the lease expired")
        let leased = try require(try successor.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "not fetched by the second owner")

        for mode in [ReclaimMode.rescue, .release] {
            let result = try gone.reclaim(queue: queue, leasedBy: "hostA#1/", mode)
            try expect(result == (0, 0), "reclaim (\(mode)) of the first owner: expected (0, 0), got \(result)")
        }
        let info = try require(try gone.job(queue: queue, id: job.id), "the job is gone")
        try expectEqual(info.state, .running, "state")
        try expectEqual(info.attempt, 2, "attempt")
        try expectEqual(try successor.settle([(leased.lease, .done(retention: .seconds(60)))]), [true], "the second owner settling it")
    }

    // MARK: - Host names

    static func hostRecord(_ name: String, instance: String, pid: Int32 = 4242) -> HostRecord {
        HostRecord(name: name, instance: instance, bootID: "boot-\(instance)", machine: "machine-\(instance)", pid: pid, processStart: 987_654_321)
    }

    /// A free name is claimed, with no previous record; the same instance claims it again (a retried
    /// start) and refreshes it, and sees its own record, stamped by the backend, as the previous one.
    public static func hostNameClaimedWhenFreeAndByItsOwnInstance(_ registry: any HostRegistry, name base: String) throws {
        let name = "host-\(base)"
        let first = hostRecord(name, instance: "i1", pid: 100)
        let before = Date()
        let claim = try registry.claimHostName(first, staleAfter: .seconds(60), replacing: nil)
        try expect(claim.claimed, "claiming a free name was refused")
        try expectEqual(claim.previous, nil, "the previous record of a free name")
        try expect(try registry.refreshHostName(name, instance: "i1"), "refreshing the name by its holder said another holds it")

        let again = try registry.claimHostName(first, staleAfter: .seconds(60), replacing: nil)
        try expect(again.claimed, "claiming the name again by its own instance was refused")
        let previous = try require(again.previous, "no previous record when the instance claims its name again")
        var expected = first
        expected.seenAt = previous.seenAt
        expected.startedAt = previous.startedAt
        try expectEqual(previous, expected, "the previous record")
        let seenAt = try require(previous.seenAt, "the previous record has no seenAt")
        try expect(abs(seenAt.timeIntervalSince(before)) < 60, "seenAt \(seenAt) is far from the time of the claim, \(before)")
        try expect(!(try registry.refreshHostName(name, instance: "other")), "refreshing by an instance that does not hold the name")
        try expect(
            try registry.claimHostName(hostRecord("host-other-\(base)", instance: "i9"), staleAfter: .seconds(60), replacing: nil).claimed,
            "another name is claimed independently")
    }

    /// A second instance is refused while the holder's record is fresh (and told whose it is), and gets
    /// the name once the record is older than `staleAfter` by the backend's clock; the old holder's
    /// refresh then says it lost the name.
    public static func hostNameRefusedWhileFreshGrantedOnceStale(_ registry: any HostRegistry, name base: String) throws {
        let name = "host-\(base)"
        let holder = hostRecord(name, instance: "old", pid: 100)
        let successor = hostRecord(name, instance: "new", pid: 200)
        let start = ContinuousClock.now
        try expect(try registry.claimHostName(holder, staleAfter: .seconds(60), replacing: nil).claimed, "claiming a free name was refused")

        let refused = try registry.claimHostName(successor, staleAfter: .seconds(60), replacing: nil)
        try expect(!refused.claimed, "a second instance got a name whose record is fresh")
        let previous = try require(refused.previous, "a refused claim should name the holder")
        try expectEqual(previous.instance, "old", "the holder named")
        try expectEqual(previous.pid, 100, "the holder's pid")
        try expectEqual(previous.bootID, holder.bootID, "the holder's boot id")
        try expectEqual(previous.processStart, holder.processStart, "the holder's process start")
        try expect(try registry.refreshHostName(name, instance: "old"), "the holder lost the name to a refused claim")

        let staleAfter = Duration.milliseconds(300)
        let granted = try eventually(within: .seconds(15), every: .milliseconds(50)) { () throws -> HostRecord?? in
            let claim = try registry.claimHostName(successor, staleAfter: staleAfter, replacing: nil)
            return claim.claimed ? .some(claim.previous) : nil
        }
        let elapsed = ContinuousClock.now - start
        let taken = try require(granted, "the name was not granted within 15 s of its record going stale")
        try expect(elapsed >= staleAfter, "the name was granted \(elapsed.millisecondsText) after the holder's claim, before it was stale")
        try expectEqual(taken?.instance, "old", "the record replaced")
        try expect(!(try registry.refreshHostName(name, instance: "old")), "the old holder's refresh after the takeover")
        try expect(try registry.refreshHostName(name, instance: "new"), "the new holder's refresh")
        let back = try registry.claimHostName(holder, staleAfter: .seconds(60), replacing: nil)
        try expect(!back.claimed, "the old holder got the name back while the new record is fresh")
        try expectEqual(back.previous?.instance, "new", "the holder named to the old one")
    }

    /// Replacing takes a fresh name only from the instance named (compare and swap); releasing removes
    /// the record only for its holder.
    public static func hostNameReplacedAndReleasedOnlyByItsHolder(_ registry: any HostRegistry, name base: String) throws {
        let name = "host-\(base)"
        let first = hostRecord(name, instance: "first")
        let second = hostRecord(name, instance: "second")
        let third = hostRecord(name, instance: "third")
        try expect(try registry.claimHostName(first, staleAfter: .seconds(60), replacing: nil).claimed, "claiming a free name was refused")
        let notThatOne = try registry.claimHostName(second, staleAfter: .seconds(60), replacing: "someone else")
        try expect(!notThatOne.claimed, "a claim replacing another instance than the holder overwrote it")
        try expectEqual(notThatOne.previous?.instance, "first", "the holder kept")
        let replaced = try registry.claimHostName(second, staleAfter: .seconds(60), replacing: "first")
        try expect(replaced.claimed, "a claim replacing the holder was refused")
        try expectEqual(replaced.previous?.instance, "first", "the record replaced")
        try expect(!(try registry.refreshHostName(name, instance: "first")), "the replaced holder's refresh")

        try registry.releaseHostName(name, instance: "first")
        let stillHeld = try registry.claimHostName(third, staleAfter: .seconds(60), replacing: nil)
        try expect(!stillHeld.claimed, "a release by a former holder removed the record")
        try expectEqual(stillHeld.previous?.instance, "second", "the holder after a release by a former holder")

        try registry.releaseHostName(name, instance: "second")
        let free = try registry.claimHostName(third, staleAfter: .seconds(60), replacing: nil)
        try expect(free.claimed, "claiming a released name was refused")
        try expectEqual(free.previous, nil, "the previous record of a released name")
        try registry.releaseHostName(name, instance: "third")
        try registry.releaseHostName(name, instance: "third")
        try expect(!(try registry.refreshHostName(name, instance: "third")), "refreshing a released name")
    }
}
