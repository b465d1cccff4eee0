import Backend
import Foundation
import JobHostTesting
import Synchronization
import Testing

@testable import SQLiteBackend

/// Applications on the same machine enqueue with one `INSERT INTO jobs … RETURNING id` inside their own
/// transaction (docs/sqlite.md): the job exists if and only if that transaction commits, the table's
/// defaults fill in the rest, and hosts waiting for work see it.
@Suite struct SQLiteSQLEnqueueTests {
    /// Python's standard `sqlite3` module, as an application would use it: its own table and the job in
    /// one transaction, and a transaction that changes its mind.
    @Test func enqueueFromPythonInTheApplicationsTransaction() async throws {
        try await withSQLite { path, make in
            let backend = make("")
            try await onThread { try backend.ping() }
            let script = """
                import sqlite3, sys
                conn = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
                conn.execute("CREATE TABLE orders (id INTEGER)")
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO orders VALUES (42)")
                row = conn.execute(
                    "INSERT INTO jobs (handler, payload, queue, max_attempts, timeout_ms) VALUES (?, ?, ?, ?, ?) RETURNING id",
                    ("orders.confirm", '{"order": 42}', "py", 5, 1500)).fetchone()
                conn.execute("COMMIT")
                print(row[0])
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO jobs (handler, payload, queue) VALUES ('orders.never', '{}', 'py')")
                conn.execute("ROLLBACK")
                """
            let id = try await python(script, path)
            try await onThread {
                let leased = try backend.fetch(queue: "py", limit: 10, lease: .seconds(30))
                #expect(leased.map(\.id) == [id], "only the committed job")
                #expect(leased.first?.handler == "orders.confirm")
                #expect(leased.first.map { String(decoding: $0.payload, as: UTF8.self) } == #"{"order": 42}"#)
                #expect(leased.first?.maxAttempts == 5)
                #expect(leased.first?.timeout == .milliseconds(1500))
                #expect(leased.first?.attempt == 1)
                #expect(try backend.stats(queue: "py").ready == 0)
            }
        }
    }

    /// A host blocked in waitForWork wakes for a job another process committed, not at its timeout: the
    /// wait may last two minutes, the test waits one for the wake-up.
    @Test func waitingHostWakesForAnotherProcesssInsert() async throws {
        try await withSQLite { path, make in
            let backend = make("")
            try await onThread { try backend.ping() }
            let woken = Flag()
            async let waited: Void = onThread {
                try backend.waitForWork(queue: "py", timeout: .seconds(120))
                woken.raise()
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(!woken.isRaised, "waitForWork returned before anything was inserted")
            _ = try await python(
                """
                import sqlite3, sys
                conn = sqlite3.connect(sys.argv[1], timeout=10)
                with conn:
                    conn.execute("INSERT INTO jobs (handler, payload, queue) VALUES ('orders.confirm', '{}', 'py')")
                """, path)
            try await waitUntil("the waiting host woke for the insert") { woken.isRaised }
            try await waited
            #expect(try await onThread { try backend.fetch(queue: "py", limit: 10, lease: .seconds(30)).count } == 1)
        }
    }

    /// Unique keys and delayed jobs as the docs show them: a second insert with a live key inserts
    /// nothing (and the holder is found by the documented query); a run time in the future is scheduled.
    @Test func uniqueKeysAndDelayedJobsFromSQL() async throws {
        try await withSQLite { path, make in
            let backend = make("")
            let first = try await onThread { try backend.enqueue([sampleJob("q", 1, uniqueKey: "sync:7")])[0] }
            let output = try await python(
                """
                import sqlite3, sys
                conn = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute(
                    "INSERT INTO jobs (handler, payload, queue, unique_key) VALUES ('test.echo', '{}', 'q', 'sync:7') "
                    "ON CONFLICT DO NOTHING RETURNING id").fetchone()
                holder = conn.execute(
                    "SELECT id FROM jobs WHERE queue = 'q' AND unique_key = 'sync:7' AND state IN ('ready', 'scheduled', 'running')").fetchone()
                later = conn.execute(
                    "INSERT INTO jobs (handler, payload, queue, run_at) "
                    "VALUES ('test.echo', '{}', 'q', CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) + 3600000000) "
                    "RETURNING id").fetchone()
                conn.execute("COMMIT")
                print(row is None, holder[0], later[0])
                """, path)
            let words = output.split(separator: " ").map(String.init)
            try #require(words.count == 3, "\(output)")
            #expect(words[0] == "True", "a second live job with the key was inserted")
            #expect(words[1] == first)
            try await onThread {
                #expect(try backend.job(queue: "q", id: words[2])?.state == .scheduled)
                let stats = try backend.stats(queue: "q")
                #expect(stats.ready == 1 && stats.scheduled == 1, "\(stats)")
            }
        }
    }

    /// A bad insert is refused by the table, naming the rule, and nothing is written.
    @Test func badInsertsAreRefusedWithTheirReason() async throws {
        try await withSQLite { path, make in
            let backend = make("")
            try await onThread { try backend.ping() }
            let inserts = [
                ("('', '{}')", "handler must be a non-empty name"),
                ("('h', '{not json')", "payload must be JSON text"),
                ("('h', NULL)", "NOT NULL constraint failed: jobs.payload"),
            ]
            for (values, reason) in inserts {
                let script = """
                    import sqlite3, sys
                    conn = sqlite3.connect(sys.argv[1], timeout=10)
                    try:
                        with conn:
                            conn.execute("INSERT INTO jobs (handler, payload) VALUES \(values)")
                        print("accepted")
                    except sqlite3.IntegrityError as error:
                        print(error)
                    """
                let output = try await python(script, path)
                #expect(output.contains(reason), "INSERT … VALUES \(values): \(output)")
            }
            let refused = try await python(
                """
                import sqlite3, sys
                conn = sqlite3.connect(sys.argv[1], timeout=10)
                try:
                    with conn:
                        conn.execute("INSERT INTO jobs (handler, payload, max_attempts) VALUES ('h', '{}', 0)")
                except sqlite3.IntegrityError as error:
                    print(error)
                """, path)
            #expect(refused.contains("max_attempts must be at least 1"), "\(refused)")
            #expect(try await onThread { try backend.list(queue: "default", state: .ready, offset: 0, limit: 10) }.isEmpty)
        }
    }

    /// The table's default id has the form of the host's own: 26 characters of Crockford base32 that
    /// sort by time.
    @Test func defaultIDsLookLikeJobIDsAndSortByTime() async throws {
        try await withSQLite { _, make in
            let backend = make("")
            let before = JobID.generate()
            try await Task.sleep(for: .milliseconds(5))
            let ids = try await onThread {
                try backend.open()
                return try backend.writer.transaction { (statements) throws(BackendError) in
                    try (0..<200).map { (_) throws(BackendError) in
                        try statements.query("INSERT INTO jobs (handler, payload) VALUES ('h', '{}') RETURNING id").first?.first?.text ?? ""
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(5))
            let after = JobID.generate()
            let alphabet = Set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
            #expect(Set(ids).count == 200, "ids repeat")
            for id in ids {
                #expect(id.count == 26 && id.allSatisfy(alphabet.contains), "\(id) is not 26 characters of Crockford base32")
                #expect(before < id && id < after, "\(id) does not sort between \(before) and \(after)")
            }
        }
    }
}

/// Raised once, read from any thread.
final class Flag: Sendable {
    private let raised = Atomic<Bool>(false)
    func raise() { raised.store(true, ordering: .releasing) }
    var isRaised: Bool { raised.load(ordering: .acquiring) }
}

/// Runs `script` with Debian's own Python (its `sqlite3` module is in the standard library) and the
/// jobs file as its argument; returns its output, trimmed.
func python(_ script: String, _ path: String) async throws -> String {
    let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
    let result = try await ChildProcess.run(python, ["-c", script, path], timeout: .seconds(60))
    try #require(result.status == 0, "python exited \(result.status): \(result.stderr)")
    return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}
