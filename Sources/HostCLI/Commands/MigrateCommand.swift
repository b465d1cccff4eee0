import ArgumentParser
import Backend
import Foundation
import HostConfig
import Logs
import PostgresBackend
import SQLiteBackend

/// `host migrate`: bring the job tables of PostgreSQL and SQLite backends up to date, on purpose.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Applies pending schema migrations to the PostgreSQL and SQLite backends.",
        discussion: """
            PostgreSQL: each migration runs in its own transaction under an advisory lock, so two hosts \
            migrating at once are safe and a failed migration leaves the schema as it was. Set \
            auto_migrate: true on a backend to have `host run` do this at start instead.
            SQLite: each migration runs in its own write transaction; the file (and its directory) is \
            created when missing. `host run` migrates SQLite files at start by itself.
            Redis backends need no migrations.
            """)

    @OptionGroup var options: ConfigOptions

    @Option(help: "Only this backend (default: every PostgreSQL and SQLite backend).")
    var backend: String?

    @Flag(help: "Show each migration and whether it is applied; change nothing.")
    var status = false

    @Flag(help: "Print the SQL that would run; change nothing.")
    var dryRun = false

    func run() throws {
        let config = try loadConfig(options)
        let path = config.file
        let migratable = config.backends.filter { $0.kind != .redis }
        let candidates = migratable.filter { backend == nil || $0.name == backend }
        if let backend, candidates.isEmpty {
            let known = migratable.isEmpty ? "none" : migratable.map(\.name).joined(separator: ", ")
            printError("no PostgreSQL or SQLite backend named '\(backend)' in \(path); it has: \(known)")
            throw ExitCode.validationFailure
        }
        if candidates.isEmpty {
            print("No PostgreSQL or SQLite backends in \(path): nothing to migrate.")
            return
        }
        var failed = false
        for entry in candidates {
            do {
                switch entry.kind {
                case .postgres: try postgres(entry)
                case .sqlite: try sqlite(entry)
                case .redis: continue
                }
            } catch {
                printError("\(entry.name): \(error)")
                failed = true
            }
        }
        if failed { throw ExitCode(2) }
    }

    private func postgres(_ entry: BackendConfig) throws {
        let migrator = PostgresMigrator(
            url: entry.url.revealed, schema: entry.schema, connectTimeout: entry.connectTimeout,
            logger: CommandLogging.logger(verbose: false))
        let heading = "\(entry.name) (\(entry.address), schema \(entry.schema))"
        if status {
            print("\(heading):")
            for migration in try migrator.status() {
                let applied = migration.appliedAt.map { "applied \(ISO8601DateFormatter().string(from: $0))" } ?? "pending"
                print("  \(migration.version)  \(migration.name)  \(applied)")
            }
        } else if dryRun {
            let sql = try migrator.pendingSQL()
            print("-- \(heading)")
            print(sql.isEmpty ? "-- up to date: nothing would run" : sql)
        } else {
            report(entry, applied: try migrator.migrate())
        }
    }

    private func sqlite(_ entry: BackendConfig) throws {
        let heading = "\(entry.name) (\(entry.address))"
        if status || dryRun {
            // Neither creates the file: a missing one has every migration pending.
            let migrator = SQLiteMigrator(path: entry.path, busyTimeout: entry.busyTimeout)
            if status {
                print("\(heading):")
                for migration in try migrator.status() {
                    print("  \(migration.version)  \(migration.name)  \(migration.applied ? "applied" : "pending")")
                }
            } else {
                let sql = try migrator.pendingSQL()
                print("-- \(heading)")
                print(sql.isEmpty ? "-- up to date: nothing would run" : sql)
            }
        } else {
            report(entry, applied: try SQLiteMigrator(path: entry.path, busyTimeout: entry.busyTimeout).migrate())
        }
    }

    private func report(_ entry: BackendConfig, applied: [Int]) {
        print(applied.isEmpty
            ? "\(entry.name): up to date"
            : "\(entry.name): applied \(applied.map(String.init).joined(separator: ", "))")
    }
}
