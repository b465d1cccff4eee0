import Backend
import Foundation
import JobHostTesting
import Synchronization
import Testing

@testable import PostgresBackend
@testable import PostgresClient

/// Connections: passwords never shown, broken connections replaced, every call bounded.
@Suite struct ConnectionTests {
    @Test func maskingHidesPasswordsInEveryForm() {
        let cases = [
            ("postgres://app:s3cr%40t!@db.example:5432/jobs?sslmode=require", "postgres://app:****@db.example:5432/jobs?sslmode=require"),
            ("postgresql://app:hunter2@db/jobs", "postgresql://app:****@db/jobs"),
            ("postgres://db/jobs?user=app&password=hunter2&sslmode=disable", "postgres://db/jobs?user=app&password=****&sslmode=disable"),
            ("host=db user=app password=hunter2 dbname=jobs", "host=db user=app password=**** dbname=jobs"),
            ("host=db password = 'two words\\' here' dbname=jobs", "host=db password = '****' dbname=jobs"),
            ("postgres://app@db/jobs", "postgres://app@db/jobs"),
        ]
        for (conninfo, masked) in cases {
            #expect(scrub(conninfo, PGEndpoint.passwords(in: conninfo)) == masked)
        }
    }

    /// A login refused for a wrong password: the error names the server and the user, never the
    /// password, for the backend and the migrator alike.
    @Test func wrongPasswordNeverAppearsInTheError() async throws {
        let server = try await SharedPostgres.server
        let role = "jh_pw_\(UInt32.random(in: 0...UInt32.max))"
        let wrong = "Wr0ng-Pa55word-\(UInt32.random(in: 0...UInt32.max))"
        _ = try await server.psql("CREATE ROLE \(role) LOGIN PASSWORD 'Right-\(wrong)'")
        // The test server trusts everyone; this role alone must give a password (the first line wins).
        let hba = server.directory.appendingPathComponent("data/pg_hba.conf")
        let rules = try String(contentsOf: hba, encoding: .utf8)
        try ("host all \(role) 127.0.0.1/32 scram-sha-256\n" + rules).write(to: hba, atomically: false, encoding: .utf8)
        _ = try await server.psql("SELECT pg_reload_conf()")

        let encoded = wrong.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let url = "postgres://\(role):\(encoded)@127.0.0.1:\(server.port)/\(server.database)"
        let backend = PostgresBackend(url: url, schema: "jobhost", poolSize: 1, connectTimeout: testConnectTimeout, logger: testLogger)
        let error = try #require(await failure { try backend.ping() })
        #expect(error.message.contains("password authentication failed"), "\(error)")
        #expect(error.message.contains(role), "\(error)")
        #expect(!error.message.contains(wrong) && !error.message.contains(encoded), "\(error)")
        #expect(error.code == .server, "a refused login is not worth retrying")

        let migration = try #require(await failure {
            try PostgresMigrator(url: url, schema: "jobhost", connectTimeout: testConnectTimeout, logger: testLogger).migrate()
        })
        #expect(!migration.message.contains(wrong) && !migration.message.contains(encoded), "\(migration)")

        let right = "postgres://\(role):Right-\(encoded)@127.0.0.1:\(server.port)/\(server.database)"
        let status = try await onThread {
            try PostgresMigrator(url: right, schema: "jobhost", connectTimeout: testConnectTimeout, logger: testLogger).status()
        }
        #expect(!status.isEmpty, "the right password logs in")
    }

    @Test func badURLIsInvalidWithoutQuotingIt() async throws {
        let backend = PostgresBackend(
            url: "postgres://app:hunter2@db:notaport/jobs?bogus=1", schema: "jobhost", poolSize: 1, connectTimeout: .seconds(2), logger: testLogger)
        let error = try #require(await failure { try backend.ping() })
        #expect(error.code == .invalid)
        #expect(!error.message.contains("hunter2"), "\(error)")
    }

    @Test func unreachableServerIsUnavailable() async throws {
        // Port 1: privileged, nothing listens there, so the connection is refused at once.
        let backend = PostgresBackend(
            url: "postgres://app:hunter2@127.0.0.1:1/jobs", schema: "jobhost", poolSize: 1, connectTimeout: .seconds(2), logger: testLogger)
        let error = try #require(await failure { try backend.ping() })
        #expect(error.code == .unavailable && error.isTransient)
        // Refused, not timed out: the error says what happened at the socket.
        #expect(error.message.contains("Connection refused"), "\(error)")
        #expect(!error.message.contains("hunter2"))
    }

    /// Pooled connections killed by the server (a restart, an operator) are noticed before use and
    /// replaced: the next call simply works.
    @Test func killedPoolConnectionsAreReplacedOnTheNextCall() async throws {
        let server = try await SharedPostgres.server
        let name = "jh_kill_pool_\(UInt32.random(in: 0...UInt32.max))"
        let schema = freshSchema("killpool")
        let backend = try await makeBackend(server, schema: schema, url: server.url + "?application_name=\(name)", poolSize: 2)
        try await onThread { _ = try backend.enqueue([sampleJob("q", 1)]) }
        let killed = try await server.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '\(name)'")
        #expect(killed == "1")
        try await Task.sleep(for: .milliseconds(100))
        let leased = try await onThread { try backend.fetch(queue: "q", limit: 10, lease: .seconds(30)) }
        #expect(leased.count == 1)
    }

    /// A statement stuck behind another session's row lock is cancelled by the server after the
    /// command timeout (`.unavailable`, worth a retry), and the connection serves the next call.
    @Test func callsAreBoundedByTheCommandTimeout() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("timeout")
        _ = try await makeBackend(server, schema: schema)
        let backend = PostgresBackend(
            url: server.url, schema: schema, poolSize: 1, connectTimeout: testConnectTimeout, commandTimeout: .seconds(1), logger: testLogger)
        let leased = try await onThread { () throws -> LeasedJob in
            _ = try backend.enqueue([sampleJob("q", 1)])
            return try backend.fetch(queue: "q", limit: 1, lease: .seconds(60))[0]
        }
        let holderDone = Atomic<Bool>(false)
        let holder = Task {
            defer { holderDone.store(true, ordering: .releasing) }
            // Holds the lock until this test ends the session: however slow the machine, never before the call below.
            return try await server.psql("BEGIN; SELECT id FROM \(schema).jobs FOR UPDATE; SELECT pg_sleep(3600); COMMIT;")
        }
        // Locking the row gave the other session a transaction id, held until it commits.
        try await waitUntil("the other session holding the row lock") {
            try await server.psql("""
                SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                WHERE l.locktype = 'transactionid' AND l.granted AND a.query LIKE '%pg_sleep(3600)%' AND a.pid <> pg_backend_pid()
                """) == "1"
        }
        // Without the command timeout the call would wait for the lock and then succeed.
        let error = try #require(await failure { _ = try backend.settle([(leased.lease, .done(retention: .zero))]) })
        #expect(error.code == .unavailable, "\(error)")
        let lockReleased = holderDone.load(ordering: .acquiring)
        #expect(!lockReleased, "cut short by its own timeout while the lock was still held")
        _ = try await server.psql("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3600)%' AND pid <> pg_backend_pid()
            """)
        _ = try? await holder.value
        #expect(try await onThread { try backend.settle([(leased.lease, .done(retention: .zero))]) } == [true])
    }
}
