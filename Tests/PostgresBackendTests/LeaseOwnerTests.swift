import Backend
import Foundation
import Glibc
import JobHostTesting
import Testing

@testable import PostgresBackend

/// Owned leases in PostgreSQL terms: `jobs.lease_owner`, and claims whose reply was lost.
@Suite struct PostgresLeaseOwnerTests {
    /// Every fetch call writes its own owner id into the rows it claims, and a claim of a job released
    /// earlier overwrites the old one. Jobs enqueued by `enqueue()` start without one.
    @Test func claimRecordsItsOwnerId() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("claimowner")
        _ = try await makeBackend(server, schema: schema)
        let backend = ownedBackend(server, schema: schema, leaseOwner: "web-1#7f3a/w2")
        _ = try await server.psql("SELECT \(schema).enqueue('test.echo', '{}', queue => 'q')")
        #expect(try await server.psql("SELECT count(*) FROM \(schema).jobs WHERE lease_owner IS NULL") == "1")
        let (first, second) = try await onThread { () throws -> (LeasedJob, LeasedJob) in
            _ = try backend.enqueue([sampleJob("q", 1)])
            let first = try backend.fetch(queue: "q", limit: 1, lease: .seconds(60))[0]
            let second = try backend.fetch(queue: "q", limit: 1, lease: .seconds(60))[0]
            return (first, second)
        }
        func owner(_ id: String) async throws -> String {
            try await server.psql("SELECT lease_owner FROM \(schema).jobs WHERE id = '\(id)'")
        }
        #expect(try await owner(first.id) == "web-1#7f3a/w2/1")
        #expect(try await owner(second.id) == "web-1#7f3a/w2/2")
        // A released job keeps its old place in line, behind where this instance's claims look now: a
        // busy machine may defer the claim's look from the head (ClaimCursors), so fetch until it is
        // back, counting the fetch calls.
        let (again, calls) = try await onThread { () throws -> (LeasedJob?, Int) in
            _ = try backend.settle([(first.lease, .release)])
            for call in 3...1000 {
                if let job = try backend.fetch(queue: "q", limit: 1, lease: .seconds(60)).first { return (job, call) }
                Thread.sleep(forTimeInterval: 0.01)
            }
            return (nil, 0)
        }
        #expect(again?.id == first.id)
        #expect(try await owner(first.id) == "web-1#7f3a/w2/\(calls)")
    }

    /// The server process of the pooled connection is stopped (SIGSTOP) while a claim is sent to it:
    /// the client gives up after its command timeout and drops the connection. Resumed, the server
    /// runs the claim and commits it (autocommit commits before the reply is sent, and the reply's
    /// failure does not undo it), so the jobs are leased to a fetch nobody heard back from. The same
    /// instance's next fetch takes them back first (release: no attempt used) and hands them out.
    @Test func claimWhoseReplyWasLostIsReleasedByTheNextFetch() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("lostclaim")
        _ = try await makeBackend(server, schema: schema)
        let name = "jh_lost_claim_\(UInt32.random(in: 0...UInt32.max))"
        let backend = ownedBackend(
            server, schema: schema, leaseOwner: "web-1#7f3a/w1", url: server.url + "?application_name=\(name)", poolSize: 1,
            commandTimeout: .seconds(1))
        let ids = try await onThread { () throws -> [String] in
            let ids = try backend.enqueue([sampleJob("q", 1), sampleJob("q", 2), sampleJob("q", 3)])
            _ = try backend.fetch(queue: "elsewhere", limit: 1, lease: .seconds(60))  // fetch call 1
            return ids
        }
        let pid = try #require(Int32(try await server.psql("SELECT pid FROM pg_stat_activity WHERE application_name = '\(name)'")))

        kill(pid, SIGSTOP)
        let error = try await failure { _ = try backend.fetch(queue: "q", limit: 3, lease: .seconds(60)) }
        kill(pid, SIGCONT)
        #expect(error?.code == .unavailable, "\(String(describing: error))")

        // The claim the client gave up on commits once its server process runs again.
        var leased = ""
        for _ in 0..<200 where leased != "3" {
            leased = try await server.psql(
                "SELECT count(*) FROM \(schema).jobs WHERE state = 'running' AND lease_owner = 'web-1#7f3a/w1/2'")
            if leased != "3" { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(leased == "3", "the claim the client gave up on did not commit when its server process resumed")

        let next = try await onThread { try backend.fetch(queue: "q", limit: 10, lease: .seconds(60)) }
        #expect(Set(next.map(\.id)) == Set(ids), "the next fetch did not get the jobs the lost claim leased")
        #expect(next.allSatisfy { $0.attempt == 1 }, "\(next.map(\.attempt))")
        #expect(try await server.psql("SELECT DISTINCT lease_owner FROM \(schema).jobs WHERE queue = 'q'") == "web-1#7f3a/w1/3")
        let stats = try await onThread { try backend.stats(queue: "q") }
        #expect(stats.failed == 0 && stats.running == 3)
        #expect(backend.owners.pending.isEmpty, "the lost claim is still remembered after its jobs came back")
    }

    /// A claim stuck behind another session's lock on the jobs table past the command timeout is
    /// cancelled by the server (`statement_timeout`) and rolls back: nothing is leased, and the next
    /// fetch, which first looks for the lost claim's jobs and finds none, gets the jobs on their
    /// first attempt.
    @Test func claimBlockedPastTheCommandTimeoutLeasesNothing() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("blockedclaim")
        _ = try await makeBackend(server, schema: schema)
        let backend = ownedBackend(server, schema: schema, leaseOwner: "web-1#7f3a/w1", commandTimeout: .seconds(1))
        let ids = try await onThread { try backend.enqueue([sampleJob("q", 1), sampleJob("q", 2)]) }
        let holder = Task {
            // Held far longer than a slow machine could take to send the claim; ended below once the claim failed.
            try await server.psql("BEGIN; LOCK TABLE \(schema).jobs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT;")
        }
        // The claim must meet the lock: wait until the other session holds it.
        try await waitUntil("the other session holds the lock on the jobs table") {
            try await server.psql("""
                SELECT count(*) FROM pg_locks AS l JOIN pg_class AS c ON c.oid = l.relation
                JOIN pg_namespace AS n ON n.oid = c.relnamespace
                WHERE n.nspname = '\(schema)' AND c.relname = 'jobs' AND l.mode = 'AccessExclusiveLock' AND l.granted
                """) == "1"
        }
        let error = try await failure { _ = try backend.fetch(queue: "q", limit: 2, lease: .seconds(60)) }
        #expect(error?.code == .unavailable, "\(String(describing: error))")
        #expect(backend.owners.pending.map(\.owner) == ["web-1#7f3a/w1/1"])
        _ = try await server.psql("""
            SELECT pg_cancel_backend(l.pid) FROM pg_locks AS l JOIN pg_class AS c ON c.oid = l.relation
            JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname = '\(schema)' AND c.relname = 'jobs' AND l.mode = 'AccessExclusiveLock' AND l.granted
            """)
        _ = try? await holder.value
        #expect(try await server.psql("SELECT count(*) FROM \(schema).jobs WHERE state = 'running'") == "0")

        let next = try await onThread { try backend.fetch(queue: "q", limit: 10, lease: .seconds(60)) }
        #expect(next.map(\.id) == ids)
        #expect(next.allSatisfy { $0.attempt == 1 })
    }
}
