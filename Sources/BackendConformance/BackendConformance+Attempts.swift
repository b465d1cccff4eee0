import Backend
import Foundation

/// The attempt history every backend keeps with a job (``JobInfo/attempts``). Run with the owned-lease
/// scenarios (``leaseScenarios`` lists them): the history names the host and holder from the lease
/// owner id, so these need instances with owners.
extension BackendConformance {
    static let attemptScenarios: [(name: String, run: @Sendable (MakeOwnedBackend, String) throws -> Void)] = [
        ("attemptHistoryRecordsEveryOutcome", attemptHistoryRecordsEveryOutcome),
        ("attemptHistoryKeepsTheLatestRuns", attemptHistoryKeepsTheLatestRuns),
        ("attemptHistoryGoesWithTheJob", attemptHistoryGoesWithTheJob),
        ("attemptHistoryRecordsReclaims", attemptHistoryRecordsReclaims),
    ]

    /// Every way a run ends is recorded once, in order, with the attempt it was, who ran it and why it
    /// failed: a retry, a timeout, a release (its attempt given back, so the next run has the same
    /// number), a lease lost to the rescue, a crash by a signal, a death; a retry from dead keeps them
    /// all, and the run after it (done) starts again from attempt 1.
    public static func attemptHistoryRecordsEveryOutcome(_ make: MakeOwnedBackend, queue: String) throws {
        let hostA = make("host-a#i1/worker-7")
        let hostB = make("host-b#i2/host")
        let job = NewJob(
            queue: queue, handler: "conformance.echo", payload: Data(#"{"n":1}"#.utf8), maxAttempts: 5, uniqueKey: "attempts-\(queue)")
        _ = try hostA.enqueue([job])
        let before = Date()

        func run(_ backend: any JobBackend, lease: Duration = .seconds(60)) throws -> LeasedJob {
            try require(try backend.fetch(queue: queue, limit: 1, lease: lease).first, "the job was not fetched")
        }
        func settle(_ leased: LeasedJob, _ settlement: Settlement, _ backend: any JobBackend) throws {
            try expectEqual(try backend.settle([(leased.lease, settlement)]), [true], "settle \(settlement)")
        }

        try settle(try run(hostA), .retry(after: .zero, error: "upstream said 503"), hostA)
        try settle(try run(hostB), .ended(.retry(after: .zero, error: "timeout: the handler did not stop"), .timeout), hostB)
        try settle(try run(hostA), .release, hostA)
        _ = try run(hostB, lease: .milliseconds(200))
        let rescued = try eventually(within: .seconds(30)) { () throws -> Int? in
            let rescued = try hostA.rescueExpired(queue: queue, limit: 10).rescued
            return rescued > 0 ? rescued : nil
        }
        try expectEqual(rescued, 1, "jobs rescued after their lease expired")
        try settle(try run(hostA), .ended(.crashed(retryAfter: .zero, error: "worker crashed: SIGSEGV"), .crash(signal: "SIGSEGV")), hostA)
        try settle(try run(hostB), .dead(error: "discarded: bad input"), hostB)

        let dead = try require(try hostA.job(queue: queue, id: job.id), "the dead job is gone")
        try expectEqual(dead.state, .dead, "state after the last attempt")
        try expectEqual(dead.uniqueKey, job.uniqueKey, "unique key of the job")
        try expectEqual(try hostA.retryDead(queue: queue, id: job.id), true, "retry from dead")
        try settle(try run(hostA), .done(retention: .seconds(3600)), hostA)
        let after = Date()

        let info = try require(try hostB.job(queue: queue, id: job.id), "the done job is gone")
        let attempts = info.attempts
        try expectEqual(
            attempts.map(\.outcomeText), ["retry", "timeout", "released", "lease_lost", "crashed (SIGSEGV)", "dead", "done"],
            "outcomes in order")
        try expectEqual(attempts.map(\.number), [1, 2, 3, 3, 4, 5, 1], "attempt numbers")
        try expectEqual(attempts.map(\.host), ["host-a", "host-b", "host-a", "host-b", "host-a", "host-b", "host-a"], "hosts")
        try expectEqual(
            attempts.map(\.worker), ["worker-7", "host", "worker-7", "host", "worker-7", "host", "worker-7"], "workers")
        try expect(attempts.allSatisfy { $0.leaseOwner?.hasPrefix($0.host == "host-a" ? "host-a#i1/worker-7/" : "host-b#i2/host/") == true },
            "lease owners: \(attempts.map { $0.leaseOwner ?? "nil" })")
        try expectEqual(attempts[4].signal, "SIGSEGV", "signal of the crash")
        try expectEqual(
            attempts.map(\.error),
            [
                "upstream said 503", "timeout: the handler did not stop", nil,
                "lease expired during attempt 3 of 5 (the host running it died or stalled)", "worker crashed: SIGSEGV",
                "discarded: bad input", nil,
            ], "errors")
        // The backend's clock may differ from this one a little: a minute's slack.
        for (index, attempt) in attempts.enumerated() {
            try expect(attempt.startedAt <= attempt.endedAt, "attempt \(index) ends before it starts: \(attempt)")
            try expect(
                attempt.startedAt > before.addingTimeInterval(-60) && attempt.endedAt < after.addingTimeInterval(60),
                "attempt \(index) lies outside the scenario: \(attempt)")
            try expect(attempt.runSeconds >= 0 && attempt.runSeconds < 120, "run time of attempt \(index): \(attempt.runSeconds)")
            if index > 0 {
                try expect(attempts[index - 1].endedAt <= attempt.startedAt.addingTimeInterval(0.001), "attempt \(index) starts before the one before ends")
            }
        }
        // The lost lease ran for its whole lease at least.
        try expect(attempts[3].runSeconds >= 0.19, "the lost lease's run time, \(attempts[3].runSeconds) s, is shorter than its lease")
    }

    /// A job keeps its last ``JobAttempt/limit`` runs, the oldest dropped first; a run keeps at most
    /// ``JobAttempt/errorLimit`` characters of its error, cut between characters.
    public static func attemptHistoryKeepsTheLatestRuns(_ make: MakeOwnedBackend, queue: String) throws {
        let backend = make("host-c#i3/host")
        let runs = JobAttempt.limit + 5
        let job = sampleJob(queue, maxAttempts: runs + 1)
        _ = try backend.enqueue([job])
        let long = String(repeating: "é", count: JobAttempt.errorLimit + 500)
        for number in 1...runs {
            let leased = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "run \(number) was not fetched")
            let error = number == runs ? long : "failure \(number)"
            try expectEqual(try backend.settle([(leased.lease, .retry(after: .zero, error: error))]), [true], "settle run \(number)")
        }
        let info = try require(try backend.job(queue: queue, id: job.id), "the job is gone")
        try expectEqual(info.attempts.count, JobAttempt.limit, "runs kept")
        try expectEqual(info.attempts.map(\.number), Array((runs - JobAttempt.limit + 1)...runs), "attempt numbers kept")
        try expectEqual(info.attempts.first?.error, "failure \(runs - JobAttempt.limit + 1)", "error of the oldest run kept")
        try expectEqual(info.attempts.last?.error, String(long.prefix(JobAttempt.errorLimit)), "a long error, cut")
        try expectEqual(info.lastError, long, "lastError keeps the whole error")
    }

    /// The history goes with the job: a job discarded from dead, or pruned once done, and enqueued
    /// again under the same id starts with none.
    public static func attemptHistoryGoesWithTheJob(_ make: MakeOwnedBackend, queue: String) throws {
        let backend = make("host-d#i4/host")
        let discarded = sampleJob(queue, 1, maxAttempts: 1)
        let pruned = sampleJob(queue, 2, maxAttempts: 1)
        _ = try backend.enqueue([discarded, pruned])
        let leased = try fetchAll(backend, queue)
        try expectEqual(leased.map(\.id), [discarded.id, pruned.id], "fetched ids")
        try expectEqual(
            try backend.settle([(leased[0].lease, .dead(error: "no")), (leased[1].lease, .done(retention: .seconds(3600)))]), [true, true],
            "settle")
        try expectEqual(try backend.job(queue: queue, id: discarded.id)?.attempts.count, 1, "runs of the dead job")
        try expectEqual(try backend.job(queue: queue, id: pruned.id)?.attempts.count, 1, "runs of the done job")
        try expectEqual(try backend.discardDead(queue: queue, id: discarded.id), true, "discard")
        let gone = try eventually(within: .seconds(30)) { () throws -> Bool? in
            // Prune compares with the backend's clock, strictly before now − retention.
            try backend.prune(queue: queue, retention: .zero, limit: 10) > 0 ? true : nil
        }
        try expectEqual(gone, true, "the done job pruned")
        _ = try backend.enqueue([discarded, pruned])
        for id in [discarded.id, pruned.id] {
            let info = try require(try backend.job(queue: queue, id: id), "job \(id) enqueued again is missing")
            try expectEqual(info.attempts, [], "runs of job \(id) enqueued again")
        }
    }

    /// Jobs taken back from a holder that is gone are runs too: `released` when reclaimed as never
    /// started (the attempt given back), `lease_lost` when reclaimed as possibly run (as the rescue).
    public static func attemptHistoryRecordsReclaims(_ make: MakeOwnedBackend, queue: String) throws {
        let first = make("host-e#i5/worker-1")
        let second = make("host-e#i6/worker-2")
        let job = sampleJob(queue, maxAttempts: 3)
        _ = try first.enqueue([job])
        try expectEqual(try first.fetch(queue: queue, limit: 1, lease: .seconds(60)).map(\.id), [job.id], "first fetch")
        try expectEqual(try first.reclaim(queue: queue, leasedBy: "host-e#i5/", .release).ready, 1, "released by reclaim")
        try expectEqual(try second.fetch(queue: queue, limit: 1, lease: .seconds(60)).map(\.id), [job.id], "second fetch")
        try expectEqual(try second.reclaim(queue: queue, leasedBy: "host-e#i6/", .rescue).ready, 1, "rescued by reclaim")
        let attempts = try require(try first.job(queue: queue, id: job.id), "the job is gone").attempts
        try expectEqual(attempts.map(\.outcome), [.released, .leaseLost], "outcomes")
        try expectEqual(attempts.map(\.number), [1, 1], "attempt numbers (a release gives the attempt back)")
        try expectEqual(attempts.map(\.worker), ["worker-1", "worker-2"], "workers")
        try expectEqual(
            attempts.map(\.error), [nil, "lease expired during attempt 1 of 3 (the host running it died or stalled)"], "errors")
    }
}
