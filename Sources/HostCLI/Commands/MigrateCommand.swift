import ArgumentParser
import Backend
import Foundation
import HostConfig
import Logs
import PostgresBackend

/// `host migrate`: bring the job tables of PostgreSQL backends up to date, on purpose.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Applies pending schema migrations to the PostgreSQL backends.",
        discussion: """
            Each migration runs in its own transaction under an advisory lock, so two hosts migrating at once \
            are safe and a failed migration leaves the schema as it was. Redis backends need no migrations.
            Set auto_migrate: true on a backend to have `host run` do this at start instead.
            """)

    @OptionGroup var options: ConfigOptions

    @Option(help: "Only this backend (default: every PostgreSQL backend).")
    var backend: String?

    @Flag(help: "Show each migration and whether it is applied; change nothing.")
    var status = false

    @Flag(help: "Print the SQL that would run; change nothing.")
    var dryRun = false

    func run() throws {
        let config = try loadConfig(options)
        let path = config.file
        let candidates = config.backends.filter { $0.kind == .postgres && (backend == nil || $0.name == backend) }
        if let backend, candidates.isEmpty {
            printError("no PostgreSQL backend named '\(backend)' in \(path); it has: \(config.backends.filter { $0.kind == .postgres }.map(\.name).joined(separator: ", "))")
            throw ExitCode.validationFailure
        }
        if candidates.isEmpty {
            print("No PostgreSQL backends in \(path): nothing to migrate.")
            return
        }
        var failed = false
        for entry in candidates {
            let migrator = PostgresMigrator(
                url: entry.url.revealed, schema: entry.schema, connectTimeout: entry.connectTimeout,
                logger: CommandLogging.logger(verbose: false))
            do {
                if status {
                    print("\(entry.name) (\(entry.url), schema \(entry.schema)):")
                    for migration in try migrator.status() {
                        let applied = migration.appliedAt.map { "applied \(ISO8601DateFormatter().string(from: $0))" } ?? "pending"
                        print("  \(migration.version)  \(migration.name)  \(applied)")
                    }
                } else if dryRun {
                    let sql = try migrator.pendingSQL()
                    print("-- \(entry.name) (\(entry.url), schema \(entry.schema))")
                    print(sql.isEmpty ? "-- up to date: nothing would run" : sql)
                } else {
                    let applied = try migrator.migrate()
                    print(applied.isEmpty
                        ? "\(entry.name): up to date"
                        : "\(entry.name): applied \(applied.map(String.init).joined(separator: ", "))")
                }
            } catch {
                printError("\(entry.name): \(error)")
                failed = true
            }
        }
        if failed { throw ExitCode(2) }
    }
}
