import Backend
import Foundation

/// The scenarios every ``JobBackend`` must pass, whatever stores its jobs.
///
/// Each scenario takes a backend and the name of a queue nobody else uses, empty at the start, and
/// throws ``ConformanceFailure`` when the backend misbehaves (or the backend's own error when a call
/// fails). Scenarios block: run them on a thread of their own, not Swift's cooperative pool. Some wait
/// for leases and delays of a few hundred milliseconds; they poll with generous limits, so a slow
/// machine makes them slower rather than flaky. The waiting scenarios check that
/// ``JobBackend/waitForWork(queue:timeout:)`` wakes for the event it waits for, not at its timeout.
public enum BackendConformance {
    /// Every scenario with its name, for a test that runs them all (one test per name).
    public static let allScenarios: [(name: String, run: @Sendable (any JobBackend, String) throws -> Void)] = [
        ("enqueueThenFetch", enqueueThenFetch),
        ("fifoOrder", fifoOrder),
        ("concurrentFetchersGetEachJobOnce", concurrentFetchersGetEachJobOnce),
        ("delayedJobWaitsForItsTime", delayedJobWaitsForItsTime),
        ("settleDone", settleDone),
        ("doneJobKeepsItsResult", doneJobKeepsItsResult),
        ("progressOfARunningJobIsShown", progressOfARunningJobIsShown),
        ("settleRetry", settleRetry),
        ("settleDeadThenRetryAndDiscard", settleDeadThenRetryAndDiscard),
        ("settleRelease", settleRelease),
        ("crashedSettlementCountsCrashes", crashedSettlementCountsCrashes),
        ("staleLeaseIsFenced", staleLeaseIsFenced),
        ("extendKeepsJobFromRescue", extendKeepsJobFromRescue),
        ("rescueWithAttemptsUsedUpGoesDead", rescueWithAttemptsUsedUpGoesDead),
        ("pruneRemovesOnlyOldDoneJobs", pruneRemovesOnlyOldDoneJobs),
        ("statsCounts", statsCounts),
        ("uniqueKey", uniqueKey),
        ("listPagesNewestFirst", listPagesNewestFirst),
        ("jobFoundInEveryState", jobFoundInEveryState),
        ("waitForWorkWakesOnEnqueue", waitForWorkWakesOnEnqueue),
        ("waitForWorkWaitsWhenIdle", waitForWorkWaitsWhenIdle),
        ("waitForWorkWakesWhenScheduledJobIsDue", waitForWorkWakesWhenScheduledJobIsDue),
        ("enqueueManyAtOnce", enqueueManyAtOnce),
        ("invalidJobsAreRejected", invalidJobsAreRejected),
    ] + pauseScenarios + pendingScenarios + retentionScenarios

    /// A job comes back from fetch exactly as enqueued, on its first attempt, leased once; payloads are
    /// bytes, kept exactly, large ones too.
    public static func enqueueThenFetch(_ backend: any JobBackend, queue: String) throws {
        let payload = Data(#"{"greeting":"héllo ✓","escaped":"a\u0000b","list":[1,2.5,null]}"#.utf8)
        let job = NewJob(queue: queue, handler: "conformance.echo", payload: payload, maxAttempts: 4, timeout: .seconds(7))
        let large = NewJob(
            queue: queue, handler: "conformance.large", payload: Data(("[\"" + String(repeating: "x", count: 300_000) + "\"]").utf8),
            maxAttempts: 1)
        let before = Date()
        try expectEqual(try backend.enqueue([job, large]), [job.id, large.id], "ids returned by enqueue")

        let fetched = try backend.fetch(queue: queue, limit: 10, lease: .seconds(30))
        try expectEqual(fetched.map(\.id), [job.id, large.id], "fetched ids")
        let first = fetched[0]
        try expectEqual(first.queue, queue, "queue")
        try expectEqual(first.handler, "conformance.echo", "handler")
        try expectEqual(first.payload, payload, "payload bytes")
        try expectEqual(first.attempt, 1, "attempt of a first fetch")
        try expectEqual(first.maxAttempts, 4, "maxAttempts")
        try expectEqual(first.timeout, .seconds(7), "timeout")
        try expectEqual(first.lastError, nil, "lastError of a new job")
        try expect(
            abs(first.enqueuedAt.timeIntervalSince(before)) < 60,
            "enqueuedAt \(first.enqueuedAt) is far from the time of the enqueue, \(before)")
        try expectEqual(fetched[1].payload, large.payload, "a 300 kB payload")
        try expectEqual(fetched[1].timeout, nil, "timeout of a job without one")
        try expectEqual(try backend.fetch(queue: queue, limit: 10, lease: .seconds(30)).count, 0, "jobs fetched again while leased")
    }

    /// Jobs come out in the order they went in, across enqueue calls and fetch batches.
    public static func fifoOrder(_ backend: any JobBackend, queue: String) throws {
        var expected: [String] = []
        for batch in 0..<5 {
            let jobs = (0..<(batch + 1)).map { sampleJob(queue, batch * 10 + $0) }
            expected += try backend.enqueue(jobs)
        }
        var fetched: [String] = []
        while true {
            let batch = try backend.fetch(queue: queue, limit: 4, lease: .seconds(60))
            try expect(batch.count <= 4, "fetch with limit 4 returned \(batch.count) jobs")
            if batch.isEmpty { break }
            fetched += batch.map(\.id)
        }
        try expectEqual(fetched, expected, "order of fetched ids")
    }

    /// With four threads fetching 8,000 jobs at once, no fetch exceeds its limit and every job is
    /// fetched exactly once.
    public static func concurrentFetchersGetEachJobOnce(_ backend: any JobBackend, queue: String) throws {
        let threads = 4
        let perThread = 2_000
        var enqueued: Set<String> = []
        for batch in 0..<(threads * perThread / 1_000) {
            enqueued.formUnion(try backend.enqueue((0..<1_000).map { sampleJob(queue, batch * 1_000 + $0) }))
        }
        try expectEqual(enqueued.count, threads * perThread, "distinct ids enqueued")

        let limit = 13
        let perFetcher = try onThreads(threads) { _ in
            var ids: [String] = []
            var largest = 0
            while true {
                let batch = try backend.fetch(queue: queue, limit: limit, lease: .seconds(120))
                if batch.isEmpty { return (ids, largest) }
                largest = max(largest, batch.count)
                ids += batch.map(\.id)
            }
        }
        for (_, largest) in perFetcher {
            try expect(largest <= limit, "a fetch with limit \(limit) returned \(largest) jobs")
        }
        let all = perFetcher.flatMap(\.0)
        try expectEqual(all.count, enqueued.count, "jobs fetched in total")
        try expectEqual(Set(all), enqueued, "the set of fetched ids")
    }

    /// A delayed job is not fetched before its time, and is fetched once it is due. Every fetch that
    /// returns it is checked against the clock, so a slow machine makes the scenario check less, never fail.
    public static func delayedJobWaitsForItsTime(_ backend: any JobBackend, queue: String) throws {
        let delay = Duration.seconds(2)
        let start = ContinuousClock.now
        let delayed = sampleJob(queue, 1, delay: delay)
        let now = sampleJob(queue, 2)
        _ = try backend.enqueue([delayed, now])
        func fetch() throws -> [LeasedJob] {
            let batch = try backend.fetch(queue: queue, limit: 10, lease: .seconds(60))
            if batch.contains(where: { $0.id == delayed.id }) {
                let elapsed = ContinuousClock.now - start
                try expect(elapsed >= delay, "the job delayed by \(delay.millisecondsText) was fetched after \(elapsed.millisecondsText)")
            }
            return batch
        }
        let first = try fetch()
        try expect(first.contains { $0.id == now.id }, "the job without a delay was not fetched at once")
        var job = first.first { $0.id == delayed.id }
        if job == nil {
            try expectEqual(try backend.job(queue: queue, id: delayed.id)?.state, .scheduled, "state of the delayed job")
            job = try eventually(within: .seconds(10)) { () throws -> LeasedJob? in try fetch().first }
        }
        let fetched = try require(job, "the delayed job was not fetched within 10 s of its time")
        try expectEqual(fetched.id, delayed.id, "the delayed job")
        try expectEqual(fetched.attempt, 1, "attempt of a delayed job's first run")
    }

    /// Done: counted as processed, kept as done, and the lease is spent.
    public static func settleDone(_ backend: any JobBackend, queue: String) throws {
        let job = sampleJob(queue)
        _ = try backend.enqueue([job])
        let leased = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "no job fetched")
        try expectEqual(try backend.settle([(leased.lease, .done(retention: .seconds(3600)))]), [true], "settle done")

        let stats = try backend.stats(queue: queue)
        try expectEqual(stats.processed, 1, "processed")
        try expectEqual(stats.done, 1, "done")
        try expectEqual(stats.running, 0, "running")
        try expectEqual(stats.failed, 0, "failed")
        let info = try require(try backend.job(queue: queue, id: job.id), "the done job is gone")
        try expectEqual(info.state, .done, "state")
        try expect(info.updatedAt != nil, "a done job has no updatedAt")
        try expectEqual(try backend.settle([(leased.lease, .done(retention: .seconds(3600)))]), [false], "settling twice")
        try expectEqual(try backend.stats(queue: queue).processed, 1, "processed after settling twice")
    }

    /// A job done with a result keeps it, exactly as set, in the listing and the look-up; a job done
    /// without one, and one retried, have none; a result set on a settlement that lost its lease is not
    /// written.
    public static func doneJobKeepsItsResult(_ backend: any JobBackend, queue: String) throws {
        let jobs = (0..<3).map { sampleJob(queue, $0, maxAttempts: 3) }
        _ = try backend.enqueue(jobs)
        let leased = try fetchAll(backend, queue, limit: 10)
        try expectEqual(leased.map(\.id), jobs.map(\.id), "fetched")
        let result = #"{"rows": 3, "note": "héllo ✓", "list": [1, 2.5, null]}"#
        let answers = try backend.settle([
            (leased[0].lease, .done(retention: .seconds(3600), result: result)),
            (leased[1].lease, .done(retention: .seconds(3600))),
            (leased[2].lease, .retry(after: .seconds(3600), error: "later")),
            (leased[0].lease, .done(retention: .seconds(3600), result: #"{"rows": 99}"#)),
        ])
        try expectEqual(answers, [true, true, true, false], "settle answers")
        try expectEqual(try backend.job(queue: queue, id: jobs[0].id)?.result, result, "the result of a job done with one")
        try expectEqual(try backend.job(queue: queue, id: jobs[1].id)?.result, nil, "the result of a job done without one")
        try expectEqual(try backend.job(queue: queue, id: jobs[2].id)?.result, nil, "the result of a retried job")
        let listed = try backend.list(queue: queue, state: .done, offset: 0, limit: 10)
        try expectEqual(
            Dictionary(uniqueKeysWithValues: listed.map { ($0.id, $0.result ?? "") }), [jobs[0].id: result, jobs[1].id: ""],
            "results of the done listing")
    }

    /// Heartbeat progress is recorded for a job running under the lease given, shown by the look-up
    /// and kept once it is done; a stale lease writes nothing; a new attempt starts without any.
    public static func progressOfARunningJobIsShown(_ backend: any JobBackend, queue: String) throws {
        let jobs = (0..<2).map { sampleJob(queue, $0, maxAttempts: 3) }
        _ = try backend.enqueue(jobs)
        let leased = try fetchAll(backend, queue, limit: 10)
        try expectEqual(leased.map(\.id), jobs.map(\.id), "fetched")
        try expectEqual(try backend.recordProgress([(leased[0].lease, JobProgress(fraction: 0.5, note: "halfway: 50 of 100"))]), [true], "recorded")
        let running = try require(try backend.job(queue: queue, id: jobs[0].id), "the running job is gone")
        try expectEqual(running.progress, 0.5, "progress of the running job")
        try expectEqual(running.note, "halfway: 50 of 100", "note of the running job")
        try expectEqual(try backend.job(queue: queue, id: jobs[1].id)?.progress, nil, "progress of a job that reported none")

        try expectEqual(try backend.settle([(leased[0].lease, .done(retention: .seconds(3600)))]), [true], "settled")
        try expectEqual(try backend.recordProgress([(leased[0].lease, JobProgress(fraction: 0.9, note: nil))]), [false], "recorded after settling")
        try expectEqual(try backend.job(queue: queue, id: jobs[0].id)?.progress, 0.5, "progress kept with the done job")

        try expectEqual(try backend.recordProgress([(leased[1].lease, JobProgress(fraction: 0.25, note: "a quarter"))]), [true], "recorded")
        try expectEqual(try backend.settle([(leased[1].lease, .release)]), [true], "released")
        let again = try eventually(within: .seconds(10)) { () throws -> LeasedJob? in
            try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first
        }
        try expectEqual(again?.id, jobs[1].id, "fetched again")
        let fresh = try require(try backend.job(queue: queue, id: jobs[1].id), "the job fetched again is gone")
        try expectEqual(fresh.progress, nil, "progress of a new attempt")
        try expectEqual(fresh.note, nil, "note of a new attempt")
    }

    /// Retry: scheduled with the error, fetched again after the delay as attempt 2 showing the error; a
    /// retry without delay is ready at once.
    public static func settleRetry(_ backend: any JobBackend, queue: String) throws {
        let job = sampleJob(queue, maxAttempts: 3)
        _ = try backend.enqueue([job])
        let first = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "no job fetched")
        let delay = Duration.seconds(1)
        let settled = ContinuousClock.now
        try expectEqual(try backend.settle([(first.lease, .retry(after: delay, error: "boom: first"))]), [true], "settle retry")

        let info = try require(try backend.job(queue: queue, id: job.id), "the retried job is gone")
        let stats = try backend.stats(queue: queue)
        // A machine that stalled past the delay sees the job due, rightly: only an earlier look must see it scheduled.
        if ContinuousClock.now - settled < delay {
            try expectEqual(info.state, .scheduled, "state after retry")
            try expectEqual(stats.scheduled, 1, "scheduled")
        }
        try expectEqual(info.lastError, "boom: first", "lastError after retry")
        try expectEqual(stats.failed, 1, "failed")
        try expectEqual(stats.running, 0, "running")

        let second = try require(
            try eventually(within: .seconds(10)) { () throws -> LeasedJob? in
                let batch = try backend.fetch(queue: queue, limit: 1, lease: .seconds(60))
                if !batch.isEmpty {
                    let elapsed = ContinuousClock.now - settled
                    try expect(elapsed >= delay, "retried after \(elapsed.millisecondsText), not after \(delay.millisecondsText)")
                }
                return batch.first
            }, "the retried job was not fetched again")
        try expectEqual(second.id, job.id, "the retried job")
        try expectEqual(second.attempt, 2, "attempt of the retry")
        try expectEqual(second.lastError, "boom: first", "lastError handed to the retry")
        try expect(second.lease.token != first.lease.token, "the retry's lease has the first fetch's token")

        try expectEqual(try backend.settle([(second.lease, .retry(after: .zero, error: "boom: second"))]), [true], "retry without delay")
        let third = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "a retry without delay is not ready")
        try expectEqual(third.attempt, 3, "attempt")
        try expectEqual(third.lastError, "boom: second", "lastError")
    }

    /// Dead: in the dead list with the error; retryDead brings it back with attempts restarted;
    /// discardDead deletes it; neither touches a job that is not dead.
    public static func settleDeadThenRetryAndDiscard(_ backend: any JobBackend, queue: String) throws {
        let job = sampleJob(queue, maxAttempts: 5)
        let other = sampleJob(queue, 2)
        _ = try backend.enqueue([job])
        let first = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "no job fetched")
        try expectEqual(try backend.settle([(first.lease, .dead(error: "bad input: no such user"))]), [true], "settle dead")

        let dead = try backend.list(queue: queue, state: .dead, offset: 0, limit: 10)
        try expectEqual(dead.map(\.id), [job.id], "the dead list")
        try expectEqual(dead[0].lastError, "bad input: no such user", "the dead job's error")
        try expectEqual(dead[0].state, .dead, "state")
        let stats = try backend.stats(queue: queue)
        try expectEqual(stats.dead, 1, "dead")
        try expectEqual(stats.failed, 1, "failed")
        try expectEqual(stats.ready, 0, "ready")

        try expect(try backend.retryDead(queue: queue, id: job.id), "retryDead of a dead job returned false")
        try expectEqual(try backend.job(queue: queue, id: job.id)?.state, .ready, "state after retryDead")
        try expectEqual(try backend.stats(queue: queue).dead, 0, "dead after retryDead")
        let again = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "a retried dead job is not ready")
        try expectEqual(again.id, job.id, "the retried dead job")
        try expectEqual(again.attempt, 1, "attempt after retryDead (counting restarts)")

        try expectEqual(try backend.settle([(again.lease, .dead(error: "still bad"))]), [true], "settle dead again")
        try expect(try backend.discardDead(queue: queue, id: job.id), "discardDead of a dead job returned false")
        try expectEqual(try backend.job(queue: queue, id: job.id), nil, "a discarded job")
        try expectEqual(try backend.stats(queue: queue).dead, 0, "dead after discardDead")
        try expect(!(try backend.discardDead(queue: queue, id: job.id)), "discarding a discarded job returned true")
        try expect(!(try backend.retryDead(queue: queue, id: job.id)), "retrying a discarded job returned true")

        _ = try backend.enqueue([other])
        try expect(!(try backend.retryDead(queue: queue, id: other.id)), "retryDead of a ready job returned true")
        try expect(!(try backend.discardDead(queue: queue, id: other.id)), "discardDead of a ready job returned true")
        try expectEqual(try backend.job(queue: queue, id: other.id)?.state, .ready, "a ready job after retryDead/discardDead")
    }

    /// Release: ready again at once, the attempt not counted, the old lease spent.
    public static func settleRelease(_ backend: any JobBackend, queue: String) throws {
        let job = sampleJob(queue, 1)
        let later = sampleJob(queue, 2)
        _ = try backend.enqueue([job, later])
        let first = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "no job fetched")
        try expectEqual(try backend.settle([(first.lease, .release)]), [true], "settle release")
        try expectEqual(try backend.job(queue: queue, id: job.id)?.state, .ready, "state after release")
        let stats = try backend.stats(queue: queue)
        try expectEqual(stats.failed, 0, "failed after a release")
        try expectEqual(stats.running, 0, "running after a release")

        let again = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "the released job is not ready")
        try expectEqual(again.id, job.id, "a released job goes to the front of the line")
        try expectEqual(again.attempt, first.attempt, "attempt after a release")
        try expectEqual(try backend.settle([(first.lease, .done(retention: .seconds(60)))]), [false], "settling with the released lease")
        try expectEqual(try backend.settle([(again.lease, .done(retention: .seconds(60)))]), [true], "settling with the new lease")
    }

    /// Crashed: counts one crash on the job, kept across fetches, then fails the attempt like a retry
    /// (ready at once, or scheduled after a delay) or, without a retry, like dead. Other settlements
    /// leave the count alone, and a spent lease cannot add a crash.
    public static func crashedSettlementCountsCrashes(_ backend: any JobBackend, queue: String) throws {
        let job = sampleJob(queue, maxAttempts: 5)
        _ = try backend.enqueue([job])
        let first = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "no job fetched")
        try expectEqual(first.crashes, 0, "crashes of a new job")
        let segfault = "worker crashed: SIGSEGV"
        try expectEqual(try backend.settle([(first.lease, .crashed(retryAfter: .zero, error: segfault))]), [true], "settle crashed")
        let afterCrash = try require(try backend.job(queue: queue, id: job.id), "the crashed job is gone")
        try expectEqual(afterCrash.state, .ready, "state after a crash with a retry and no delay")
        try expectEqual(afterCrash.crashes, 1, "crashes after a crash")
        try expectEqual(try backend.stats(queue: queue).failed, 1, "failed after a crash")

        let second = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "the crashed job is not ready")
        try expectEqual(second.id, job.id, "the crashed job")
        try expectEqual(second.crashes, 1, "crashes handed to the next attempt")
        try expectEqual(second.lastError, segfault, "lastError handed to the next attempt")
        try expectEqual(second.attempt, 2, "attempt after a crash")
        try expectEqual(try backend.settle([(second.lease, .retry(after: .zero, error: "plain failure"))]), [true], "settle retry")
        try expectEqual(try backend.job(queue: queue, id: job.id)?.crashes, 1, "crashes after a plain retry")

        let third = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "the retried job is not ready")
        try expectEqual(third.crashes, 1, "crashes fetched after a plain retry")
        try expectEqual(third.attempt, 3, "attempt")
        // The second lease is spent: settled already.
        let statsBefore = try backend.stats(queue: queue)
        for late in [Settlement.crashed(retryAfter: .zero, error: "late"), .crashed(retryAfter: nil, error: "late")] {
            try expectEqual(try backend.settle([(second.lease, late)]), [false], "settling a spent lease as \(late)")
        }
        let running = try require(try backend.job(queue: queue, id: job.id), "the running job is gone")
        try expectEqual(running.state, .running, "state after crashes with a spent lease")
        try expectEqual(running.crashes, 1, "crashes after crashes with a spent lease")
        try expectEqual(running.lastError, "plain failure", "lastError after crashes with a spent lease")
        try expectEqual(try backend.stats(queue: queue).failed, statsBefore.failed, "failed after crashes with a spent lease")

        let poison = "poison: crashed 2 worker processes"
        try expectEqual(try backend.settle([(third.lease, .crashed(retryAfter: nil, error: poison))]), [true], "settle crashed without retry")
        let dead = try require(try backend.job(queue: queue, id: job.id), "the poison job is gone")
        try expectEqual(dead.state, .dead, "state after a crash without retry")
        try expectEqual(dead.crashes, 2, "crashes of the poison job")
        try expectEqual(dead.lastError, poison, "lastError of the poison job")
        try expectEqual(try backend.list(queue: queue, state: .dead, offset: 0, limit: 10).map(\.crashes), [2], "crashes in the dead list")
        let stats = try backend.stats(queue: queue)
        try expectEqual(stats.dead, 1, "dead")
        try expectEqual(stats.failed, 3, "failed")

        // A crash with a delay waits it out like a retry.
        let delayed = sampleJob(queue, 2)
        _ = try backend.enqueue([delayed])
        let leased = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "no job fetched")
        try expectEqual(leased.id, delayed.id, "the second job")
        try expectEqual(try backend.settle([(leased.lease, .crashed(retryAfter: .seconds(3600), error: segfault))]), [true], "settle crashed")
        let scheduled = try require(try backend.job(queue: queue, id: delayed.id), "the second job is gone")
        try expectEqual(scheduled.state, .scheduled, "state after a crash with a delay")
        try expectEqual(scheduled.crashes, 1, "crashes")
    }

    /// Every count of ``QueueStats``.
    public static func statsCounts(_ backend: any JobBackend, queue: String) throws {
        try expectEqual(try backend.stats(queue: queue), QueueStats(queue: queue), "stats of an empty queue")
        let jobs = (0..<6).map { sampleJob(queue, $0) }
        _ = try backend.enqueue(jobs + [sampleJob(queue, 6, delay: .seconds(3600))])
        let leased = try backend.fetch(queue: queue, limit: 4, lease: .seconds(60))
        try expectEqual(leased.count, 4, "fetched")
        let results = try backend.settle([
            (leased[0].lease, .done(retention: .seconds(3600))),
            (leased[1].lease, .dead(error: "x")),
            (leased[2].lease, .retry(after: .seconds(3600), error: "y")),
        ])
        try expectEqual(results, [true, true, true], "settle")
        pause(.milliseconds(250))

        let stats = try backend.stats(queue: queue)
        try expectEqual(stats.queue, queue, "queue")
        try expectEqual(stats.ready, 2, "ready")
        try expectEqual(stats.running, 1, "running")
        try expectEqual(stats.scheduled, 2, "scheduled")
        try expectEqual(stats.dead, 1, "dead")
        try expectEqual(stats.done, 1, "done")
        try expectEqual(stats.processed, 1, "processed")
        try expectEqual(stats.failed, 2, "failed")
        let age = try require(stats.oldestReadyAge, "oldestReadyAge with jobs ready")
        try expect(age >= .milliseconds(200) && age < .seconds(60), "oldestReadyAge \(age.millisecondsText) after waiting 250 ms")

        _ = try fetchAll(backend, queue)
        let drained = try backend.stats(queue: queue)
        try expectEqual(drained.ready, 0, "ready after draining")
        try expectEqual(drained.running, 3, "running after draining")
        try expectEqual(drained.oldestReadyAge, nil, "oldestReadyAge with nothing ready")
    }

    /// A unique key held by a pending or running job returns that job's id and adds nothing; once the
    /// job is done or dead the key is free again.
    public static func uniqueKey(_ backend: any JobBackend, queue: String) throws {
        let first = sampleJob(queue, 1, uniqueKey: "sync:42")
        try expectEqual(try backend.enqueue([first]), [first.id], "first enqueue")
        let duplicate = sampleJob(queue, 2, uniqueKey: "sync:42")
        try expectEqual(try backend.enqueue([duplicate]), [first.id], "enqueue with a live key")
        let a = sampleJob(queue, 3, uniqueKey: "sync:43")
        let b = sampleJob(queue, 4, uniqueKey: "sync:43")
        let plain = sampleJob(queue, 5)
        try expectEqual(try backend.enqueue([a, b, plain]), [a.id, a.id, plain.id], "one batch with a key twice")
        try expectEqual(try backend.stats(queue: queue).ready, 3, "ready")
        try expectEqual(try backend.job(queue: queue, id: duplicate.id), nil, "the duplicate")

        let leased = try fetchAll(backend, queue)
        try expectEqual(leased.map(\.id), [first.id, a.id, plain.id], "fetched")
        try expectEqual(try backend.enqueue([sampleJob(queue, 6, uniqueKey: "sync:42")]), [first.id], "enqueue while the holder runs")

        try expectEqual(try backend.settle([(leased[0].lease, .done(retention: .seconds(60)))]), [true], "settle")
        let next = sampleJob(queue, 7, uniqueKey: "sync:42")
        try expectEqual(try backend.enqueue([next]), [next.id], "enqueue after the holder is done")

        try expectEqual(try backend.settle([(leased[1].lease, .dead(error: "x"))]), [true], "settle")
        let afterDead = sampleJob(queue, 8, uniqueKey: "sync:43")
        try expectEqual(try backend.enqueue([afterDead]), [afterDead.id], "enqueue after the holder is dead")

        let delayed = sampleJob(queue, 9, delay: .seconds(3600), uniqueKey: "sync:44")
        _ = try backend.enqueue([delayed])
        try expectEqual(try backend.enqueue([sampleJob(queue, 10, uniqueKey: "sync:44")]), [delayed.id], "enqueue while the holder is scheduled")
    }

    /// list(state:) pages through a state's jobs, newest first, with the jobs' details.
    public static func listPagesNewestFirst(_ backend: any JobBackend, queue: String) throws {
        var ids: [String] = []
        for number in 0..<5 {
            ids += try backend.enqueue([sampleJob(queue, number, maxAttempts: 2)])
        }
        let newestFirst = Array(ids.reversed())
        var paged: [String] = []
        for offset in stride(from: 0, to: 6, by: 2) {
            let page = try backend.list(queue: queue, state: .ready, offset: offset, limit: 2)
            try expect(page.count <= 2, "a page of limit 2 holds \(page.count) jobs")
            paged += page.map(\.id)
        }
        try expectEqual(paged, newestFirst, "ready jobs paged newest first")

        let first = try require(try backend.list(queue: queue, state: .ready, offset: 4, limit: 1).first, "the oldest ready job")
        try expectEqual(first.id, ids[0], "id")
        try expectEqual(first.queue, queue, "queue")
        try expectEqual(first.handler, "conformance.echo", "handler")
        try expectEqual(first.payload, #"{"n":0}"#, "payload")
        try expectEqual(first.attempt, 0, "attempt of a job never fetched")
        try expectEqual(first.maxAttempts, 2, "maxAttempts")
        try expectEqual(first.state, .ready, "state")
        try expectEqual(first.lastError, nil, "lastError")

        let leased = try fetchAll(backend, queue)
        try expectEqual(try backend.list(queue: queue, state: .running, offset: 0, limit: 10).count, 5, "running jobs listed")
        for job in leased {
            pause(.milliseconds(3))
            _ = try backend.settle([(job.lease, .dead(error: "died \(job.id)"))])
        }
        let dead = try backend.list(queue: queue, state: .dead, offset: 0, limit: 10)
        try expectEqual(dead.map(\.id), newestFirst, "dead jobs, the last to die first")
        try expectEqual(dead.first?.attempt, 1, "attempt of a dead job")
        try expectEqual(try backend.list(queue: queue, state: .dead, offset: 3, limit: 10).map(\.id), Array(newestFirst[3...]), "second page")
        try expectEqual(try backend.list(queue: queue, state: .done, offset: 0, limit: 10).count, 0, "done jobs")
        try expectEqual(try backend.list(queue: queue, state: .ready, offset: 0, limit: 10).count, 0, "ready jobs")
    }

    /// job(id:) finds a job in each state, and nothing for an unknown id.
    public static func jobFoundInEveryState(_ backend: any JobBackend, queue: String) throws {
        let ready = sampleJob(queue, 1)
        let running = sampleJob(queue, 2)
        let done = sampleJob(queue, 3)
        let dead = sampleJob(queue, 4)
        let scheduled = sampleJob(queue, 5, delay: .seconds(3600))
        _ = try backend.enqueue([running, done, dead, scheduled])
        let leased = try backend.fetch(queue: queue, limit: 3, lease: .seconds(60))
        try expectEqual(leased.map(\.id), [running.id, done.id, dead.id], "fetched")
        _ = try backend.enqueue([ready])
        _ = try backend.settle([(leased[1].lease, .done(retention: .seconds(60))), (leased[2].lease, .dead(error: "x"))])

        let expected: [(NewJob, JobState)] = [(ready, .ready), (running, .running), (done, .done), (dead, .dead), (scheduled, .scheduled)]
        for (job, state) in expected {
            let info = try require(try backend.job(queue: queue, id: job.id), "no \(state) job found by id")
            try expectEqual(info.state, state, "state")
            try expectEqual(info.id, job.id, "id")
            try expectEqual(info.handler, job.handler, "handler of the \(state) job")
            try expectEqual(info.payload, String(decoding: job.payload, as: UTF8.self), "payload of the \(state) job")
        }
        try expectEqual(try backend.job(queue: queue, id: JobID.generate()), nil, "an unknown id")
    }

    /// One call enqueues a thousand jobs, all fetchable, in order.
    public static func enqueueManyAtOnce(_ backend: any JobBackend, queue: String) throws {
        let jobs = (0..<1_000).map { sampleJob(queue, $0) }
        try expectEqual(try backend.enqueue(jobs), jobs.map(\.id), "ids")
        try expectEqual(try backend.stats(queue: queue).ready, 1_000, "ready")
        let leased = try fetchAll(backend, queue, limit: 250)
        try expectEqual(leased.map(\.id), jobs.map(\.id), "fetched ids")
        try expectEqual(leased.map(\.payload), jobs.map(\.payload), "payloads")
    }

    /// A payload that is not JSON, no attempts or no handler is refused with `.invalid`, and a batch
    /// holding one adds nothing.
    public static func invalidJobsAreRejected(_ backend: any JobBackend, queue: String) throws {
        let valid = sampleJob(queue)
        var notJSON = sampleJob(queue)
        notJSON.payload = Data("{not json".utf8)
        var noAttempts = sampleJob(queue)
        noAttempts.maxAttempts = 0
        var noHandler = sampleJob(queue)
        noHandler.handler = ""
        for bad in [notJSON, noAttempts, noHandler] {
            do {
                _ = try backend.enqueue([valid, bad])
                throw ConformanceFailure("enqueue of an invalid job (\(bad)) succeeded")
            } catch let error as BackendError {
                try expectEqual(error.code, .invalid, "error code for an invalid job")
            }
        }
        try expectEqual(try backend.stats(queue: queue).ready, 0, "ready after rejected batches")
        try expectEqual(try backend.job(queue: queue, id: valid.id), nil, "the valid job of a rejected batch")
    }
}
