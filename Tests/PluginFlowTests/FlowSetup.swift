import Foundation
import JobHostTesting

/// The reference plugins through the real `host run`: jobs on a private Redis, the plugins' tables
/// in a private PostgreSQL (the application database), the AI a local fake server.
extension HostHarness {
    /// - Parameters:
    ///   - plugins: the plugin entries (`Noctua`, …) to load; each gets the database and AI settings, Worlds Redis too.
    ///   - maxAttempts: of the default queue, where every family's jobs go.
    ///   - queues: extra YAML under `queues:` (two-space indented entries), after the default queue.
    ///   - routes: extra YAML under `routes:` (two-space indented entries), before the family routes;
    ///     an exact handler name there wins over its family's `family.*` route.
    ///   - extraYAML: more top-level sections (schedules).
    static func flow(
        plugins: [String], maxAttempts: Int = 5, queues: String = "", routes: String = "", extraYAML: String = "",
        aiTimeoutSeconds: Double = 5
    ) async throws -> HostHarness {
        let harness = try await HostHarness(.redis, keyPrefix: "flow", applicationDatabase: "app", fakeAI: true)
        // Only the keys each plugin takes: any other is refused at start.
        let pluginYAML = plugins.map { name in
            """
              \(name):
                config:
                  database_url: "\(harness.app.url)"
                  \(name == "Worlds" ? "redis_url: \"\(harness.backendURL)\"" : "# no Redis of its own")
                  ai_base_url: "\(harness.fakeAI.url)"
                  ai_model: fake-1
                  ai_timeout_seconds: \(aiTimeoutSeconds)
            """
        }.joined(separator: "\n")
        // The handler names of each plugin start with its family: Noctua → noctua.*, CompanyContext → company_context.*.
        let familyRoutes = plugins.map { name in
            let family = name.replacing(/([a-z])([A-Z])/) { "\($0.1)_\($0.2)" }.lowercased()
            return "  \(family).*: { queue: default, timeout: 8s }"
        }
        try harness.writeConfig(
            host: "shutdown_timeout: 3s, log_level: info, timeout_grace: 2s",
            plugins: pluginYAML,
            queues: "  default: { concurrency: 4, timeout: 8s, lease: 10s, retry: { max_attempts: \(maxAttempts), base: 200ms, max: 1s } }\n\(queues)",
            routes: ([routes] + familyRoutes).filter { !$0.isEmpty }.joined(separator: "\n"),
            extra: extraYAML)
        return harness
    }

    /// The application database the plugins write to.
    var app: PostgresServer { database! }

    /// The fake AI endpoint the plugins call.
    var fakeAI: FakeAIServer { ai! }

    /// One value from the application database (`psql -At`), trimmed.
    func sql(_ query: String) throws -> String {
        try app.psql(query)
    }
}
