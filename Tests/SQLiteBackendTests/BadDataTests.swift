import Backend
import BackendConformance
import Foundation
import JobHostTesting
import Testing

@testable import SQLiteBackend

/// Values a plain `UPDATE` (a producer, an operator at the `sqlite3` prompt) can leave in a job row that
/// the STRICT column types and the CHECK constraints accept, each run through the conformance scenarios
/// for unusable jobs.
let sqliteBadValues: [BadValue] = [
    BadValue(field: "attempt", value: "2147483647"),
    BadValue(field: "attempt", value: "-1"),
    BadValue(field: "max_attempts", value: "9223372036854775807"),
    BadValue(field: "crashes", value: "2147483647"),
    BadValue(field: "crashes", value: "-1"),
    BadValue(field: "timeout_ms", value: "9223372036854775807"),
    BadValue(field: "run_at", value: "-9223372036854775808"),
    BadValue(field: "enqueued_at", value: "9223372036854775807"),
    BadValue(field: "enqueued_at", value: "-62135596800000001"),
]

/// Writes a bad value into a job's row with a plain `UPDATE` on a connection of its own.
func spoiler(_ path: String) -> SpoilJob {
    { _, id, bad in
        let connection = SQLiteConnection(settings: SQLiteSettings(path: path, synchronous: .full, busyTimeout: .seconds(20)))
        try connection.withStatements { (statements) throws(BackendError) in
            try statements.run("UPDATE jobs SET \(bad.field) = \(bad.value) WHERE id = ?1", [.text(id)])
        }
    }
}

@Suite struct SQLiteBadDataTests {
    @Test(arguments: sqliteBadValues)
    func unusableJobGoesDeadAndQueueGoesOn(_ bad: BadValue) async throws {
        try await withSQLite { path, make in
            let backend = make("")
            try await onThread {
                try BackendConformance.unusableJobGoesDeadAndQueueGoesOn(backend, queue: "q", bad: bad, spoil: spoiler(path))
            }
        }
    }

    /// The crash settle would add one to `crashes = 2147483647`: it must not fail the whole batch.
    @Test func crashesAtTheLimitInASettleBatch() async throws {
        try await withSQLite { path, make in
            let backend = make("")
            try await onThread {
                try BackendConformance.unusableJobInASettleBatch(
                    backend, queue: "q", bad: BadValue(field: "crashes", value: "2147483647"), spoil: spoiler(path))
            }
        }
    }

    /// A job scheduled beyond the year 9999 never comes due: waiting, stats and listings read it
    /// without failing, and rescue, the queue's maintenance, moves it to dead.
    @Test func jobScheduledBeyondAnyUsableTimeBreaksNothing() async throws {
        try await withSQLite { path, make in
            let backend = make("")
            let far = sampleJob("q", 1, delay: .seconds(3600))
            try await onThread {
                _ = try backend.enqueue([far])
                try spoiler(path)("q", far.id, BadValue(field: "run_at", value: "9223372036854775807"))
                #expect(try backend.stats(queue: "q").scheduled == 1)
                #expect(try backend.list(queue: "q", state: .scheduled, offset: 0, limit: 10).map(\.id) == [far.id])
                try backend.waitForWork(queue: "q", timeout: .milliseconds(300))
                #expect(try backend.fetch(queue: "q", limit: 10, lease: .seconds(60)).isEmpty)
                #expect(try backend.rescueExpired(queue: "q", limit: 10).dead == 1)
                let dead = try #require(try backend.job(queue: "q", id: far.id))
                #expect(dead.state == .dead)
                #expect(dead.lastError?.contains("run_at = 9223372036854775807") == true, "\(dead)")
            }
        }
    }

    /// What the column types and constraints refuse is refused at the write, naming the rule, so it
    /// never reaches a claim.
    @Test(arguments: [
        ("state", "'paused'", "state must be"), ("max_attempts", "0", "max_attempts must be at least 1"),
        ("attempt", "'three'", "cannot store TEXT value in INTEGER column"), ("payload", "'{not json'", "payload must be JSON"),
        ("timeout_ms", "0", "timeout_ms must be positive"),
    ])
    func refusedAtTheWrite(_ field: String, _ value: String, _ message: String) async throws {
        try await withSQLite { path, make in
            let backend = make("")
            let job = sampleJob("q")
            try await onThread {
                _ = try backend.enqueue([job])
                do {
                    try spoiler(path)("q", job.id, BadValue(field: field, value: value))
                    Issue.record("UPDATE jobs SET \(field) = \(value) was accepted")
                } catch let error as BackendError {
                    #expect(error.code == .invalid)
                    #expect(error.message.contains(message), "\(error.message)")
                }
                #expect(try backend.fetch(queue: "q", limit: 10, lease: .seconds(60)).map(\.id) == [job.id])
            }
        }
    }
}
