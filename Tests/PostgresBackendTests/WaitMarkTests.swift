import Backend
import Foundation
import JobHostTesting
import Testing

@testable import PostgresBackend

/// Enqueues notify only while a host waits on the queue (migration 13's `waiters`): a waiting host
/// marks itself, an enqueue from SQL wakes it, and the wait's end clears the mark. An enqueue that read
/// the marks before the host wrote its own is seen by the host's look (migration 13's wake lock).
@Suite struct WaitMarkTests {
    @Test func sqlEnqueueWakesAWaitingHostWhoseWaitThenClearsItsMark() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("waitmark")
        let backend = try await makeBackend(server, schema: schema)
        let marks = "SELECT count(*) FROM \(schema).waiters WHERE queue = 'q'"

        let waiter = Task { try await onThread { try backend.waitForWork(queue: "q", timeout: .seconds(300)) } }
        try await waitUntil("the waiting host marked queue q in \(schema).waiters") { try await server.psql(marks) == "1" }
        let id = try await server.psql("SELECT \(schema).enqueue('test.echo', '{}', queue => 'q')")
        try await withinBound("the waiting host to wake for the job enqueued by SQL, not at its timeout of five minutes", timeout: .seconds(120)) {
            try await waiter.value
        }
        #expect(try await server.psql(marks) == "0", "the mark outlived the wait")
        let leased = try await onThread { try backend.fetch(queue: "q", limit: 10, lease: .seconds(60)) }
        #expect(leased.map(\.id) == [id])
    }

    /// The enqueue reads the marks while there are none, then its transaction stays open until the
    /// host has marked itself, and commits: it notifies no one, so only a look taken after its commit
    /// finds the job. Without the wake lock the host looked at once and slept out its two minutes.
    @Test(arguments: ["enqueue()", "jobhost's enqueue statement"])
    func anEnqueueStillOpenWhenAHostMarksItselfIsFoundOnceItCommits(_ path: String) async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("openenqueue")
        let backend = try await makeBackend(server, schema: schema)
        let enqueue =
            path == "enqueue()"
            ? "SELECT \(schema).enqueue('test.echo', '{}', queue => 'q');"
            : """
            PREPARE own_enqueue AS \(PGStatements(try PGSchema(schema)).enqueue.sql);
            EXECUTE own_enqueue(ARRAY['open-1'], ARRAY['q'], ARRAY['test.echo'], ARRAY['{}'], ARRAY[3], ARRAY[0], ARRAY[NULL::integer],
                ARRAY[NULL], ARRAY[NULL], ARRAY[NULL], ARRAY[NULL::integer]);
            """
        let go = "\(schema).go_ahead"
        _ = try await server.psql("CREATE TABLE \(go) ()")
        // Each look at the table inside the DO block takes a fresh snapshot, so the insert below ends the loop.
        let holding = "DO $$ BEGIN WHILE NOT EXISTS (SELECT FROM \(go)) LOOP PERFORM pg_sleep(0.02); END LOOP; END $$;"
        let producer = Task { try await server.psql("BEGIN;\n\(enqueue)\n\(holding)\nCOMMIT;", timeout: .seconds(300)) }
        try await waitUntil("the producer's enqueue ran and its transaction waits before committing") {
            try await server.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE position($q$\(go)) LOOP$q$ IN query) > 0 AND state = 'active' AND pid <> pg_backend_pid()"
            ) == "1"
        }

        let waiter = Task { try await onThread { try backend.waitForWork(queue: "q", timeout: .seconds(120)) } }
        try await waitUntil("the waiting host marked queue q") {
            try await server.psql("SELECT count(*) FROM \(schema).waiters WHERE queue = 'q'") == "1"
        }
        _ = try await server.psql("INSERT INTO \(go) DEFAULT VALUES")
        let enqueued = try await producer.value
        try await withinBound("the waiting host to find the job whose enqueue committed after the host marked itself", timeout: .seconds(60)) {
            try await waiter.value
        }
        let leased = try await onThread { try backend.fetch(queue: "q", limit: 10, lease: .seconds(60)) }
        #expect(leased.count == 1 && enqueued.contains(leased.first?.id ?? "none"), "fetched \(leased.map(\.id)) after the wait; the producer printed \(enqueued)")
    }

    /// psql prints the notifications its own session receives; the session listens, so an enqueue's
    /// NOTIFY shows in its output.
    @Test func enqueuesNotifyOnlyWhileAMarkHasNotEnded() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("notifyonlymarked")
        let backend = try await makeBackend(server, schema: schema)
        let enqueue = """
            LISTEN "\(schema).wake";
            SELECT 'enqueued ' || \(schema).enqueue('test.echo', '{}', queue => 'q');
            SELECT 'done';
            """

        let unmarked = try await server.psql(enqueue)
        #expect(unmarked.contains("enqueued "))
        #expect(!unmarked.contains("Asynchronous notification"), "notified with no host waiting: \(unmarked)")

        _ = try await server.psql("INSERT INTO \(schema).waiters (queue, backend, until) VALUES ('q', 0, now() - interval '1 second')")
        let ended = try await server.psql(enqueue)
        #expect(!ended.contains("Asynchronous notification"), "notified for a mark that ended: \(ended)")

        _ = try await server.psql("UPDATE \(schema).waiters SET until = now() + interval '1 hour'")
        let marked = try await server.psql(enqueue)
        #expect(marked.contains(#"Asynchronous notification "\#(schema).wake" with payload "q""#), "\(marked)")
        let other = try await server.psql(enqueue.replacingOccurrences(of: "queue => 'q'", with: "queue => 'other'"))
        #expect(!other.contains("Asynchronous notification"), "a mark on q woke queue other: \(other)")

        // jobhost's own enqueue statement reads the marks the same way.
        let statement = PGStatements(try PGSchema(schema)).enqueue.sql
        let own = { (id: String, queue: String) in
            """
            LISTEN "\(schema).wake";
            PREPARE own_enqueue AS \(statement);
            EXECUTE own_enqueue(ARRAY['\(id)'], ARRAY['\(queue)'], ARRAY['test.echo'], ARRAY['{}'], ARRAY[3], ARRAY[0], ARRAY[NULL::integer],
                ARRAY[NULL], ARRAY[NULL], ARRAY[NULL], ARRAY[NULL::integer]);
            SELECT 'done';
            """
        }
        let ownMarked = try await server.psql(own("own-1", "q"))
        #expect(ownMarked.contains(#"Asynchronous notification "\#(schema).wake" with payload "q""#), "\(ownMarked)")
        let ownUnmarked = try await server.psql(own("own-2", "other"))
        #expect(ownUnmarked.contains("own-2"))
        #expect(!ownUnmarked.contains("Asynchronous notification"), "notified with no host waiting on other: \(ownUnmarked)")
        let fetched = try await onThread { try backend.fetch(queue: "other", limit: 10, lease: .seconds(60)).map(\.id) }
        #expect(fetched.contains("own-2"))
    }
}
