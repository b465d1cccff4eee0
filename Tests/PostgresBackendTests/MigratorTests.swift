import Backend
import Foundation
import JobHostTesting
import Testing

@testable import PostgresBackend

/// Migrations: status, the dry-run script, concurrent migrators, and a backend on an unmigrated schema.
@Suite struct MigratorTests {
    private func migrator(_ server: PostgresServer, _ schema: String) -> PostgresMigrator {
        PostgresMigrator(url: server.url, schema: schema, connectTimeout: testConnectTimeout, logger: testLogger)
    }

    @Test func racingMigratorsAllSucceedAndApplyEachMigrationOnce() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("race")
        let migrators = (0..<4).map { _ in migrator(server, schema) }
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for migrator in migrators { group.addTask { try await onThread { try migrator.migrate() } } }
            return try await group.reduce(into: [[Int]]()) { $0.append($1) }
        }
        // Each migration is its own transaction, so migrators may share the work; each is applied once.
        #expect(applied.flatMap { $0 }.sorted() == Migration.all.map(\.version), "versions applied, across all migrators: \(applied)")
        #expect(applied.allSatisfy { $0 == $0.sorted() }, "each migrator applies in version order: \(applied)")
        let rows = try await server.psql("SELECT version, name FROM \(schema).schema_migrations ORDER BY version")
        #expect(rows == Migration.all.map { "\($0.version)|\($0.name)" }.joined(separator: "\n"))
        #expect(try await onThread { try migrators[0].migrate() } == [], "a migrated schema migrates again")
    }

    @Test func statusAndDryRunShowWhatMigrateWouldDo() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("dryrun")
        let migrator = migrator(server, schema)

        let before = try await onThread { try migrator.status() }
        #expect(before.map(\.version) == Migration.all.map(\.version))
        #expect(before.allSatisfy { $0.appliedAt == nil })
        let script = try await onThread { try migrator.pendingSQL() }
        for expected in [
            "BEGIN;", "pg_advisory_xact_lock", "CREATE SCHEMA \"\(schema)\";", "CREATE TABLE \"\(schema)\".jobs",
            "CREATE FUNCTION \"\(schema)\".enqueue(", "INSERT INTO \"\(schema)\".schema_migrations (version, name) VALUES (1, 'jobs');",
            "COMMIT;",
        ] {
            #expect(script.contains(expected), "the dry run lacks \(expected)")
        }
        // A dry run writes nothing.
        #expect(try await server.psql("SELECT count(*) FROM pg_namespace WHERE nspname = '\(schema)'") == "0")

        // The script is what an operator may review and run by hand: psql applies it as it is.
        _ = try await server.psql(script)
        let after = try await onThread { try migrator.status() }
        #expect(after.allSatisfy { $0.appliedAt != nil }, "\(after)")
        #expect(try await onThread { try migrator.migrate() } == [])
        let upToDate = try await onThread { try migrator.pendingSQL() }
        #expect(upToDate.contains("is up to date (version \(Migration.latest))"), "\(upToDate)")
        let backend = PostgresBackend(url: server.url, schema: schema, poolSize: 1, connectTimeout: testConnectTimeout, logger: testLogger)
        try await onThread { try backend.ping() }
    }

    /// A role that may not create schemas migrates into one an administrator created for it (`CREATE
    /// SCHEMA IF NOT EXISTS` would fail for it even though the schema exists) and then runs jobs.
    @Test func migratesIntoASchemaCreatedByAnAdministrator() async throws {
        let server = try await SharedPostgres.server
        let role = "jh_owner_\(UInt32.random(in: 0...UInt32.max))"
        let schema = freshSchema("adminmade")
        _ = try await server.psql("CREATE ROLE \(role) LOGIN; CREATE SCHEMA \(schema) AUTHORIZATION \(role);")
        #expect(try await server.psql("SELECT has_database_privilege('\(role)', current_database(), 'CREATE')") == "f")
        let url = "postgres://\(role)@127.0.0.1:\(server.port)/\(server.database)"
        let applied = try await onThread {
            try PostgresMigrator(url: url, schema: schema, connectTimeout: testConnectTimeout, logger: testLogger).migrate()
        }
        #expect(applied == Migration.all.map(\.version))
        let backend = PostgresBackend(url: url, schema: schema, poolSize: 1, connectTimeout: testConnectTimeout, logger: testLogger)
        let fetched = try await onThread { () throws -> Int in
            try backend.ping()
            _ = try backend.enqueue([sampleJob("q", 1)])
            return try backend.fetch(queue: "q", limit: 10, lease: .seconds(30)).count
        }
        #expect(fetched == 1)
    }

    /// A host that runs as a role other than the owner, with the rights docs/postgres.md lists (Roles),
    /// does everything a host does: enqueue, claim (keyed jobs too), settle done and dead (which counts a
    /// failed run), take alerts, publish routes, wait for work (marking itself as waiting).
    @Test func aHostRoleWithTheDocumentedRightsRunsEverything() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("hostrole")
        _ = try await makeBackend(server, schema: schema)
        let role = "jh_host_\(UInt32.random(in: 0...UInt32.max))"
        let tables = ["jobs", "queue_counters", "schedule_fires", "queue_pauses", "schedule_switches", "schedule_fire_history", "hosts",
                      "routes", "run_streaks", "run_alerts", "waiters"]
        _ = try await server.psql("""
            CREATE ROLE \(role) LOGIN;
            GRANT USAGE ON SCHEMA \(schema) TO \(role);
            GRANT SELECT, INSERT, UPDATE, DELETE ON \(tables.map { "\(schema).\($0)" }.joined(separator: ", ")) TO \(role);
            GRANT USAGE ON SEQUENCE \(schema).jobs_seq_seq TO \(role);
            """)
        let url = "postgres://\(role)@127.0.0.1:\(server.port)/\(server.database)"
        let backend = PostgresBackend(url: url, schema: schema, poolSize: 1, connectTimeout: testConnectTimeout, logger: testLogger)
        try await onThread { () throws in
            var keyed = sampleJob("q", 1)
            keyed.concurrency = ConcurrencyLimit(key: "k", limit: 1)
            _ = try backend.enqueue([keyed, sampleJob("q", 2)])
            let leased = try backend.fetch(queue: "q", limit: 10, lease: .seconds(30))
            #expect(leased.count == 2)
            #expect(try backend.settle(leased.map { ($0.lease, $0.id == keyed.id ? .done(retention: .seconds(60)) : .dead(error: "boom")) }) == [true, true])
            #expect(try backend.takeRunAlerts(queue: "q", limit: 10).count == 1, "the dead job's failed run")
            try backend.publishRoutes([RouteEntry(handler: "test.echo", queue: "q", maxAttempts: 3, timeout: .seconds(5))], by: "web-1")
            #expect(try backend.publishedRoutes().map(\.entry.handler) == ["test.echo"])
            try backend.waitForWork(queue: "idle", timeout: .milliseconds(50))
        }
        #expect(try await server.psql("SELECT count(*) FROM \(schema).waiters") == "0", "the wait's mark outlived it")
    }

    @Test func backendOnAnUnmigratedSchemaSaysToMigrate() async throws {
        let server = try await SharedPostgres.server
        let backend = PostgresBackend(url: server.url, schema: freshSchema("nomigration"), poolSize: 1, connectTimeout: testConnectTimeout, logger: testLogger)
        let ping = try await failure { try backend.ping() }
        #expect(ping?.code == .server)
        #expect(ping?.message.contains("host migrate") == true, "\(String(describing: ping))")
        let fetch = try await failure { _ = try backend.fetch(queue: "q", limit: 1, lease: .seconds(1)) }
        #expect(fetch?.message.contains("host migrate") == true, "\(String(describing: fetch))")
    }

    @Test func invalidSchemaNamesAreRefused() async throws {
        for name in ["", "Jobs", "1jobs", "pg_jobs", "job-host", "jobs; DROP TABLE x", String(repeating: "a", count: 49)] {
            let backend = PostgresBackend(url: "postgres://127.0.0.1:1/x", schema: name, poolSize: 1, connectTimeout: .seconds(2), logger: testLogger)
            let error = try await failure { try backend.ping() }
            #expect(error?.code == .invalid, "schema \"\(name)\": \(String(describing: error))")
            let migration = try await failure {
                try PostgresMigrator(url: "postgres://127.0.0.1:1/x", schema: name, connectTimeout: .seconds(2), logger: testLogger).migrate()
            }
            #expect(migration?.code == .invalid, "schema \"\(name)\"")
        }
    }
}
