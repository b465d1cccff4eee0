import Backend
import Foundation
import JobHostTesting
import Testing

@testable import PostgresBackend

/// `<schema>.enqueue(…)`: the job exists if and only if the caller's transaction commits, whatever
/// the caller is (psql, Python), and it behaves like the backend's own enqueue.
@Suite struct SQLEnqueueTests {
    @Test func rolledBackEnqueueLeavesNothingAndCommittedOneIsFetched() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("txenqueue")
        let backend = try await makeBackend(server, schema: schema)

        let rolledBack = try await server.psql("""
            BEGIN;
            SELECT \(schema).enqueue('mailer.send', '{"to": "nobody"}', queue => 'emails');
            ROLLBACK;
            """)
        #expect(rolledBack.count == 26, "the id shown inside the rolled-back transaction: \(rolledBack)")
        try await onThread { () throws in
            #expect(try backend.stats(queue: "emails") == QueueStats(queue: "emails"))
            #expect(try backend.job(queue: "emails", id: rolledBack) == nil)
            #expect(try backend.fetch(queue: "emails", limit: 10, lease: .seconds(30)).isEmpty)
        }

        let committed = try await server.psql("""
            BEGIN;
            SELECT \(schema).enqueue('mailer.send', '{"to": "ada@example.com", "n": 1}', queue => 'emails', max_attempts => 4, timeout_ms => 1500);
            COMMIT;
            """)
        let leased = try await onThread { try backend.fetch(queue: "emails", limit: 10, lease: .seconds(30)) }
        try #require(leased.count == 1)
        #expect(leased[0].id == committed)
        #expect(leased[0].handler == "mailer.send")
        // jsonb's own rendering of what the caller passed.
        #expect(String(decoding: leased[0].payload, as: UTF8.self) == #"{"n": 1, "to": "ada@example.com"}"#)
        #expect(leased[0].maxAttempts == 4)
        #expect(leased[0].timeout == .milliseconds(1500))
        #expect(leased[0].attempt == 1)
    }

    @Test func sqlIdsLookLikeJobIDsAndSortByTime() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("ids")
        _ = try await makeBackend(server, schema: schema)
        let before = JobID.generate()
        try await Task.sleep(for: .milliseconds(5))
        let ids = try await server.psql("SELECT \(schema).new_job_id() FROM generate_series(1, 200)").split(separator: "\n").map(String.init)
        try await Task.sleep(for: .milliseconds(5))
        let after = JobID.generate()

        let alphabet = Set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        #expect(Set(ids).count == 200, "ids repeat")
        for id in ids {
            #expect(id.count == 26 && id.allSatisfy(alphabet.contains), "\(id) is not 26 characters of Crockford base32")
            #expect(before < id && id < after, "\(id) does not sort between \(before) and \(after)")
        }
        let milliseconds = ids[0].prefix(10).reduce(0) { $0 * 32 + Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ").firstIndex(of: $1)! }
        let made = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        #expect(abs(made.timeIntervalSinceNow) < 60, "the id's time \(made) is far from now")
    }

    @Test func uniqueKeysAndScheduledJobsWorkAsInTheBackend() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("sqlunique")
        let backend = try await makeBackend(server, schema: schema)
        let first = try await onThread { try backend.enqueue([sampleJob("q", 1, uniqueKey: "sync:7")])[0] }
        let fromSQL = try await server.psql("SELECT \(schema).enqueue('test.echo', '{}', queue => 'q', unique_key => 'sync:7')")
        #expect(fromSQL == first, "a live key's holder")

        let later = try await server.psql(
            "SELECT \(schema).enqueue('test.echo', '{}', queue => 'q', run_at => now() + interval '1 hour', unique_key => 'sync:8')")
        let again = try await server.psql("SELECT \(schema).enqueue('test.echo', '[1]', queue => 'q', unique_key => 'sync:8')")
        #expect(again == later, "a scheduled holder keeps its key")
        try await onThread { () throws in
            #expect(try backend.job(queue: "q", id: later)?.state == .scheduled)
            #expect(try backend.enqueue([sampleJob("q", 2, uniqueKey: "sync:8")]) == [later])
            let stats = try backend.stats(queue: "q")
            #expect(stats.ready == 1 && stats.scheduled == 1)
        }
    }

    @Test func badArgumentsAreRefusedWithTheirReason() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("sqlbad")
        _ = try await makeBackend(server, schema: schema)
        let calls = [
            ("'', '{}'", "handler must be a non-empty name"),
            ("'h', '{}', queue => ''", "queue must be a non-empty name"),
            ("'h', NULL", "payload must not be NULL"),
            ("'h', '{}', max_attempts => 0", "max_attempts must be at least 1"),
            ("'h', '{}', timeout_ms => 0", "timeout_ms must be positive"),
        ]
        for (arguments, reason) in calls {
            do {
                _ = try await server.psql("SELECT \(schema).enqueue(\(arguments))")
                Issue.record("enqueue(\(arguments)) succeeded")
            } catch let error as HarnessError {
                #expect("\(error)".contains(reason), "\(error)")
            }
        }
        #expect(try await server.psql("SELECT count(*) FROM \(schema).jobs") == "0")
    }

    /// psycopg (Python) as an application would use it: the enqueue inside its own transaction.
    @Test func enqueueFromPythonWithPsycopg() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("python")
        let backend = try await makeBackend(server, schema: schema)
        // Debian's own Python, where the python3-psycopg package installs psycopg, else whichever python3
        // comes first on PATH.
        var python = "python3"
        for candidate in ["/usr/bin/python3", "python3"] {
            if try await ChildProcess.run(candidate, ["-c", "import psycopg"], timeout: .seconds(30)).status == 0 {
                python = candidate
                break
            }
        }
        let probe = try await ChildProcess.run(python, ["-c", "import psycopg"], timeout: .seconds(30))
        try #require(
            probe.status == 0,
            """
            Python's psycopg is missing, so enqueueing from Python cannot be tested: \
            install Debian's python3-psycopg (scripts/install-deps --test does). \(probe.stderr)
            """)
        let script = """
            import sys
            import psycopg
            url, schema = sys.argv[1], sys.argv[2]
            with psycopg.connect(url) as conn:
                with conn.transaction():
                    conn.execute("CREATE TEMP TABLE orders (id int)")
                    conn.execute("INSERT INTO orders VALUES (42)")
                    row = conn.execute(
                        f"SELECT {schema}.enqueue(%s, %s::jsonb, queue => %s, max_attempts => %s)",
                        ("orders.confirm", '{"order": 42}', "py", 5)).fetchone()
                    print(row[0])
                try:
                    with conn.transaction():
                        conn.execute(f"SELECT {schema}.enqueue(%s, %s::jsonb, queue => %s)", ("orders.never", "{}", "py"))
                        raise RuntimeError("the application changes its mind")
                except RuntimeError:
                    pass
            """
        let result = try await ChildProcess.run(python, ["-c", script, server.url, schema], timeout: .seconds(60))
        try #require(result.status == 0, "python exited \(result.status): \(result.stderr)")
        let id = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let leased = try await onThread { try backend.fetch(queue: "py", limit: 10, lease: .seconds(30)) }
        #expect(leased.map(\.id) == [id], "only the committed job")
        #expect(leased.first?.handler == "orders.confirm")
        #expect(leased.first.map { String(decoding: $0.payload, as: UTF8.self) } == #"{"order": 42}"#)
        #expect(leased.first?.maxAttempts == 5)
    }

    /// Migration 11 replaces `enqueue` of seven parameters by one of nine: a role allowed to run the old
    /// one may run the new one, calls that leave the new parameters out still resolve (no ambiguous
    /// overload), and a concurrency key given in SQL caps the key's running jobs like the backend's own.
    @Test func concurrencyKeysFromSQLAndTheOldGrantCarriedOver() async throws {
        let server = try await SharedPostgres.server
        let name = freshSchema("sqlconcurrency")
        let schema = try PGSchema(name)
        let role = "app_" + name
        // The schema as it was before migration 11, with an application role allowed to enqueue.
        let before = Migration.all.filter { $0.version < 11 }.map { $0.sql(schema) }.joined(separator: "\n")
        _ = try await server.psql("CREATE SCHEMA \(name);\n\(before)")
        _ = try await server.psql("""
            CREATE ROLE \(role);
            GRANT USAGE ON SCHEMA \(name) TO \(role);
            GRANT EXECUTE ON FUNCTION \(name).enqueue(text, jsonb, text, timestamptz, integer, text, integer) TO \(role);
            """)
        // In a transaction, as the migrator runs it.
        _ = try await server.psql("BEGIN;\n\(Migration.concurrency.sql(schema))\nCOMMIT;")
        let allowed = try await server.psql("""
            SELECT has_function_privilege('\(role)', '\(name).enqueue(text, jsonb, text, timestamptz, integer, text, integer, text, integer)', 'EXECUTE'),
                   has_function_privilege('public', '\(name).enqueue(text, jsonb, text, timestamptz, integer, text, integer, text, integer)', 'EXECUTE')
            """)
        #expect(allowed == "t|f", "the role may run the new enqueue, PUBLIC may not: \(allowed)")
        _ = try await server.psql("DROP SCHEMA \(name) CASCADE; DROP ROLE \(role);")

        let fresh = freshSchema("sqlkeys")
        let backend = try await makeBackend(server, schema: fresh)
        let old = try await server.psql("SELECT \(fresh).enqueue('reports.build', '{}', 'reports')")
        let keyed = try await server.psql("""
            SELECT \(fresh).enqueue('reports.build', '{"n": 1}', queue => 'reports', concurrency_key => 'company:7');
            SELECT \(fresh).enqueue('reports.build', '{"n": 2}', queue => 'reports', concurrency_key => 'company:7');
            """).split(separator: "\n").map(String.init)
        let leased = try await onThread { try backend.fetch(queue: "reports", limit: 10, lease: .seconds(30)).map(\.id) }
        #expect(Set(leased) == [old, keyed[0]], "one job of the key beside the plain one: \(leased)")
        let refused = await #expect(throws: (any Error).self) {
            try await server.psql("SELECT \(fresh).enqueue('reports.build', '{}', concurrency_key => 'k', concurrency_limit => 0)")
        }
        #expect("\(refused.map { "\($0)" } ?? "")".contains("concurrency_limit of key k must be from 1"), "\(String(describing: refused))")
    }

}
