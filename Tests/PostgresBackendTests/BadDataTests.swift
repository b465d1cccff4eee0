import Backend
import BackendConformance
import Foundation
import JobHostTesting
import Testing

@testable import PostgresBackend

/// Values a plain `INSERT` or an operator's `UPDATE` can leave in a job row that its column types and
/// constraints accept, each run through the conformance scenarios for unusable jobs.
let postgresBadValues: [BadValue] = [
    BadValue(field: "run_at", value: "-infinity"),
    BadValue(field: "enqueued_at", value: "infinity"),
    BadValue(field: "enqueued_at", value: "-infinity"),
    BadValue(field: "attempt", value: "2147483647"),
    BadValue(field: "crashes", value: "2147483647"),
    BadValue(field: "crashes", value: "-1"),
]

/// Writes a bad value into a job's row with a plain `UPDATE` through psql.
func spoiler(_ server: PostgresServer, schema: String) -> SpoilJob {
    { _, id, bad in _ = try server.psql("UPDATE \(schema).jobs SET \(bad.field) = '\(bad.value)' WHERE id = '\(id)'") }
}

@Suite struct PostgresBadDataTests {
    @Test(arguments: postgresBadValues)
    func unusableJobGoesDeadAndQueueGoesOn(_ bad: BadValue) async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("bad\(bad.field)")
        let backend = try await makeBackend(server, schema: schema)
        try await onThread {
            try BackendConformance.unusableJobGoesDeadAndQueueGoesOn(
                backend, queue: "q", bad: bad, spoil: spoiler(server, schema: schema))
        }
    }

    /// The crash settle would add one to `crashes = 2147483647`: it must not fail the whole batch.
    @Test func crashesAtTheLimitInASettleBatch() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("badsettle")
        let backend = try await makeBackend(server, schema: schema)
        try await onThread {
            try BackendConformance.unusableJobInASettleBatch(
                backend, queue: "q", bad: BadValue(field: "crashes", value: "2147483647"), spoil: spoiler(server, schema: schema))
        }
    }

    /// A job scheduled for `infinity` (or beyond year 9999) never comes due: waiting, stats and
    /// listings read it without failing, and it is moved to dead by rescue, the queue's maintenance.
    @Test func jobScheduledForInfinityBreaksNothing() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("badinfinity")
        let backend = try await makeBackend(server, schema: schema)
        let far = sampleJob("q", 1, delay: .seconds(3600))
        _ = try await onThread { try backend.enqueue([far]) }
        _ = try await server.psql("UPDATE \(schema).jobs SET run_at = 'infinity', updated_at = 'infinity' WHERE id = '\(far.id)'")

        try await onThread {
            #expect(try backend.stats(queue: "q").scheduled == 1)
            #expect(try backend.list(queue: "q", state: .scheduled, offset: 0, limit: 10).map(\.id) == [far.id])
            try backend.waitForWork(queue: "q", timeout: .milliseconds(300))
            #expect(try backend.fetch(queue: "q", limit: 10, lease: .seconds(60)).isEmpty)
            let rescue = try backend.rescueExpired(queue: "q", limit: 10)
            #expect(rescue.dead == 1)
            let dead = try #require(try backend.job(queue: "q", id: far.id))
            #expect(dead.state == .dead)
            #expect(dead.lastError?.contains("run_at = infinity") == true, "\(dead)")
        }
    }

    /// `<schema>.enqueue(…)` refuses a run time that is not a usable time, like its other bad arguments.
    @Test func sqlEnqueueRefusesInfiniteRunTimes() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("badsqlenqueue")
        _ = try await makeBackend(server, schema: schema)
        for time in ["-infinity", "infinity"] {
            do {
                _ = try await server.psql("SELECT \(schema).enqueue('mailer.send', '{}', run_at => '\(time)')")
                Issue.record("enqueue with run_at \(time) succeeded")
            } catch {
                #expect("\(error)".contains("run_at"), "\(error)")
            }
        }
    }
}
