import Backend
import Foundation

/// Dead-job retention and where retried jobs join the line.
extension BackendConformance {
    static let retentionScenarios: [(name: String, run: @Sendable (any JobBackend, String) throws -> Void)] = [
        ("pruneDeadRemovesOnlyDeadJobsPastRetention", pruneDeadRemovesOnlyDeadJobsPastRetention),
        ("retryAtTheBackGoesBehindFreshJobs", retryAtTheBackGoesBehindFreshJobs),
        ("retryAtTheFrontGoesAheadOfFreshJobs", retryAtTheFrontGoesAheadOfFreshJobs),
        ("releasedAndRescuedJobsGoToTheFrontWhateverTheRetryPosition", releasedAndRescuedJobsGoToTheFrontWhateverTheRetryPosition),
    ]

    /// Dead jobs that died before now − retention go, oldest first and at most `limit` a call, with
    /// their attempt history; dead jobs that died since, done jobs however old, and pending jobs stay.
    /// Done jobs' own prune leaves dead jobs alone.
    public static func pruneDeadRemovesOnlyDeadJobsPastRetention(_ backend: any JobBackend, queue: String) throws {
        let oldest = sampleJob(queue, 1, uniqueKey: "retention-oldest")
        let old = sampleJob(queue, 2)
        let done = sampleJob(queue, 3)
        let recent = sampleJob(queue, 4)
        let ready = sampleJob(queue, 5)
        let scheduled = sampleJob(queue, 6, delay: .seconds(3600))
        _ = try backend.enqueue([oldest, old, done, recent])
        let leased = try backend.fetch(queue: queue, limit: 4, lease: .seconds(60))
        try expectEqual(leased.map(\.id), [oldest.id, old.id, done.id, recent.id], "fetched")
        try expectEqual(try backend.settle([(leased[0].lease, .dead(error: "bad input"))]), [true], "settle")
        // Apart, so that which died first is plain on every clock.
        pause(.milliseconds(20))
        try expectEqual(
            try backend.settle([(leased[1].lease, .dead(error: "bad input")), (leased[2].lease, .done(retention: .seconds(3600)))]),
            [true, true], "settle")
        try expectEqual(try backend.job(queue: queue, id: oldest.id)?.attempts.count, 1, "attempt history of a dead job")
        // The retention below sits between the two deaths, well apart from both: a test machine that
        // stalls a second between this settle and the last prune still finds the recent death young.
        let retention = Duration.seconds(2)
        pause(.milliseconds(2500))
        try expectEqual(try backend.settle([(leased[3].lease, .dead(error: "bad input"))]), [true], "settle")
        _ = try backend.enqueue([ready, scheduled])

        try expectEqual(try backend.prune(queue: queue, retention: retention, limit: 100), 1, "done jobs pruned")
        try expectEqual(try backend.job(queue: queue, id: oldest.id)?.state, .dead, "a dead job after done jobs were pruned")
        try expectEqual(try backend.pruneDead(queue: queue, retention: .seconds(3600), limit: 100), 0, "dead jobs pruned with a long retention")
        try expectEqual(try backend.pruneDead(queue: queue, retention: retention, limit: 1), 1, "dead jobs pruned, limit 1")
        try expectEqual(try backend.job(queue: queue, id: oldest.id), nil, "the oldest dead job, pruned first")
        try expectEqual(try backend.job(queue: queue, id: old.id)?.state, .dead, "the second old dead job, beyond the limit")
        try expectEqual(try backend.pruneDead(queue: queue, retention: retention, limit: 100), 1, "dead jobs pruned")
        try expectEqual(try backend.job(queue: queue, id: old.id), nil, "the second old dead job")
        try expectEqual(try backend.pruneDead(queue: queue, retention: retention, limit: 100), 0, "dead jobs pruned again")
        try expectEqual(try backend.job(queue: queue, id: recent.id)?.state, .dead, "the dead job within the retention")
        try expectEqual(try backend.job(queue: queue, id: ready.id)?.state, .ready, "a ready job")
        try expectEqual(try backend.job(queue: queue, id: scheduled.id)?.state, .scheduled, "a scheduled job")
        try expectEqual(try backend.list(queue: queue, state: .dead, offset: 0, limit: 10).map(\.id), [recent.id], "dead listing")
        let stats = try backend.stats(queue: queue)
        try expectEqual(stats.dead, 1, "dead")
        try expectEqual(stats.done, 0, "done")
        try expectEqual(stats.ready, 1, "ready")
        // The pruned job's key is free for a new job (a dead job never blocks its key; pruning must not
        // leave a claim that would).
        let again = sampleJob(queue, 7, uniqueKey: "retention-oldest")
        try expectEqual(try backend.enqueue([again]), [again.id], "a job with the pruned job's unique key")
    }

    /// With the `back` position a retried job — at once, or when its delay ends — comes after the jobs
    /// already ready; a crashed job retried does too. Released jobs stay at the front.
    public static func retryAtTheBackGoesBehindFreshJobs(_ backend: any JobBackend, queue: String) throws {
        let retried = sampleJob(queue, 1)
        _ = try backend.enqueue([retried])
        let first = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "no job fetched")
        let fresh = [sampleJob(queue, 2), sampleJob(queue, 3)]
        _ = try backend.enqueue(fresh)
        try expectEqual(
            try backend.settle([(first.lease, .retry(after: .zero, error: "boom"))], retryPosition: .back), [true], "settle retry at the back")
        try expectEqual(try backend.job(queue: queue, id: retried.id)?.state, .ready, "state after a retry without delay")
        let order = try fetchAll(backend, queue, limit: 1)
        try expectEqual(order.map(\.id), fresh.map(\.id) + [retried.id], "order after a retry at the back, without delay")
        try expectEqual(order[2].attempt, 2, "attempt of the retried job")

        // A crash retried at once is a failed attempt like any other.
        let crashedFresh = sampleJob(queue, 4)
        _ = try backend.enqueue([crashedFresh])
        try expectEqual(
            try backend.settle([(order[2].lease, .crashed(retryAfter: .zero, error: "worker crashed"))], retryPosition: .back), [true],
            "settle crashed at the back")
        try expectEqual(try fetchAll(backend, queue, limit: 1).map(\.id), [crashedFresh.id, retried.id], "order after a crash retried at the back")

        // With a delay: behind the jobs that became ready while it waited.
        let delayed = sampleJob(queue, 5)
        _ = try backend.enqueue([delayed])
        let held = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "no job fetched")
        try expectEqual(held.id, delayed.id, "fetched")
        let delay = Duration.milliseconds(400)
        try expectEqual(try backend.settle([(held.lease, .retry(after: delay, error: "later"))], retryPosition: .back), [true], "settle")
        let waiting = [sampleJob(queue, 6), sampleJob(queue, 7)]
        _ = try backend.enqueue(waiting)
        pause(delay + .milliseconds(400))
        try expectEqual(
            try fetchAll(backend, queue, limit: 1).map(\.id), waiting.map(\.id) + [delayed.id], "order after a delayed retry at the back")
    }

    /// With the `front` position a job retried without delay comes before the jobs already ready.
    public static func retryAtTheFrontGoesAheadOfFreshJobs(_ backend: any JobBackend, queue: String) throws {
        let retried = sampleJob(queue, 1)
        _ = try backend.enqueue([retried])
        let first = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "no job fetched")
        let fresh = [sampleJob(queue, 2), sampleJob(queue, 3)]
        _ = try backend.enqueue(fresh)
        try expectEqual(
            try backend.settle([(first.lease, .retry(after: .zero, error: "boom"))], retryPosition: .front), [true], "settle retry at the front")
        try expectEqual(try fetchAll(backend, queue, limit: 1).map(\.id), [retried.id] + fresh.map(\.id), "order after a retry at the front")
    }

    /// Released and rescued jobs lost their turn through no fault of their own: they go back to the
    /// front of the line even when the queue's retries go to the back.
    public static func releasedAndRescuedJobsGoToTheFrontWhateverTheRetryPosition(_ backend: any JobBackend, queue: String) throws {
        let released = sampleJob(queue, 1)
        _ = try backend.enqueue([released])
        let first = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "no job fetched")
        let fresh = [sampleJob(queue, 2), sampleJob(queue, 3)]
        _ = try backend.enqueue(fresh)
        try expectEqual(try backend.settle([(first.lease, .release)], retryPosition: .back), [true], "settle release")
        let order = try fetchAll(backend, queue, limit: 1)
        try expectEqual(order.map(\.id), [released.id] + fresh.map(\.id), "order after a release")
        _ = try backend.settle(order.map { ($0.lease, .done(retention: .zero)) }, retryPosition: .back)

        let rescued = sampleJob(queue, 4)
        _ = try backend.enqueue([rescued])
        let lost = try require(try backend.fetch(queue: queue, limit: 1, lease: .milliseconds(100)).first, "no job fetched")
        try expectEqual(lost.id, rescued.id, "fetched")
        let later = [sampleJob(queue, 5), sampleJob(queue, 6)]
        _ = try backend.enqueue(later)
        let rescue = try eventually(within: .seconds(10)) { () throws -> Int? in
            let (ready, _) = try backend.rescueExpired(queue: queue, limit: 10)
            return ready > 0 ? ready : nil
        }
        try expectEqual(rescue, 1, "rescued")
        try expectEqual(try fetchAll(backend, queue, limit: 1).map(\.id), [rescued.id] + later.map(\.id), "order after a rescue")
    }
}
