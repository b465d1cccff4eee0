import Backend
import Foundation
import Logging
import PostgresClient

/// Whether one migration has been applied to a schema.
public struct MigrationStatus: Sendable, Equatable {
    public var version: Int
    public var name: String
    /// When it was applied (the database's clock); `nil` while pending.
    public var appliedAt: Date?

    public init(version: Int, name: String, appliedAt: Date?) {
        self.version = version
        self.name = name
        self.appliedAt = appliedAt
    }
}

/// Creates and upgrades the PostgreSQL schema the ``PostgresBackend`` uses.
///
/// Migrations are numbered and applied in order, each in a transaction of its own that also records
/// it in `<schema>.schema_migrations` (version, name, applied_at), so a failed migration leaves
/// nothing behind and a finished one is never applied again. Every transaction first takes a
/// transaction-scoped advisory lock for the schema (`pg_advisory_xact_lock`): hosts that start at
/// once and all migrate take turns, and each re-reads what is applied after it gets the lock.
public struct PostgresMigrator: Sendable {
    private let setup: Result<(endpoint: PGEndpoint, schema: PGSchema), BackendError>
    private let logger: Logger

    /// How long a migration may wait for a table lock before it gives up (and can be run again): a
    /// DDL statement queued behind a long query would block every query queued behind it.
    static let lockTimeout = "30s"

    /// - Parameters:
    ///   - url: `postgres://user:password@host:port/database` (any libpq connection string works).
    ///   - schema: the PostgreSQL schema to create and upgrade; see ``PostgresBackend`` for the rules.
    ///   - connectTimeout: how long connecting may take.
    ///   - logger: each migration applied.
    public init(url: String, schema: String = "jobhost", connectTimeout: Duration, logger: Logger) {
        self.logger = logger
        self.setup = Result { () throws(BackendError) in
            let schema = try PGSchema(schema)
            // No command timeout: a migration may wait for another host's, and may build indexes on
            // a large table. Connection loss is still noticed by TCP keepalives.
            let endpoint = try mapErrors { () throws(PostgresError) in
                try PGEndpoint(url: url, applicationName: "jobhost", role: "migrate", connectTimeout: connectTimeout, commandTimeout: nil)
            }
            return (endpoint, schema)
        }
    }

    /// Every migration this code knows, and any newer one the database records, in version order.
    public func status() throws(BackendError) -> [MigrationStatus] {
        let (endpoint, schema) = try setup.get()
        let connection = PGConnection(endpoint: endpoint, logger: logger)
        let applied = try Self.applied(connection, schema)
        var statuses = Migration.all.map { migration in
            MigrationStatus(version: migration.version, name: migration.name, appliedAt: applied[migration.version]?.appliedAt)
        }
        for (version, record) in applied where !Migration.all.contains(where: { $0.version == version }) {
            statuses.append(MigrationStatus(version: version, name: record.name, appliedAt: record.appliedAt))
        }
        return statuses.sorted { $0.version < $1.version }
    }

    /// The SQL that ``migrate()`` would run now, as a script `psql` can run: what `--dry-run` prints.
    /// Each pending migration is wrapped as ``migrate()`` runs it (transaction, advisory lock, lock
    /// timeout, the row in `schema_migrations`). Nothing is written.
    public func pendingSQL() throws(BackendError) -> String {
        let (endpoint, schema) = try setup.get()
        let connection = PGConnection(endpoint: endpoint, logger: logger)
        let applied = try Self.applied(connection, schema)
        let pending = Migration.all.filter { applied[$0.version] == nil }
        guard !pending.isEmpty else {
            return "-- schema \(schema.name) is up to date (version \(applied.keys.max() ?? 0)); nothing to apply\n"
        }
        let schemaExists = try Self.schemaExists(connection, schema)
        var script = "-- jobhost: \(pending.count) pending migration(s) for schema \(schema.name) at \(endpoint.display)\n"
        for (index, migration) in pending.enumerated() {
            script += "\n-- migration \(migration.version): \(migration.name)\n"
            script += "BEGIN;\n"
            script += Self.lockStatement(schema) + ";\n"
            if index == 0 { script += Self.bootstrap(schema, schemaExists: schemaExists) }
            script += "SET LOCAL lock_timeout = '\(Self.lockTimeout)';\n"
            script += migration.sql(schema).trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
            script += Self.recordStatement(schema, migration) + ";\n"
            script += "COMMIT;\n"
        }
        return script
    }

    /// Applies every pending migration, in order, each in its own transaction under the schema's
    /// advisory lock; returns the versions this call applied (none when another host was first).
    @discardableResult
    public func migrate() throws(BackendError) -> [Int] {
        let (endpoint, schema) = try setup.get()
        let connection = PGConnection(endpoint: endpoint, logger: logger)
        var appliedNow: [Int] = []
        while true {
            try mapErrors { () throws(PostgresError) in try connection.execute("BEGIN") }
            do throws(BackendError) {
                try mapErrors { () throws(PostgresError) in try connection.execute(Self.lockStatement(schema)) }
                // Under the lock: what another host did before we got it is visible now.
                let schemaExists = try Self.schemaExists(connection, schema)
                try mapErrors { () throws(PostgresError) in try connection.execute(Self.bootstrap(schema, schemaExists: schemaExists)) }
                let applied = try Self.applied(connection, schema)
                guard let next = Migration.all.first(where: { applied[$0.version] == nil }) else {
                    try mapErrors { () throws(PostgresError) in try connection.execute("COMMIT") }
                    return appliedNow
                }
                try mapErrors { () throws(PostgresError) in try connection.execute("SET LOCAL lock_timeout = '\(Self.lockTimeout)'") }
                do throws(BackendError) {
                    try mapErrors { () throws(PostgresError) in try connection.execute(next.sql(schema)) }
                } catch {
                    throw BackendError(error.code, "migration \(next.version) (\(next.name)) of schema \(schema.name) failed: \(error.message)")
                }
                try mapErrors { () throws(PostgresError) in
                    try connection.execute(Self.recordStatement(schema, next))
                    try connection.execute("COMMIT")
                }
                appliedNow.append(next.version)
                logger.info(
                    "applied a PostgreSQL migration",
                    metadata: ["postgres": "\(endpoint.display)", "schema": "\(schema.name)", "version": "\(next.version)", "name": "\(next.name)"])
            } catch {
                // Nothing of the failed migration stays; on a broken connection there is nothing to roll back.
                connection.rollback()
                throw error
            }
        }
    }

    // MARK: - SQL

    /// Serializes migrators of one schema, across hosts; released at commit or rollback. The first key
    /// says "jobhost migrations" (the bytes of "jobh"), the second picks the schema.
    static func lockStatement(_ schema: PGSchema) -> String {
        "SELECT pg_advisory_xact_lock(1785684584, hashtext('\(schema.name)'))"
    }

    /// The schema (when missing) and the migrations table. The schema is only created when it does
    /// not exist: `CREATE SCHEMA IF NOT EXISTS` needs the right to create schemas even when it exists,
    /// and a database administrator may have created it for a role without that right.
    static func bootstrap(_ schema: PGSchema, schemaExists: Bool) -> String {
        (schemaExists ? "" : "CREATE SCHEMA \(schema.quoted);\n") + """
            CREATE TABLE IF NOT EXISTS \(schema.qualified("schema_migrations")) (
                version     integer PRIMARY KEY,
                name        text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            );

            """
    }

    static func recordStatement(_ schema: PGSchema, _ migration: Migration) -> String {
        "INSERT INTO \(schema.qualified("schema_migrations")) (version, name) VALUES (\(migration.version), '\(migration.name)')"
    }

    private static func schemaExists(_ connection: PGConnection, _ schema: PGSchema) throws(BackendError) -> Bool {
        try mapErrors { () throws(PostgresError) in
            try connection.query("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", [schema.name]).count == 1
        }
    }

    /// What `schema_migrations` records, by version; empty when the table (or the schema) does not exist.
    private static func applied(_ connection: PGConnection, _ schema: PGSchema) throws(BackendError) -> [Int: (name: String, appliedAt: Date)] {
        let table = schema.qualified("schema_migrations")
        let rows = try mapErrors { () throws(PostgresError) -> PGRows? in
            guard try connection.query("SELECT to_regclass($1) IS NOT NULL", [table])[0, 0] == "t" else { return nil }
            return try connection.query(
                "SELECT version, name, (extract(epoch FROM applied_at) * 1000000)::bigint FROM \(table) ORDER BY version")
        }
        guard let rows else { return [:] }
        var applied: [Int: (name: String, appliedAt: Date)] = [:]
        for row in 0..<rows.count {
            guard let version = rows[row, 0].flatMap({ Int($0) }), let name = rows[row, 1],
                  let micros = rows[row, 2].flatMap({ Int64($0) })
            else {
                throw BackendError(.corrupt, "\(table) holds a row that is not a migration record")
            }
            applied[version] = (name, Date(timeIntervalSince1970: Double(micros) / 1_000_000))
        }
        return applied
    }
}
