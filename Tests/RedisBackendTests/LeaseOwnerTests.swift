import Backend
import Foundation
import Glibc
import JobHostTesting
import Testing

@testable import RedisBackend

/// Owned leases in Redis terms: the `lease_owner` field, and fetches whose reply was lost.
@Suite struct RedisLeaseOwnerTests {
    /// Every fetch call writes its own owner id into the hashes of the jobs it leases, and a fetch of a
    /// job released earlier overwrites the old one.
    @Test func fetchRecordsItsOwnerIdInTheJobHash() async throws {
        try await withRedis { server in
            let backend = makeBackend(server, leaseOwner: "web-1#7f3a/w2")
            let (first, second) = try await onThread { () throws -> (LeasedJob, LeasedJob) in
                _ = try backend.enqueue([sampleJob("q", 1), sampleJob("q", 2)])
                let first = try backend.fetch(queue: "q", limit: 1, lease: .seconds(60))[0]
                let second = try backend.fetch(queue: "q", limit: 1, lease: .seconds(60))[0]
                return (first, second)
            }
            #expect(try await redisCLI(server, ["HGET", "{jh:q}:job:\(first.id)", "lease_owner"]) == "web-1#7f3a/w2/1\n")
            #expect(try await redisCLI(server, ["HGET", "{jh:q}:job:\(second.id)", "lease_owner"]) == "web-1#7f3a/w2/2\n")
            let again = try await onThread { () throws -> LeasedJob? in
                _ = try backend.settle([(first.lease, .release)])
                return try backend.fetch(queue: "q", limit: 1, lease: .seconds(60)).first
            }
            #expect(again?.id == first.id)
            #expect(try await redisCLI(server, ["HGET", "{jh:q}:job:\(first.id)", "lease_owner"]) == "web-1#7f3a/w2/3\n")
        }
    }

    /// A fetch sent to a paused server times out on the client, and the server runs it once it
    /// resumes: the jobs are leased to a fetch nobody heard back from. The same instance's next fetch
    /// takes them back first (release: no attempt used) and hands them out.
    @Test func fetchWhoseReplyWasLostIsReleasedByTheNextFetch() async throws {
        try await withRedis { server in
            let backend = makeBackend(server, commandTimeout: .seconds(1), leaseOwner: "web-1#7f3a/w1")
            let ids = try await onThread { () throws -> [String] in
                let ids = try backend.enqueue([sampleJob("q", 1), sampleJob("q", 2), sampleJob("q", 3)])
                // Loads the fetch script: an unknown one would be refused (NOSCRIPT) by the resumed
                // server rather than run. Fetch call 1.
                _ = try backend.fetch(queue: "elsewhere", limit: 1, lease: .seconds(60))
                return ids
            }
            kill(server.pid, SIGSTOP)
            let error = try await failure(of: { _ = try backend.fetch(queue: "q", limit: 3, lease: .seconds(60)) })
            kill(server.pid, SIGCONT)
            #expect(error?.code == .unavailable, "\(String(describing: error))")

            // The lost fetch ran once the server resumed: its jobs are leased to its owner id.
            var leased = 0
            for _ in 0..<200 where leased < 3 {
                leased = Int(try await redisCLI(server, ["ZCARD", "{jh:q}:leases"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                if leased < 3 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(leased == 3, "the fetch the client gave up on did not lease the jobs when the server resumed")
            #expect(try await redisCLI(server, ["HGET", "{jh:q}:job:\(ids[0])", "lease_owner"]) == "web-1#7f3a/w1/2\n")

            let next = try await onThread { try backend.fetch(queue: "q", limit: 10, lease: .seconds(60)) }
            #expect(Set(next.map(\.id)) == Set(ids), "the next fetch did not get the jobs the lost fetch leased")
            #expect(next.allSatisfy { $0.attempt == 1 }, "\(next.map(\.attempt))")
            #expect(try await redisCLI(server, ["HGET", "{jh:q}:job:\(ids[0])", "lease_owner"]) == "web-1#7f3a/w1/3\n")
            let stats = try await onThread { try backend.stats(queue: "q") }
            #expect(stats.failed == 0 && stats.running == 3)
            #expect(backend.owners.pending.isEmpty, "the lost fetch is still remembered after its jobs came back")
        }
    }

    /// A fetch that failed without reaching a server leased nothing: the next fetches look for its jobs
    /// (finding none), and return the queue's jobs as usual.
    @Test func fetchThatNeverReachedTheServerCostsNothing() async throws {
        let server = try await RedisServer.start()
        let port = server.port
        server.stop()
        let backend = RedisBackend(
            url: "redis://127.0.0.1:\(port)", keyPrefix: "jh", connectTimeout: .seconds(1), commandTimeout: .seconds(1),
            logger: .init(label: "RedisLeaseOwnerTests"), leaseOwner: "web-1#7f3a/w1")
        let error = try await failure(of: { _ = try backend.fetch(queue: "q", limit: 3, lease: .seconds(60)) })
        #expect(error?.code == .unavailable)
        #expect(backend.owners.pending.map(\.owner) == ["web-1#7f3a/w1/1"])
    }
}
