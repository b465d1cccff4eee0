import Backend
import Foundation
import JobHostTesting
import Testing

@testable import SQLiteBackend

@Suite struct SQLiteMigratorTests {
    /// Looking changes nothing: a missing file (and its directory) stays missing, every migration
    /// pending; migrating applies them once, after which nothing is pending.
    @Test func statusAndPendingSQLCreateNothingAndMigrateAppliesOnce() async throws {
        try await withSQLite { path, _ in
            let nested = (path as NSString).deletingLastPathComponent + "/not-yet/jobs.sqlite"
            let migrator = SQLiteMigrator(path: nested)
            try await onThread { () throws in
                #expect(try migrator.status().map(\.applied) == [Bool](repeating: false, count: SQLiteSchema.latest))
                #expect(try migrator.pendingSQL().contains("CREATE TABLE jobs"))
                #expect(!FileManager.default.fileExists(atPath: (nested as NSString).deletingLastPathComponent))

                #expect(try migrator.migrate() == Array(1...SQLiteSchema.latest))
                #expect(try migrator.migrate() == [])
                #expect(try migrator.status().allSatisfy(\.applied))
                #expect(try migrator.pendingSQL().isEmpty)
            }
        }
    }

    /// A file written by a newer host is refused, naming both versions, rather than used.
    @Test func aNewerFileIsRefused() async throws {
        try await withSQLite { path, _ in
            let migrator = SQLiteMigrator(path: path)
            try await onThread { () throws in
                try migrator.migrate()
                try migrator.connection.withStatements { (statements) throws(BackendError) in
                    try statements.execute("PRAGMA user_version = \(SQLiteSchema.latest + 1)")
                }
                do {
                    try migrator.migrate()
                    Issue.record("a file at a newer version was migrated")
                } catch let error as BackendError {
                    #expect(error.message.contains("version \(SQLiteSchema.latest + 1)") && error.message.contains("(\(SQLiteSchema.latest))"), "\(error)")
                }
            }
        }
    }
}
