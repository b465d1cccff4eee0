import Backend
import Foundation
import JobHostTesting
import Testing

@testable import SQLiteBackend

/// Where the file may live: its directory is made when missing; what cannot work is refused, naming
/// the path, before anything is written.
@Suite struct SQLiteLocationTests {
    @Test func missingDirectoriesAreCreated() async throws {
        try await withSQLite { path, _ in
            let nested = (path as NSString).deletingLastPathComponent + "/a/b/jobs.sqlite"
            let backend = SQLiteBackend(path: nested, logger: testLogger)
            try await onThread {
                _ = try backend.enqueue([sampleJob("q")])
                #expect(try backend.stats(queue: "q").ready == 1)
            }
            #expect(FileManager.default.fileExists(atPath: nested))
        }
    }

    @Test func aDirectoryThatIsAFileIsRefused() async throws {
        try await withSQLite { path, _ in
            let blocker = (path as NSString).deletingLastPathComponent + "/plain-file"
            try #require(FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8)))
            let backend = SQLiteBackend(path: blocker + "/jobs.sqlite", logger: testLogger)
            let error = try await failure(of: backend)
            #expect(error.code == .invalid)
            #expect(error.message.contains(blocker) && error.message.contains("not a directory"), "\(error.message)")
        }
    }

    /// A host of another machine recorded lately: the file is shared between machines, which SQLite's
    /// locks do not survive. A host of this machine (another boot of it, too) is no reason to refuse.
    @Test func aFileAnotherMachineUsesIsRefused() async throws {
        try await withSQLite { path, make in
            let first = make("")
            try await onThread {
                let here = HostRecord(
                    name: "here", instance: "a", bootID: "an-old-boot", machine: ProcessInfo.processInfo.hostName, pid: 1, processStart: 1)
                _ = try first.claimHostName(here, staleAfter: .seconds(30), replacing: nil)
            }
            try await onThread { try make("").ping() }

            try await onThread {
                let elsewhere = HostRecord(name: "web-7", instance: "b", bootID: "another-boot", machine: "web-7.example", pid: 1, processStart: 1)
                _ = try first.claimHostName(elsewhere, staleAfter: .seconds(30), replacing: nil)
            }
            let error = try await failure(of: make(""))
            #expect(error.code == .invalid)
            #expect(error.message.contains("host web-7 on machine web-7.example"), "\(error.message)")
            #expect(error.message.contains(path), "\(error.message)")
        }
    }

    /// `PRAGMA synchronous` is what the backend was built with, on every connection it opens.
    @Test(arguments: SQLiteBackend.Synchronous.allCases)
    func synchronousLevelIsSet(_ level: SQLiteBackend.Synchronous) async throws {
        try await withSQLite { path, _ in
            let backend = SQLiteBackend(path: path, synchronous: level, logger: testLogger)
            let value = try await onThread {
                try backend.ping()
                return try backend.writer.withStatements { (statements) throws(BackendError) in
                    try statements.query("PRAGMA synchronous").first?.first?.int64
                }
            }
            // 1 = NORMAL, 2 = FULL.
            #expect(value == (level == .full ? 2 : 1))
            let mode = try await onThread {
                try backend.writer.withStatements { (statements) throws(BackendError) in
                    try statements.query("PRAGMA journal_mode").first?.first?.text
                }
            }
            #expect(mode == "wal")
        }
    }
}

/// The error the backend's first call fails with.
private func failure(of backend: SQLiteBackend) async throws -> BackendError {
    try await onThread { () -> BackendError in
        do {
            try backend.ping()
        } catch let error as BackendError {
            return error
        }
        throw CancellationError()
    }
}
