import Backend
import Foundation

/// A value written into one field of a job behind the backend's back, as a producer in another
/// language or an operator's hand edit could (docs/redis.md, docs/postgres.md). Which values can be
/// written at all depends on the backend (PostgreSQL's column types and constraints refuse many), so
/// each backend's tests list theirs and write them with the backend's own tools.
public struct BadValue: Sendable, CustomStringConvertible {
    /// The field (or column) as the backend names it: the reason the job goes dead with names it.
    public var field: String
    /// The value as written: the reason shows it.
    public var value: String

    public init(field: String, value: String) {
        self.field = field
        self.value = value
    }

    public var description: String { "\(field) = \(value)" }
}

/// Writes `bad` into the job `jobID` of `queue`, blocking until it is written.
public typealias SpoilJob = @Sendable (_ queue: String, _ jobID: String, _ bad: BadValue) throws -> Void

/// Bad data never wedges a queue: a job whose fields cannot be used goes to dead, with a reason naming
/// the field and the value, and every other job of its queue runs as usual.
extension BackendConformance {
    /// A job holding `bad` in the middle of 100 good ones, written before anything fetched it: every
    /// good job is fetched and settled, the spoiled one never fetched but found dead with a reason that
    /// names the field and the value, and the counts add up.
    public static func unusableJobGoesDeadAndQueueGoesOn(
        _ backend: any JobBackend, queue: String, bad: BadValue, spoil: SpoilJob
    ) throws {
        let jobs = (0..<101).map { sampleJob(queue, $0, maxAttempts: 3) }
        let target = jobs[50]
        _ = try backend.enqueue(jobs)
        try spoil(queue, target.id, bad)

        var fetched: [String] = []
        for _ in 0..<200 {
            let batch = try backend.fetch(queue: queue, limit: 10, lease: .seconds(60))
            if batch.isEmpty {
                // Nothing ready, or a batch of only unusable jobs: ask once more before calling it drained.
                if try backend.stats(queue: queue).ready == 0 { break }
                continue
            }
            fetched += batch.map(\.id)
            let answers = try backend.settle(batch.map { ($0.lease, .done(retention: .seconds(3600))) })
            try expectEqual(answers, [Bool](repeating: true, count: batch.count), "settling a batch of good jobs")
        }
        let good = jobs.map(\.id).filter { $0 != target.id }
        try expect(!fetched.contains(target.id), "the job with \(bad) was handed out")
        try expectEqual(fetched.sorted(), good.sorted(), "the good jobs fetched")

        let dead = try require(try backend.job(queue: queue, id: target.id), "the job with \(bad) is gone")
        try expectEqual(dead.state, .dead, "state of the job with \(bad)")
        let reason = dead.lastError ?? ""
        try expect(
            reason.contains(bad.field) && reason.contains(bad.value),
            "the dead job's reason should name \(bad.field) and \(bad.value): \"\(reason)\"")
        try expectEqual(try backend.list(queue: queue, state: .dead, offset: 0, limit: 10).map(\.id), [target.id], "the dead list")
        var stats = try backend.stats(queue: queue)
        stats.oldestReadyAge = nil
        try expectEqual(stats, QueueStats(queue: queue, dead: 1, done: 100, processed: 100), "stats")
    }

    /// A job that becomes unusable while it runs (`bad` written after the fetch), in the middle of a
    /// settle batch of 100 good jobs settled every way there is: the batch goes through, every good job
    /// ends where its settlement says (and can be fetched again where that applies), none is left
    /// between two states, and the spoiled one, settled as crashed, goes dead with a reason naming the
    /// field and the value.
    public static func unusableJobInASettleBatch(
        _ backend: any JobBackend, queue: String, bad: BadValue, spoil: SpoilJob
    ) throws {
        let jobs = (0..<101).map { sampleJob(queue, $0, maxAttempts: 5) }
        _ = try backend.enqueue(jobs)
        let leased = try fetchAll(backend, queue, limit: 200)
        try expectEqual(leased.map(\.id), jobs.map(\.id), "fetched")
        let target = leased[50]
        try spoil(queue, target.id, bad)

        // Five settlements in turn, with where each leaves the job.
        let kinds: [(Settlement, JobState)] = [
            (.done(retention: .seconds(3600)), .done), (.retry(after: .zero, error: "again"), .ready),
            (.retry(after: .seconds(3600), error: "later"), .scheduled), (.dead(error: "broken"), .dead),
            (.crashed(retryAfter: .zero, error: "worker crashed: SIGSEGV"), .ready),
        ]
        var expected: [String: JobState] = [:]
        var items: [(Lease, Settlement)] = []
        for job in leased where job.id != target.id {
            let (settlement, state) = kinds[items.count % kinds.count]
            items.append((job.lease, settlement))
            expected[job.id] = state
        }
        items.insert((target.lease, .crashed(retryAfter: .zero, error: "worker crashed: SIGABRT")), at: 50)
        let answers = try backend.settle(items)
        try expectEqual(answers, [Bool](repeating: true, count: items.count), "answers of the settle batch")

        for (id, state) in expected {
            let info = try require(try backend.job(queue: queue, id: id), "job \(id) is gone")
            try expectEqual(info.state, state, "state of good job \(id)")
        }
        let dead = try require(try backend.job(queue: queue, id: target.id), "the job with \(bad) is gone")
        try expectEqual(dead.state, .dead, "state of the job with \(bad)")
        let reason = dead.lastError ?? ""
        try expect(
            reason.contains(bad.field) && reason.contains(bad.value),
            "the dead job's reason should name \(bad.field) and \(bad.value): \"\(reason)\"")

        // The crash was a failed attempt like any other; the job was settled, only not as asked.
        // Every job is listed under the state it has, and only there.
        for state in JobState.allCases {
            let listed = try backend.list(queue: queue, state: state, offset: 0, limit: 500).map(\.id)
            let wanted = expected.filter { $0.value == state }.map(\.key) + (state == .dead ? [target.id] : [])
            try expectEqual(listed.sorted(), wanted.sorted(), "jobs listed as \(state)")
        }
        var stats = try backend.stats(queue: queue)
        stats.oldestReadyAge = nil
        let count = { (state: JobState) in expected.values.filter { $0 == state }.count }
        try expectEqual(
            stats,
            QueueStats(
                queue: queue, ready: count(.ready), running: 0, scheduled: count(.scheduled), dead: count(.dead) + 1, done: count(.done),
                processed: count(.done), failed: count(.ready) + count(.scheduled) + count(.dead) + 1),
            "stats")
        // The ones put back are really in line (a backend may take a moment to look behind where its
        // claims last found work: poll).
        let wanted = Set(expected.filter { $0.value == .ready }.map(\.key))
        var again: [String] = []
        _ = try eventually(within: .seconds(10)) { () throws -> Bool? in
            again += try fetchAll(backend, queue, limit: 200).map(\.id)
            return again.count >= wanted.count ? true : nil
        }
        try expectEqual(again.sorted(), wanted.sorted(), "jobs fetched again")
    }
}
