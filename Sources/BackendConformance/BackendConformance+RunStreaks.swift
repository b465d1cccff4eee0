import Backend
import Foundation

/// Run streaks (every ``RunStreakStore``): failed runs in a row per handler and schedule, counted in
/// the step that ends a run, with an outbox each entry of which is taken once.
extension BackendConformance {
    public typealias RunStreakBackend = any JobBackend & ScheduleStore & RunStreakStore

    /// The scenarios every ``RunStreakStore`` must pass, besides ``allScenarios``. Each takes the
    /// backend and a queue name nobody else uses.
    public static let runStreakScenarios: [(name: String, run: @Sendable (RunStreakBackend, String) throws -> Void)] = [
        ("aJobFailingEveryAttemptIsOneFailedRun", aJobFailingEveryAttemptIsOneFailedRun),
        ("everyWayOfEndingDeadCountsOneFailedRun", everyWayOfEndingDeadCountsOneFailedRun),
        ("aDoneRunEndsTheStreakWhateverItsRetention", aDoneRunEndsTheStreakWhateverItsRetention),
        ("aFiredJobCountsForItsSchedule", aFiredJobCountsForItsSchedule),
        ("runAlertsAreTakenOnceAcrossTakers", runAlertsAreTakenOnceAcrossTakers),
    ]

    /// Runs `job` until it leaves running for good: each attempt fails (`retry`), the last one is
    /// settled as `last`.
    static func failEveryAttempt(_ backend: RunStreakBackend, _ job: NewJob, last: Settlement) throws {
        _ = try backend.enqueue([job])
        for attempt in 1...job.maxAttempts {
            let leased = try require(try backend.fetch(queue: job.queue, limit: 1, lease: .seconds(60)).first, "attempt \(attempt) of \(job.id) fetched nothing")
            try expectEqual(leased.id, job.id, "job fetched")
            let settlement: Settlement = attempt == job.maxAttempts ? last : .retry(after: .zero, error: "attempt \(attempt) failed")
            try expectEqual(try backend.settle([(leased.lease, settlement)]), [true], "settling attempt \(attempt)")
        }
    }

    static func runJob(_ backend: RunStreakBackend, _ job: NewJob, as settlement: Settlement) throws {
        _ = try backend.enqueue([job])
        let leased = try require(try backend.fetch(queue: job.queue, limit: 1, lease: .seconds(60)).first, "\(job.id) fetched nothing")
        try expectEqual(try backend.settle([(leased.lease, settlement)]), [true], "settling \(job.id)")
    }

    /// Retries are attempts, not runs: a job that fails three attempts and dies is one failed run, with
    /// one outbox entry naming the job, its handler and its last error; the streak grows per dead job,
    /// not per attempt. A success ends it with one `ended` entry; a success without a streak writes none.
    public static func aJobFailingEveryAttemptIsOneFailedRun(_ backend: RunStreakBackend, queue: String) throws {
        let first = sampleJob(queue, 1, maxAttempts: 3)
        try failEveryAttempt(backend, first, last: .dead(error: "third attempt failed"))
        try expectEqual(try backend.runStreak(queue: queue, .handler("conformance.echo")), 1, "streak after one dead job of 3 attempts")
        let entries = try backend.takeRunAlerts(queue: queue, limit: 100)
        try expectEqual(entries.count, 1, "outbox entries after one dead job: \(entries)")
        let entry = entries[0]
        try expectEqual(entry.event, .failed, "event")
        try expectEqual(entry.subject, .handler("conformance.echo"), "subject")
        try expectEqual(entry.queue, queue, "queue")
        try expectEqual(entry.failures, 1, "failures")
        try expectEqual(entry.jobID, first.id, "job id")
        try expectEqual(entry.handler, "conformance.echo", "handler")
        try expectEqual(entry.error, "third attempt failed", "error")
        try expect(abs(entry.at.timeIntervalSinceNow) < 60, "entry time \(entry.at) is far from now")
        try expectEqual(try backend.takeRunAlerts(queue: queue, limit: 100), [], "outbox after taking")

        try failEveryAttempt(backend, sampleJob(queue, 2, maxAttempts: 2), last: .dead(error: "again"))
        try expectEqual(try backend.takeRunAlerts(queue: queue, limit: 100).map(\.failures), [2], "failures of the second dead job")

        try runJob(backend, sampleJob(queue, 3), as: .done(retention: .seconds(60)))
        try expectEqual(try backend.runStreak(queue: queue, .handler("conformance.echo")), 0, "streak after a success")
        let ended = try backend.takeRunAlerts(queue: queue, limit: 100)
        try expectEqual(ended.map(\.event), [.ended], "entries after the success")
        try expectEqual(ended.first?.failures, 2, "failures of the streak that ended")
        try expectEqual(ended.first?.subject, .handler("conformance.echo"), "subject of the streak that ended")

        try runJob(backend, sampleJob(queue, 4), as: .done(retention: .seconds(60)))
        try expectEqual(try backend.takeRunAlerts(queue: queue, limit: 100), [], "entries after a success without a streak")
    }

    /// A run ends dead by a settlement (`dead`, a timeout the runtime ended, a poison job's crash with no
    /// retry) or by a lease rescue with its attempts used up: each counts one. A release, a retry and a
    /// job of another handler change nothing.
    public static func everyWayOfEndingDeadCountsOneFailedRun(_ backend: RunStreakBackend, queue: String) throws {
        try runJob(backend, sampleJob(queue, 1, maxAttempts: 1), as: .dead(error: "discarded"))
        try runJob(backend, sampleJob(queue, 2, maxAttempts: 1), as: .ended(.dead(error: "timeout"), .timeout))
        try runJob(backend, sampleJob(queue, 3, maxAttempts: 5), as: .crashed(retryAfter: nil, error: "poison: crashed 3 workers"))
        let released = sampleJob(queue, 4, maxAttempts: 1)
        try runJob(backend, released, as: .release)
        let leased = try require(try backend.fetch(queue: queue, limit: 1, lease: .milliseconds(150)).first, "released job fetched again")
        try expectEqual(leased.id, released.id, "job fetched after its release")
        let rescue = try eventually(within: .seconds(30)) { () -> Int? in
            let dead = try backend.rescueExpired(queue: queue, limit: 10).dead
            return dead > 0 ? dead : nil
        }
        try expectEqual(rescue, 1, "jobs dead by rescue")
        try runJob(backend, NewJob(queue: queue, handler: "conformance.other", payload: Data("{}".utf8), maxAttempts: 2),
            as: .retry(after: .zero, error: "one attempt"))

        try expectEqual(try backend.runStreak(queue: queue, .handler("conformance.echo")), 4, "streak after four dead jobs")
        try expectEqual(try backend.runStreak(queue: queue, .handler("conformance.other")), 0, "streak of a handler that only retried")
        let entries = try backend.takeRunAlerts(queue: queue, limit: 2) + backend.takeRunAlerts(queue: queue, limit: 100)
        try expectEqual(entries.map(\.failures), [1, 2, 3, 4], "failures of the entries, oldest first")
        try expect(entries.allSatisfy { $0.event == .failed && $0.subject == .handler("conformance.echo") }, "entries: \(entries)")
        try expectEqual(entries.last?.jobID, released.id, "job of the rescue's entry")
        try expect(entries.last?.error?.contains("lease expired") == true, "error of the rescue's entry: \(entries.last?.error ?? "none")")
        try expectEqual(entries[2].error, "poison: crashed 3 workers", "error of the poison job's entry")
    }

    /// A done job ends its handler's streak whether it is kept or deleted at once (retention 0).
    public static func aDoneRunEndsTheStreakWhateverItsRetention(_ backend: RunStreakBackend, queue: String) throws {
        for retention in [Duration.zero, .seconds(60)] {
            try runJob(backend, sampleJob(queue, 1, maxAttempts: 1), as: .dead(error: "failed"))
            try runJob(backend, sampleJob(queue, 2, maxAttempts: 1), as: .dead(error: "failed"))
            try runJob(backend, sampleJob(queue, 3), as: .done(retention: retention))
            try expectEqual(try backend.runStreak(queue: queue, .handler("conformance.echo")), 0, "streak after a success kept \(retention)")
            let entries = try backend.takeRunAlerts(queue: queue, limit: 100)
            try expectEqual(entries.map(\.event), [.failed, .failed, .ended], "entries with retention \(retention)")
            try expectEqual(entries.last?.failures, 2, "the streak that ended, retention \(retention)")
        }
    }

    /// A job a schedule fired counts for the schedule as well as its handler; a plain job of the same
    /// handler ends only the handler's streak; the next fired run that succeeds ends the schedule's.
    public static func aFiredJobCountsForItsSchedule(_ backend: RunStreakBackend, queue: String) throws {
        let now = try backend.now()
        func fire(_ offset: Double) throws -> String {
            let job = sampleJob(queue, Int(offset), maxAttempts: 1)
            return try require(
                try backend.claimFire(schedule: "nightly", at: now.addingTimeInterval(-100 + offset), job: job), "fire \(offset) claimed nothing")
        }
        let firstFire = try fire(1)
        let leased = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "fired job fetched nothing")
        try expectEqual(leased.id, firstFire, "fired job")
        _ = try backend.settle([(leased.lease, .dead(error: "the nightly run failed"))])
        try expectEqual(try backend.runStreak(queue: queue, .schedule("nightly")), 1, "schedule streak after its job died")
        let failed = try backend.takeRunAlerts(queue: queue, limit: 100)
        try expectEqual(Set(failed.map(\.subject)), [.handler("conformance.echo"), .schedule("nightly")], "subjects of a fired job's death")
        let scheduleEntry = try require(failed.first { $0.subject == .schedule("nightly") }, "no schedule entry")
        try expectEqual(scheduleEntry.jobID, firstFire, "job of the schedule's entry")
        try expectEqual(scheduleEntry.handler, "conformance.echo", "handler of the schedule's entry")
        try expectEqual(scheduleEntry.error, "the nightly run failed", "error of the schedule's entry")

        try runJob(backend, sampleJob(queue, 7), as: .done(retention: .seconds(60)))
        try expectEqual(try backend.runStreak(queue: queue, .schedule("nightly")), 1, "schedule streak after a plain job of its handler succeeded")
        try expectEqual(try backend.takeRunAlerts(queue: queue, limit: 100).map(\.subject), [.handler("conformance.echo")], "what a plain success ended")

        let secondFire = try fire(2)
        let again = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "second fire fetched nothing")
        try expectEqual(again.id, secondFire, "second fired job")
        _ = try backend.settle([(again.lease, .done(retention: .zero))])
        try expectEqual(try backend.runStreak(queue: queue, .schedule("nightly")), 0, "schedule streak after a fired run succeeded")
        let ended = try backend.takeRunAlerts(queue: queue, limit: 100)
        try expectEqual(ended.map(\.subject), [.schedule("nightly")], "what the fired success ended")
        try expectEqual(ended.map(\.event), [.ended], "event of the fired success")
    }

    /// Hosts taking the outbox at once get every entry exactly once between them.
    public static func runAlertsAreTakenOnceAcrossTakers(_ backend: RunStreakBackend, queue: String) throws {
        let jobs = (0..<40).map { sampleJob(queue, $0, maxAttempts: 1) }
        _ = try backend.enqueue(jobs)
        let leased = try fetchAll(backend, queue)
        try expectEqual(leased.count, 40, "jobs fetched")
        _ = try backend.settle(leased.map { ($0.lease, .dead(error: "failed")) })
        let taken = try onThreads(4) { _ -> [RunAlertEntry] in
            var mine: [RunAlertEntry] = []
            while true {
                let batch = try backend.takeRunAlerts(queue: queue, limit: 3)
                if batch.isEmpty { return mine }
                mine += batch
            }
        }
        let all = taken.flatMap { $0 }
        try expectEqual(all.count, 40, "entries taken in all")
        try expectEqual(Set(all.compactMap(\.jobID)), Set(jobs.map(\.id)), "jobs of the entries")
        try expectEqual(Set(all.map(\.failures)), Set(1...40), "failures of the entries: each count once")
    }
}
