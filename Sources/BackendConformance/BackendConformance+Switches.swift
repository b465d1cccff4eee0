import Backend
import Foundation

/// Operators' switches: paused queues (every ``JobBackend``) and schedules switched off
/// (every ``ScheduleStore``).
extension BackendConformance {
    /// The pause scenarios, run with the others (``allScenarios`` lists them).
    static let pauseScenarios: [(name: String, run: @Sendable (any JobBackend, String) throws -> Void)] = [
        ("pausedQueueFetchesNothingUntilResumed", pausedQueueFetchesNothingUntilResumed),
        ("pausedQueueStillSettlesAndRescues", pausedQueueStillSettlesAndRescues),
        ("pauseLeavesOtherQueuesAlone", pauseLeavesOtherQueuesAlone),
        ("waitForWorkOnAPausedQueueSleepsAndWakesOnResume", waitForWorkOnAPausedQueueSleepsAndWakesOnResume),
    ]

    /// The scenarios every ``ScheduleStore`` must pass, besides ``allScenarios``. Each takes the
    /// store and a queue name nobody else uses.
    public static let scheduleScenarios: [(name: String, run: @Sendable (any JobBackend & ScheduleStore, String) throws -> Void)] = [
        ("disabledScheduleFiresNothing", disabledScheduleFiresNothing),
        ("enabledAgainScheduleSkipsWhatFellWhileOff", enabledAgainScheduleSkipsWhatFellWhileOff),
        ("recentFiresKeepTheLastOnesNewestFirst", recentFiresKeepTheLastOnesNewestFirst),
        ("fireSkippedWhileThePreviousRunIsLive", fireSkippedWhileThePreviousRunIsLive),
    ]

    /// A paused queue hands out nothing, not even jobs enqueued while paused; they pile up as ready
    /// and come out in order once it is resumed. Pausing and resuming twice changes nothing more.
    public static func pausedQueueFetchesNothingUntilResumed(_ backend: any JobBackend, queue: String) throws {
        let before = try backend.enqueue((0..<3).map { sampleJob(queue, $0) })
        try backend.setPaused(queue: queue, true)
        try backend.setPaused(queue: queue, true)
        let after = try backend.enqueue([sampleJob(queue, 3), sampleJob(queue, 4, delay: .milliseconds(100))])
        try expectEqual(try backend.fetch(queue: queue, limit: 10, lease: .seconds(60)).count, 0, "jobs fetched from a paused queue")
        pause(.milliseconds(200))
        try expectEqual(try backend.fetch(queue: queue, limit: 10, lease: .seconds(60)).count, 0, "jobs fetched from a paused queue, one due")
        let stats = try backend.stats(queue: queue)
        try expect(stats.paused, "stats of a paused queue say it is not paused")
        try expectEqual(stats.ready, 5, "ready jobs of a paused queue")
        try expectEqual(stats.running, 0, "running jobs of a paused queue")

        try backend.setPaused(queue: queue, false)
        try backend.setPaused(queue: queue, false)
        try expect(!(try backend.stats(queue: queue).paused), "stats of a resumed queue say it is paused")
        let fetched = try fetchAll(backend, queue).map(\.id)
        try expectEqual(Set(fetched), Set(before + after), "jobs fetched after resuming")
        // Where the job that came due joins the line is the backend's choice; the others keep theirs.
        try expectEqual(fetched.filter { $0 != after[1] }, before + [after[0]], "jobs fetched after resuming, in order")
    }

    /// Pausing stops only the handing out: a job leased before the pause is extended and settled as
    /// usual, and one whose lease expires is rescued (back to ready, not handed out).
    public static func pausedQueueStillSettlesAndRescues(_ backend: any JobBackend, queue: String) throws {
        _ = try backend.enqueue([sampleJob(queue, 1), sampleJob(queue, 2)])
        let leased = try backend.fetch(queue: queue, limit: 2, lease: .seconds(60))
        try expectEqual(leased.count, 2, "fetched before the pause")
        _ = try backend.enqueue([sampleJob(queue, 3)])
        let short = try require(try backend.fetch(queue: queue, limit: 1, lease: .milliseconds(200)).first, "no job fetched")
        try backend.setPaused(queue: queue, true)

        try expectEqual(try backend.extend([leased[0].lease], by: .seconds(60)), [true], "extending a lease of a paused queue")
        try expectEqual(
            try backend.settle([(leased[0].lease, .done(retention: .seconds(60))), (leased[1].lease, .retry(after: .zero, error: "again"))]),
            [true, true], "settling leases of a paused queue")
        let rescued = try eventually(within: .seconds(10)) { () throws -> Int? in
            let result = try backend.rescueExpired(queue: queue, limit: 100)
            return result.rescued > 0 ? result.rescued : nil
        }
        try expectEqual(rescued, 1, "expired leases rescued on a paused queue")
        try expectEqual(try backend.job(queue: queue, id: short.id)?.state, .ready, "state of the rescued job")
        try expectEqual(try backend.fetch(queue: queue, limit: 10, lease: .seconds(60)).count, 0, "jobs fetched from a paused queue")
        let stats = try backend.stats(queue: queue)
        try expectEqual(stats.processed, 1, "processed")
        try expectEqual(stats.ready, 2, "ready: the retried and the rescued job")
        try backend.setPaused(queue: queue, false)
        // A backend may find a job put back behind its claim position only at its next full pass (the
        // PostgreSQL claim cursor does): fetch until both are out, each exactly once.
        var fetched: [String] = []
        _ = try eventually(within: .seconds(10)) { () throws -> Bool? in
            fetched += try fetchAll(backend, queue).map(\.id)
            return fetched.count >= 2 ? true : nil
        }
        try expectEqual(fetched.sorted(), [leased[1].id, short.id].sorted(), "jobs fetched after resuming")
    }

    /// A pause belongs to one queue: another queue of the same backend runs on.
    public static func pauseLeavesOtherQueuesAlone(_ backend: any JobBackend, queue: String) throws {
        let other = queue + "-other"
        _ = try backend.enqueue([sampleJob(queue, 1), sampleJob(other, 2)])
        try backend.setPaused(queue: queue, true)
        try expectEqual(try backend.fetch(queue: other, limit: 10, lease: .seconds(60)).count, 1, "jobs fetched from the other queue")
        try expect(!(try backend.stats(queue: other).paused), "the other queue is paused too")
        try expectEqual(try backend.fetch(queue: queue, limit: 10, lease: .seconds(60)).count, 0, "jobs fetched from the paused queue")
        try backend.setPaused(queue: other, false)
        try expect(try backend.stats(queue: queue).paused, "resuming another queue resumed this one")
    }

    /// A host waiting on a paused queue with ready jobs sleeps (it must not return at once and poll
    /// a queue it may not fetch from), and wakes soon after the queue is resumed.
    public static func waitForWorkOnAPausedQueueSleepsAndWakesOnResume(_ backend: any JobBackend, queue: String) throws {
        _ = try backend.enqueue([sampleJob(queue)])
        try backend.setPaused(queue: queue, true)
        let timeout = Duration.milliseconds(400)
        let start = ContinuousClock.now
        try backend.waitForWork(queue: queue, timeout: timeout)
        let waited = ContinuousClock.now - start
        try expect(waited >= timeout * 0.75, "waitForWork on a paused queue returned after \(waited.millisecondsText) of \(timeout.millisecondsText)")

        let resumeAt = ContinuousClock.now + .milliseconds(300)
        let results = try onThreads(2) { index -> ContinuousClock.Instant in
            if index == 0 {
                try backend.waitForWork(queue: queue, timeout: .seconds(60))
                return ContinuousClock.now
            }
            pause(resumeAt - ContinuousClock.now)
            try backend.setPaused(queue: queue, false)
            return ContinuousClock.now
        }
        let (woke, resumed) = (results[0], results[1])
        try expect(woke >= resumeAt, "waitForWork returned \((resumeAt - woke).millisecondsText) before the queue was resumed")
        try expect(woke - resumed < .seconds(30), "waitForWork returned at its timeout of a minute, not for the resume")
        try expectEqual(try backend.fetch(queue: queue, limit: 10, lease: .seconds(60)).count, 1, "jobs fetched after the resume")
    }

    /// A schedule switched off fires nothing; another schedule, and the same name in another queue,
    /// fire on. Switching to the state it has changes nothing, not even the time of the last change.
    public static func disabledScheduleFiresNothing(_ store: any JobBackend & ScheduleStore, queue: String) throws {
        try expectEqual(try store.scheduleSwitch(schedule: "tick", queue: queue), ScheduleSwitch(), "the switch of a schedule never switched")
        try store.setDisabled(schedule: "tick", queue: queue, false)
        try expectEqual(try store.scheduleSwitch(schedule: "tick", queue: queue), ScheduleSwitch(), "the switch after enabling an enabled schedule")

        let now = try store.now()
        let first = sampleJob(queue, 1)
        try expectEqual(try store.claimFire(schedule: "tick", at: now.addingTimeInterval(-10), job: first), first.id, "a fire before the switch")
        try store.setDisabled(schedule: "tick", queue: queue, true)
        let off = try store.scheduleSwitch(schedule: "tick", queue: queue)
        try expect(off.disabled, "the switch after disabling says enabled")
        let changedAt = try require(off.changedAt, "no time of the change")
        try expect(abs(changedAt.timeIntervalSince(now)) < 60, "the change at \(changedAt) is far from the backend's clock, \(now)")
        pause(.milliseconds(20))
        try store.setDisabled(schedule: "tick", queue: queue, true)
        try expectEqual(try store.scheduleSwitch(schedule: "tick", queue: queue), off, "the switch after disabling again")

        let refused = sampleJob(queue, 2)
        try expectEqual(try store.claimFire(schedule: "tick", at: now.addingTimeInterval(-5), job: refused), nil, "a fire of a disabled schedule")
        try expectEqual(try store.claimFire(schedule: "tick", at: try store.now(), job: refused), nil, "a fire of a disabled schedule, now")
        try expectEqual(try store.job(queue: queue, id: refused.id), nil, "the job of a refused fire")
        try expectEqual(try store.lastFire(schedule: "tick", queue: queue)?.jobID, first.id, "the last fire")

        let other = sampleJob(queue, 3)
        try expectEqual(try store.claimFire(schedule: "tock", at: now.addingTimeInterval(-5), job: other), other.id, "a fire of another schedule")
        let elsewhere = sampleJob(queue + "-other", 4)
        try expectEqual(
            try store.claimFire(schedule: "tick", at: now.addingTimeInterval(-5), job: elsewhere), elsewhere.id,
            "a fire of the same name in another queue")
        try expectEqual(try store.stats(queue: queue).ready, 2, "jobs enqueued by fires")
    }

    /// Once switched on again, a schedule fires what falls due after that moment, never what fell due
    /// while it was off (a catch-up of such a fire time is refused too).
    public static func enabledAgainScheduleSkipsWhatFellWhileOff(_ store: any JobBackend & ScheduleStore, queue: String) throws {
        let start = try store.now()
        let first = sampleJob(queue, 1)
        try expectEqual(try store.claimFire(schedule: "tick", at: start.addingTimeInterval(-10), job: first), first.id, "a fire before the switch")
        try store.setDisabled(schedule: "tick", queue: queue, true)
        let disabledAt = try require(try store.scheduleSwitch(schedule: "tick", queue: queue).changedAt, "no time of the change")
        pause(.milliseconds(50))
        try store.setDisabled(schedule: "tick", queue: queue, false)
        let on = try store.scheduleSwitch(schedule: "tick", queue: queue)
        try expect(!on.disabled, "the switch after enabling says disabled")
        let enabledAt = try require(on.changedAt, "no time of the change")
        try expect(enabledAt > disabledAt, "enabled at \(enabledAt), not after it was disabled at \(disabledAt)")

        let missed = sampleJob(queue, 2)
        try expectEqual(try store.claimFire(schedule: "tick", at: start.addingTimeInterval(-5), job: missed), nil, "a fire time from before the switch")
        try expectEqual(try store.claimFire(schedule: "tick", at: enabledAt, job: missed), nil, "the fire time of the switch itself")
        try expectEqual(try store.job(queue: queue, id: missed.id), nil, "the job of a refused fire")
        pause(.milliseconds(50))
        let next = sampleJob(queue, 3)
        try expectEqual(try store.claimFire(schedule: "tick", at: try store.now(), job: next), next.id, "a fire after the switch")
        try expectEqual(try store.lastFire(schedule: "tick", queue: queue)?.jobID, next.id, "the last fire")
    }
}
