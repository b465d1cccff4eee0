import BackendConformance
import JobHostTesting
import Testing

/// The backend conformance suite against a real Redis: one private server per scenario, so scenarios
/// run in parallel without sharing anything.
@Suite struct RedisConformanceTests {
    @Test(arguments: BackendConformance.allScenarios.map(\.name))
    func scenario(_ name: String) async throws {
        let run = try #require(BackendConformance.allScenarios.first { $0.name == name }?.run)
        try await withRedis { server in
            let backend = makeBackend(server)
            try await onThread { try run(backend, "conformance-\(name)") }
        }
    }

    @Test(arguments: BackendConformance.leaseScenarios.map(\.name))
    func leaseScenario(_ name: String) async throws {
        let run = try #require(BackendConformance.leaseScenarios.first { $0.name == name }?.run)
        try await withRedis { server in
            try await onThread { try run({ owner in makeBackend(server, leaseOwner: owner) }, "conformance-\(name)") }
        }
    }

    @Test(arguments: BackendConformance.hostRegistryScenarios.map(\.name))
    func hostRegistryScenario(_ name: String) async throws {
        let run = try #require(BackendConformance.hostRegistryScenarios.first { $0.name == name }?.run)
        try await withRedis { server in
            let backend = makeBackend(server)
            try await onThread { try run(backend, "conformance-\(name)") }
        }
    }

    @Test(arguments: BackendConformance.routeScenarios.map(\.name))
    func routeScenario(_ name: String) async throws {
        let run = try #require(BackendConformance.routeScenarios.first { $0.name == name }?.run)
        try await withRedis { server in
            let backend = makeBackend(server)
            try await onThread { try run(backend, "conformance-\(name)") }
        }
    }

    @Test(arguments: BackendConformance.scheduleScenarios.map(\.name))
    func scheduleScenario(_ name: String) async throws {
        let run = try #require(BackendConformance.scheduleScenarios.first { $0.name == name }?.run)
        try await withRedis { server in
            let backend = makeBackend(server)
            try await onThread { try run(backend, "conformance-\(name)") }
        }
    }

    @Test(arguments: BackendConformance.runStreakScenarios.map(\.name))
    func runStreakScenario(_ name: String) async throws {
        let run = try #require(BackendConformance.runStreakScenarios.first { $0.name == name }?.run)
        try await withRedis { server in
            let backend = makeBackend(server)
            try await onThread { try run(backend, "conformance-\(name)") }
        }
    }
}
