import Backend
import Foundation
import JobHostTesting
import Testing

@testable import PostgresBackend

/// `<schema>.enqueue(handler, payload)` without a queue: the job goes where the published route says,
/// with its attempts; a handler without a route is refused, naming it.
@Suite struct SQLRouteEnqueueTests {
    static let route = RouteEntry(handler: "company.rewrite", queue: "company-context", maxAttempts: 3, timeout: .seconds(120))

    @Test func enqueueWithoutAQueueLandsOnTheRoutesQueueWithItsAttempts() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("routed")
        let backend = try await makeBackend(server, schema: schema)
        try await onThread { try backend.publishRoutes([Self.route], by: "web-1") }

        let routed = try await server.psql("SELECT \(schema).enqueue('company.rewrite', '{\"company\": 42}')")
        let ownAttempts = try await server.psql("SELECT \(schema).enqueue('company.rewrite', '{}', max_attempts => 7)")
        let sameQueue = try await server.psql("SELECT \(schema).enqueue('company.rewrite', '{}', queue => 'company-context')")
        let elsewhere = try await server.psql("SELECT \(schema).enqueue('company.rewrite', '{}', queue => 'slow')")
        try await onThread { () throws in
            let jobs = try backend.fetch(queue: "company-context", limit: 10, lease: .seconds(30))
            #expect(jobs.map(\.id) == [routed, ownAttempts, sameQueue])
            #expect(jobs.map(\.maxAttempts) == [3, 7, 3], "the route's attempts unless given")
            // The route's timeout is the host's to apply at run time, not written into the job.
            #expect(jobs.allSatisfy { $0.timeout == nil })
            let other = try backend.fetch(queue: "slow", limit: 10, lease: .seconds(30))
            #expect(other.map(\.id) == [elsewhere])
            #expect(other.first?.maxAttempts == 10, "a queue other than the route's keeps the old default")
        }
    }

    @Test func aHandlerWithoutARouteIsRefusedNamingIt() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("unrouted")
        let backend = try await makeBackend(server, schema: schema)
        try await onThread { try backend.publishRoutes([Self.route], by: "web-1") }
        do {
            _ = try await server.psql("SELECT \(schema).enqueue('company.rewirte', '{}')")
            Issue.record("an enqueue of a handler without a route succeeded")
        } catch let error as HarnessError {
            let text = "\(error)"
            #expect(text.contains(#"no route for handler "company.rewirte""#), "\(text)")
            #expect(text.contains("HINT:") && text.contains("queue =>"), "\(text)")
        }
        // With a queue it goes there, as before routes existed.
        let id = try await server.psql("SELECT \(schema).enqueue('company.rewirte', '{}', queue => 'default')")
        #expect(try await server.psql("SELECT queue || ' ' || max_attempts FROM \(schema).jobs") == "default 10")
        #expect(id.count == 26)
    }

    /// An application role with only the documented grants enqueues by route: the function reads the
    /// routes table as its owner (SECURITY DEFINER), the role cannot read it itself.
    @Test func anApplicationRoleWithTheDocumentedGrantsEnqueuesByRoute() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("routedrole")
        let role = "app_" + schema
        let backend = try await makeBackend(server, schema: schema)
        try await onThread { try backend.publishRoutes([Self.route], by: "web-1") }
        _ = try await server.psql("""
            CREATE ROLE \(role);
            GRANT USAGE ON SCHEMA \(schema) TO \(role);
            GRANT EXECUTE ON FUNCTION \(schema).enqueue(text, jsonb, text, timestamptz, integer, text, integer, text, integer) TO \(role);
            """)
        let id = try await server.psql("SET ROLE \(role); SELECT \(schema).enqueue('company.rewrite', '{}');")
        let job = try await onThread { try backend.job(queue: "company-context", id: id) }
        #expect(job?.maxAttempts == 3)
        do {
            _ = try await server.psql("SET ROLE \(role); SELECT count(*) FROM \(schema).routes;")
            Issue.record("the application role read the routes table")
        } catch let error as HarnessError {
            #expect("\(error)".contains("permission denied"), "\(error)")
        }
    }
}
