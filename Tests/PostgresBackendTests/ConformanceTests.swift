import BackendConformance
import JobHostTesting
import Testing

/// The backend conformance suite against a real PostgreSQL: one server for the process, a freshly
/// migrated schema per scenario, so scenarios run in parallel without sharing anything.
@Suite struct PostgresConformanceTests {
    @Test(arguments: BackendConformance.allScenarios.map(\.name))
    func scenario(_ name: String) async throws {
        let run = try #require(BackendConformance.allScenarios.first { $0.name == name }?.run)
        let server = try await SharedPostgres.server
        let backend = try await makeBackend(server, schema: freshSchema(name))
        try await onThread { try run(backend, "conformance-\(name)") }
    }

    @Test(arguments: BackendConformance.leaseScenarios.map(\.name))
    func leaseScenario(_ name: String) async throws {
        let run = try #require(BackendConformance.leaseScenarios.first { $0.name == name }?.run)
        let server = try await SharedPostgres.server
        let schema = freshSchema(name)
        _ = try await makeBackend(server, schema: schema)
        try await onThread { try run({ owner in ownedBackend(server, schema: schema, leaseOwner: owner) }, "conformance-\(name)") }
    }

    @Test(arguments: BackendConformance.hostRegistryScenarios.map(\.name))
    func hostRegistryScenario(_ name: String) async throws {
        let run = try #require(BackendConformance.hostRegistryScenarios.first { $0.name == name }?.run)
        let server = try await SharedPostgres.server
        let backend = try await makeBackend(server, schema: freshSchema(name))
        try await onThread { try run(backend, "conformance-\(name)") }
    }

    @Test(arguments: BackendConformance.routeScenarios.map(\.name))
    func routeScenario(_ name: String) async throws {
        let run = try #require(BackendConformance.routeScenarios.first { $0.name == name }?.run)
        let server = try await SharedPostgres.server
        let backend = try await makeBackend(server, schema: freshSchema(name))
        try await onThread { try run(backend, "conformance-\(name)") }
    }

    @Test(arguments: BackendConformance.scheduleScenarios.map(\.name))
    func scheduleScenario(_ name: String) async throws {
        let run = try #require(BackendConformance.scheduleScenarios.first { $0.name == name }?.run)
        let server = try await SharedPostgres.server
        let backend = try await makeBackend(server, schema: freshSchema(name))
        try await onThread { try run(backend, "conformance-\(name)") }
    }

    @Test(arguments: BackendConformance.runStreakScenarios.map(\.name))
    func runStreakScenario(_ name: String) async throws {
        let run = try #require(BackendConformance.runStreakScenarios.first { $0.name == name }?.run)
        let server = try await SharedPostgres.server
        let backend = try await makeBackend(server, schema: freshSchema(name))
        try await onThread { try run(backend, "conformance-\(name)") }
    }
}
