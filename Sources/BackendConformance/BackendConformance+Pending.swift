import Backend
import Foundation

/// Operators' actions on jobs not yet run: cancelling one, discarding many, and searching a queue.
extension BackendConformance {
    /// Run with the others (``allScenarios`` lists them).
    static let pendingScenarios: [(name: String, run: @Sendable (any JobBackend, String) throws -> Void)] = [
        ("cancelReadyAndScheduledJobs", cancelReadyAndScheduledJobs),
        ("cancelRefusesRunningAndSettledJobs", cancelRefusesRunningAndSettledJobs),
        ("cancelFreesTheUniqueKey", cancelFreesTheUniqueKey),
        ("discardPendingPicksByStateHandlerAndAge", discardPendingPicksByStateHandlerAndAge),
        ("discardPendingGoesInBoundedBatches", discardPendingGoesInBoundedBatches),
        ("searchByIDHandlerAndPayload", searchByIDHandlerAndPayload),
    ]

    /// A ready and a scheduled job are cancelled: gone from look-ups, listings, stats and fetches; the
    /// other jobs stay. Cancelling again, or an id the queue does not hold, is `.notFound`.
    public static func cancelReadyAndScheduledJobs(_ backend: any JobBackend, queue: String) throws {
        let ids = try backend.enqueue([sampleJob(queue, 1), sampleJob(queue, 2), sampleJob(queue, 3, delay: .seconds(3600))])
        let elsewhere = try backend.enqueue([sampleJob(queue + "-other", 4)])
        try expectEqual(try backend.cancel(queue: queue, id: ids[0]), .cancelled, "cancelling a ready job")
        try expectEqual(try backend.cancel(queue: queue, id: ids[2]), .cancelled, "cancelling a scheduled job")
        try expectEqual(try backend.job(queue: queue, id: ids[0]), nil, "a cancelled ready job looked up")
        try expectEqual(try backend.job(queue: queue, id: ids[2]), nil, "a cancelled scheduled job looked up")
        try expectEqual(try backend.list(queue: queue, state: .scheduled, offset: 0, limit: 10).count, 0, "scheduled jobs listed")
        try expectEqual(try backend.list(queue: queue, state: .ready, offset: 0, limit: 10).map(\.id), [ids[1]], "ready jobs listed")
        let stats = try backend.stats(queue: queue)
        try expectEqual(stats.ready, 1, "ready jobs after cancelling")
        try expectEqual(stats.scheduled, 0, "scheduled jobs after cancelling")

        try expectEqual(try backend.cancel(queue: queue, id: ids[0]), .notFound, "cancelling a cancelled job again")
        try expectEqual(try backend.cancel(queue: queue, id: JobID.generate()), .notFound, "cancelling an unknown id")
        try expectEqual(try backend.cancel(queue: queue, id: elsewhere[0]), .notFound, "cancelling a job of another queue")
        try expectEqual(try fetchAll(backend, queue).map(\.id), [ids[1]], "jobs fetched after cancelling")
        try expect(try backend.job(queue: queue + "-other", id: elsewhere[0]) != nil, "the other queue's job is gone")
    }

    /// A running job is never cancelled: the answer is `.running`, the job runs on and settles as
    /// usual. A done or dead job answers with its state and stays.
    public static func cancelRefusesRunningAndSettledJobs(_ backend: any JobBackend, queue: String) throws {
        let ids = try backend.enqueue([sampleJob(queue, 1), sampleJob(queue, 2)])
        let leased = try backend.fetch(queue: queue, limit: 2, lease: .seconds(60))
        try expectEqual(leased.map(\.id), ids, "fetched")
        try expectEqual(try backend.cancel(queue: queue, id: ids[0]), .running, "cancelling a running job")
        try expectEqual(try backend.job(queue: queue, id: ids[0])?.state, .running, "state of a running job after a refused cancel")
        try expectEqual(
            try backend.settle([(leased[0].lease, .done(retention: .seconds(3600))), (leased[1].lease, .dead(error: "broken"))]),
            [true, true], "settling after a refused cancel")
        try expectEqual(try backend.cancel(queue: queue, id: ids[0]), .settled(.done), "cancelling a done job")
        try expectEqual(try backend.cancel(queue: queue, id: ids[1]), .settled(.dead), "cancelling a dead job")
        try expectEqual(try backend.job(queue: queue, id: ids[0])?.state, .done, "state of the done job")
        try expectEqual(try backend.job(queue: queue, id: ids[1])?.state, .dead, "state of the dead job")
        try expectEqual(try backend.stats(queue: queue).processed, 1, "processed")
    }

    /// Cancelling a job frees its unique key, whether it was ready or scheduled: the next enqueue with
    /// that key adds a new job. Discarding in bulk frees keys too.
    public static func cancelFreesTheUniqueKey(_ backend: any JobBackend, queue: String) throws {
        let first = try backend.enqueue([sampleJob(queue, 1, uniqueKey: "report-7")])[0]
        try expectEqual(try backend.enqueue([sampleJob(queue, 2, uniqueKey: "report-7")])[0], first, "id for a held key")
        try expectEqual(try backend.cancel(queue: queue, id: first), .cancelled, "cancelling the key's holder")
        let second = try backend.enqueue([sampleJob(queue, 3, delay: .seconds(3600), uniqueKey: "report-7")])[0]
        try expect(second != first, "the key was still held after its job was cancelled")
        try expectEqual(try backend.cancel(queue: queue, id: second), .cancelled, "cancelling a scheduled holder")
        let third = try backend.enqueue([sampleJob(queue, 4, uniqueKey: "report-7")])[0]
        try expect(third != second, "the key was still held after its scheduled job was cancelled")
        try expectEqual(try backend.discardPending(queue: queue, PendingSelection(state: .ready), from: .start, limit: 10).discarded,
            1, "discarded in bulk")
        let fourth = try backend.enqueue([sampleJob(queue, 5, uniqueKey: "report-7")])[0]
        try expect(fourth != third, "the key was still held after its job was discarded in bulk")
        try expectEqual(try backend.stats(queue: queue).ready, 1, "ready jobs")
    }

    /// A bulk discard takes exactly the jobs in the state asked for, of the handler asked for, old
    /// enough; running jobs and jobs of other states or queues stay.
    public static func discardPendingPicksByStateHandlerAndAge(_ backend: any JobBackend, queue: String) throws {
        func job(_ handler: String, _ number: Int, delay: Duration = .zero) -> NewJob {
            NewJob(queue: queue, handler: handler, payload: Data(#"{"n":\#(number)}"#.utf8), maxAttempts: 3, delay: delay)
        }
        let running = try backend.enqueue([job("bulk.old", 0)])[0]
        let lease = try require(try backend.fetch(queue: queue, limit: 1, lease: .seconds(60)).first, "nothing fetched").lease
        try expectEqual(lease.jobID, running, "fetched")
        let old = try backend.enqueue([job("bulk.old", 1), job("bulk.old", 2), job("bulk.old", 3)])
        let other = try backend.enqueue([job("bulk.other", 4), job("bulk.other", 5)])
        let later = try backend.enqueue([job("bulk.old", 6, delay: .seconds(3600)), job("bulk.other", 7, delay: .seconds(3600))])
        _ = try backend.enqueue([NewJob(queue: queue + "-other", handler: "bulk.old", payload: Data("{}".utf8), maxAttempts: 3)])

        func discard(_ selection: PendingSelection) throws -> Int { try backend.discardAllPending(queue: queue, selection, batch: 100) }
        try expectEqual(try discard(PendingSelection(state: .ready, olderThan: .seconds(3600))), 0, "ready jobs an hour old discarded")
        try expectEqual(try discard(PendingSelection(state: .ready, handler: "bulk.old")), 3, "ready bulk.old jobs discarded")
        for id in old { try expectEqual(try backend.job(queue: queue, id: id), nil, "a discarded job looked up") }
        try expectEqual(try backend.job(queue: queue, id: running)?.state, .running, "state of the running job")
        try expectEqual(Set(try backend.list(queue: queue, state: .ready, offset: 0, limit: 10).map(\.id)), Set(other), "ready jobs left")
        try expectEqual(try discard(PendingSelection(state: .scheduled, handler: "bulk.old")), 1, "scheduled bulk.old jobs discarded")
        try expectEqual(try backend.list(queue: queue, state: .scheduled, offset: 0, limit: 10).map(\.id), [later[1]], "scheduled jobs left")

        // Enqueued a moment ago is older than a millisecond once a moment has passed.
        pause(.milliseconds(50))
        try expectEqual(try discard(PendingSelection(state: .ready, olderThan: .milliseconds(1))), 2, "ready jobs older than 1 ms discarded")
        try expectEqual(try discard(PendingSelection(state: .scheduled)), 1, "scheduled jobs discarded")
        let stats = try backend.stats(queue: queue)
        try expectEqual([stats.ready, stats.scheduled, stats.running], [0, 0, 1], "ready, scheduled, running after the discards")
        try expectEqual(try backend.stats(queue: queue + "-other").ready, 1, "ready jobs of the other queue")
        do {
            _ = try backend.discardPending(queue: queue, PendingSelection(state: .running), from: .start, limit: 10)
            throw ConformanceFailure("a bulk discard of running jobs was accepted")
        } catch let error as BackendError {
            try expectEqual(error.code, .invalid, "the error for a bulk discard of running jobs")
        }
        try expectEqual(try backend.job(queue: queue, id: running)?.state, .running, "state of the running job at the end")
        try expectEqual(try backend.settle([(lease, .done(retention: .seconds(60)))]), [true], "settling the running job")
    }

    /// Each call discards at most its limit; called on with the cursor it answers, the discard takes
    /// every matching job, mixed in line with others, and ends.
    public static func discardPendingGoesInBoundedBatches(_ backend: any JobBackend, queue: String) throws {
        var matching: Set<String> = []
        var others: Set<String> = []
        for number in 0..<40 {
            let handler = number % 3 == 0 ? "bulk.keep" : "bulk.drop"
            let id = try backend.enqueue([
                NewJob(queue: queue, handler: handler, payload: Data(#"{"n":\#(number)}"#.utf8), maxAttempts: 3),
            ])[0]
            if handler == "bulk.drop" { matching.insert(id) } else { others.insert(id) }
        }
        var cursor: PendingCursor? = .start
        var total = 0
        var calls = 0
        while let from = cursor {
            let batch = try backend.discardPending(queue: queue, PendingSelection(state: .ready, handler: "bulk.drop"), from: from, limit: 7)
            try expect(batch.discarded <= 7, "a batch with limit 7 discarded \(batch.discarded)")
            total += batch.discarded
            cursor = batch.next
            calls += 1
            try expect(calls < 100, "the bulk discard did not end after 100 batches")
        }
        try expectEqual(total, matching.count, "jobs discarded in batches")
        try expectEqual(Set(try fetchAll(backend, queue).map(\.id)), others, "jobs left to fetch")
    }

    /// A search finds jobs whose id or handler equals the text or whose payload contains it, in every
    /// state, newest enqueued first, at most the limit; `%` and `_` are matched as themselves, letters
    /// case-sensitively; other queues are not searched.
    public static func searchByIDHandlerAndPayload(_ backend: any JobBackend, queue: String) throws {
        let specs: [(handler: String, payload: String)] = [
            ("search.plain", #"{"customer":"ACME-42","note":"50%_off"}"#),
            // Would match 50%_off with % as a wildcard, as abc would a_c with _ as one.
            ("search.plain", #"{"customer":"acme-42","note":"50 then 60_off"}"#),
            ("search.plain", #"{"code":"abc"}"#),
            ("search.plain", #"{"code":"a_c"}"#),
            ("search.special", #"{"n":1}"#),
            ("search.special", #"{"n":2}"#),
            ("search.special", #"{"n":3}"#),
        ]
        var ids: [String] = []
        let start = Date()
        for (index, spec) in specs.enumerated() {
            // Ids and enqueue times both rising, so "newest first" has one answer on every backend.
            let id = JobID.generate(now: start.addingTimeInterval(Double(index)))
            ids += try backend.enqueue([NewJob(id: id, queue: queue, handler: spec.handler, payload: Data(spec.payload.utf8), maxAttempts: 3)])
            pause(.milliseconds(15))
        }
        _ = try backend.enqueue([NewJob(queue: queue + "-other", handler: "search.special", payload: Data(specs[0].payload.utf8), maxAttempts: 3)])
        let leased = try fetchAll(backend, queue)
        try expectEqual(leased.map(\.id), ids, "fetched")
        // done, dead, ready, scheduled, running, ready, done.
        _ = try backend.settle([
            (leased[0].lease, .done(retention: .seconds(3600))), (leased[1].lease, .dead(error: "x")), (leased[2].lease, .release),
            (leased[3].lease, .retry(after: .seconds(3600), error: "later")), (leased[5].lease, .release),
            (leased[6].lease, .done(retention: .seconds(3600))),
        ])

        func search(_ text: String, limit: Int = 50) throws -> [String] {
            let result = try backend.search(queue: queue, text: text, limit: limit)
            try expect(!result.truncated, "a search of \(specs.count) jobs says it was truncated")
            return result.jobs.map(\.id)
        }
        try expectEqual(try search("ACME-42"), [ids[0]], "jobs whose payload holds ACME-42")
        try expectEqual(try search("50%_off"), [ids[0]], "jobs whose payload holds 50%_off")
        try expectEqual(try search("a_c"), [ids[3]], "jobs whose payload holds a_c")
        try expectEqual(try search("acme"), [ids[1]], "jobs whose payload holds acme (lowercase)")
        try expectEqual(try search("search.special"), [ids[6], ids[5], ids[4]], "jobs of handler search.special, newest first")
        try expectEqual(try search("search.special", limit: 2), [ids[6], ids[5]], "jobs of handler search.special, limit 2")
        try expectEqual(try search("search.spec"), [], "jobs for part of a handler's name")
        try expectEqual(try search(ids[2]), [ids[2]], "jobs for an id")
        try expectEqual(try search("nothing like it"), [], "jobs for a text no job holds")
        try expectEqual(try search("\"code\""), [ids[3], ids[2]], "jobs whose payload holds \"code\", newest first")
        let states = try backend.search(queue: queue, text: "search.plain", limit: 10).jobs.map(\.state)
        try expectEqual(states, [.scheduled, .ready, .dead, .done], "states of the search.plain jobs, newest first")
        try expectEqual(try backend.search(queue: queue, text: "search.special", limit: 10).jobs.map(\.state), [.done, .ready, .running],
            "states of the search.special jobs, newest first")
        do {
            _ = try backend.search(queue: queue, text: "", limit: 10)
            throw ConformanceFailure("a search for an empty text was accepted")
        } catch let error as BackendError {
            try expectEqual(error.code, .invalid, "the error for a search for an empty text")
        }
    }
}
