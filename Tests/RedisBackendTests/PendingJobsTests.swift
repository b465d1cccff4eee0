import Backend
import Foundation
import JobHostTesting
import Logging
import RedisBackend
import Testing

/// What Redis does its own way when cancelling, discarding in bulk and searching: a bounded scan, and
/// list entries removed by position.
@Suite struct RedisPendingJobsTests {
    @Test func searchReadsTheNewestJobsOfEachStateAndSaysWhenItStopped() async throws {
        try await withRedis { server in
            let backend = RedisBackend(
                url: server.url, keyPrefix: "jh", connectTimeout: .seconds(2), logger: Logger(label: "RedisPendingJobsTests"),
                searchScanLimit: 5)
            let (ids, found, byID, small) = try await onThread { () throws -> ([String], JobSearchResult, JobSearchResult, JobSearchResult) in
                var ids: [String] = []
                for number in 0..<12 { ids += try backend.enqueue([sampleJob("q", number)]) }
                _ = try backend.enqueue([sampleJob("small", 1), sampleJob("small", 2)])
                return (
                    ids, try backend.search(queue: "q", text: "test.echo", limit: 50), try backend.search(queue: "q", text: ids[0], limit: 50),
                    try backend.search(queue: "small", text: "test.echo", limit: 50)
                )
            }
            #expect(found.truncated)
            #expect(Set(found.jobs.map(\.id)) == Set(ids.suffix(5)), "the five newest ready jobs")
            #expect(byID.jobs.map(\.id) == [ids[0]], "an id is found beyond the scan")
            #expect(byID.truncated)
            #expect(small.jobs.count == 2 && !small.truncated)
        }
    }

    @Test func bulkDiscardLeavesNoMarkInTheReadyList() async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            let (kept, discarded) = try await onThread { () throws -> ([String], Int) in
                var kept: [String] = []
                for number in 0..<30 {
                    let job = NewJob(
                        queue: "q", handler: number % 2 == 0 ? "keep" : "drop", payload: Data("{}".utf8), maxAttempts: 3)
                    let id = try backend.enqueue([job])[0]
                    if number % 2 == 0 { kept.append(id) }
                }
                return (kept, try backend.discardAllPending(queue: "q", PendingSelection(state: .ready, handler: "drop"), batch: 4))
            }
            #expect(discarded == 15)
            let listed = try await redisCLI(server, ["LRANGE", "{jh:q}:ready", "0", "-1"]).split(separator: "\n").map(String.init)
            #expect(listed == kept.reversed(), "the ready list holds exactly the kept ids, in line")
            let fetched = try await onThread { try backend.fetch(queue: "q", limit: 100, lease: .seconds(30)).map(\.id) }
            #expect(fetched == kept)
            #expect(try await onThread { try backend.stats(queue: "q").dead } == 0)
        }
    }

    /// The `unique` hash keeps no entry for a cancelled or discarded job (enqueue would ignore it, as
    /// its holder is gone, but it would stay there for good).
    @Test func cancelAndBulkDiscardLeaveNoUniqueEntry() async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            let outcome = try await onThread { () throws -> (CancelOutcome, Int) in
                let first = try backend.enqueue([sampleJob("q", 1, uniqueKey: "one")])[0]
                _ = try backend.enqueue([sampleJob("q", 2, delay: .seconds(3600), uniqueKey: "two")])
                return (
                    try backend.cancel(queue: "q", id: first),
                    try backend.discardAllPending(queue: "q", PendingSelection(state: .scheduled))
                )
            }
            #expect(outcome.0 == .cancelled && outcome.1 == 1)
            #expect(try await redisCLI(server, ["HLEN", "{jh:q}:unique"]).trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        }
    }
}
