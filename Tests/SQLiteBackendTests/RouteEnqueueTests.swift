import Backend
import Foundation
import JobHostTesting
import Testing

@testable import SQLiteBackend

/// An application's `INSERT INTO enqueue (handler, payload)` without a queue: the job goes where the
/// published route says, with its attempts; a handler without a route is refused and nothing is written.
@Suite struct SQLiteRouteEnqueueTests {
    static let route = RouteEntry(handler: "company.rewrite", queue: "company-context", maxAttempts: 3, timeout: .seconds(120))

    @Test func insertWithoutAQueueLandsOnTheRoutesQueueWithItsAttempts() async throws {
        try await withSQLite { path, make in
            let backend = make("")
            try await onThread { try backend.publishRoutes([Self.route], by: "web-1") }
            let script = """
                import sqlite3, sys
                conn = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO enqueue (handler, payload) VALUES ('company.rewrite', '{\\"company\\": 42}')")
                conn.execute("INSERT INTO enqueue (handler, payload, max_attempts) VALUES ('company.rewrite', '{}', 7)")
                conn.execute("INSERT INTO enqueue (handler, payload, queue) VALUES ('company.rewrite', '{}', 'slow')")
                conn.execute("INSERT INTO enqueue (id, handler, payload, unique_key) VALUES ('mine-1', 'company.rewrite', '[1]', 'k')")
                conn.execute("INSERT INTO enqueue (id, handler, payload, unique_key) VALUES ('mine-2', 'company.rewrite', '[2]', 'k')")
                conn.execute("COMMIT")
                """
            _ = try await python(script, path)
            try await onThread { () throws in
                let jobs = try backend.fetch(queue: "company-context", limit: 10, lease: .seconds(30))
                #expect(jobs.map(\.maxAttempts) == [3, 7, 3], "the route's attempts unless given")
                #expect(String(decoding: jobs[0].payload, as: UTF8.self) == #"{"company": 42}"#)
                #expect(jobs.map(\.id).last == "mine-1", "a live holder of the unique key keeps it; the second insert adds nothing")
                #expect(jobs.allSatisfy { $0.handler == "company.rewrite" && $0.timeout == nil && $0.id.count > 0 })
                let other = try backend.fetch(queue: "slow", limit: 10, lease: .seconds(30))
                #expect(other.map(\.maxAttempts) == [10], "a queue other than the route's gets the table's default")
            }
        }
    }

    @Test func aHandlerWithoutARouteIsRefusedAndNothingIsWritten() async throws {
        try await withSQLite { path, make in
            let backend = make("")
            try await onThread { try backend.publishRoutes([Self.route], by: "web-1") }
            let script = """
                import sqlite3, sys
                conn = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
                try:
                    conn.execute("INSERT INTO enqueue (handler, payload) VALUES ('company.rewirte', '{}')")
                    print("accepted")
                except sqlite3.Error as error:
                    print(error)
                print(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])
                """
            let output = try await python(script, path).split(separator: "\n").map(String.init)
            #expect(output.first?.contains("no route for this handler and no queue given") == true, "\(output)")
            #expect(output.last == "0")
        }
    }
}
