import Backend
import Foundation
import Glibc
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JobHostTesting
import Logging
import PostgresBackend
import Testing

/// No secret in any output: a canary password in the backend URLs, the plugin config, the admin
/// token and the alert webhook's URL, through
/// `host run` at trace level (startup, jobs that succeed, retry and die, a broken connection, a
/// backend that refuses the password, one that is not there, shutdown) and the inspection commands.
@Suite(.serialized)
struct SecretLogTests {
    static let canary = "canary-7f3a9c"

    @Test func theCanaryPasswordIsInNoLogAndNoOutput() async throws {
        let harness = try await HostHarness(.postgres, migrate: false)
        let postgres = try #require(harness.postgres)
        let redis = try await RedisServer.start()
        defer { redis.stop() }

        // A role whose password is really checked (the harness trusts everyone else), owning the database.
        _ = try await postgres.psql("CREATE ROLE jh_canary LOGIN PASSWORD '\(Self.canary)'; ALTER DATABASE jobhost_test OWNER TO jh_canary;")
        let hba = postgres.directory.appendingPathComponent("data/pg_hba.conf").path
        let rules = try String(contentsOfFile: hba, encoding: .utf8)
        try ("host all jh_canary 127.0.0.1/32 scram-sha-256\n" + rules).write(toFile: hba, atomically: false, encoding: .utf8)
        _ = try await postgres.psql("SELECT pg_reload_conf()")
        // Redis asks for another password than the one the config gives it.
        let auth = try await ChildProcess.run("redis-cli", ["-p", "\(redis.port)", "CONFIG", "SET", "requirepass", "the-right-one"])
        #expect(auth.status == 0, "\(auth.stderr)")

        let databaseURL = "postgres://jh_canary:\(Self.canary)@127.0.0.1:\(postgres.port)/jobhost_test"
        let webhook = try WebhookReceiver.start()
        defer { webhook.stop() }
        let adminPort = try Loopback.freePort()
        let adminToken = "\(Self.canary)-admin-token"
        let environment = [
            "CANARY_DATABASE_URL": databaseURL, "CANARY_ADMIN_TOKEN": adminToken,
            "CANARY_WEBHOOK": "http://127.0.0.1:\(webhook.port)/hooks/\(Self.canary)",
        ]
        try harness.writeConfig(
            host: "shutdown_timeout: 2s, log_level: trace, log_format: json",
            plugins: "  TestPlugin: { config: { api_key: \"\(Self.canary)\" } }",
            queues: """
                  default: { backend: db, concurrency: 2, timeout: 5s, lease: 30s, retry: { max_attempts: 2, base: 100ms, max: 200ms } }
                  cached: { backend: cache }
                  lost: { backend: gone, isolation: thread }
                """,
            extra: """
                admin: { listen: "127.0.0.1:\(adminPort)", token_env: CANARY_ADMIN_TOKEN }
                alerts: { after_failures: 1, webhook_url_env: CANARY_WEBHOOK }
                """,
            backends: """
                  db: { type: postgres, url: "${CANARY_DATABASE_URL}", auto_migrate: true, connect_timeout: 2s }
                  cache: { type: redis, url: "redis://:\(Self.canary)@127.0.0.1:\(redis.port)/0", connect_timeout: 500ms }
                  gone: { type: redis, url: "redis://jobhost:\(Self.canary)@127.0.0.1:1", connect_timeout: 500ms }
                """)
        // The same with a PostgreSQL backend whose password is wrong, as a keyword string: `host run` refuses it.
        let wrongConfig = harness.directory.url.appendingPathComponent("wrong.yaml").path
        try """
            host: { log_level: trace, log_format: json }
            backends:
              db: { type: postgres, url: "host=127.0.0.1 port=\(postgres.port) dbname=jobhost_test user=jh_canary password='\(Self.canary)-x'", connect_timeout: 2s }
            queues:
              default: { backend: db }
            """.write(toFile: wrongConfig, atomically: false, encoding: .utf8)

        var outputs: [(what: String, text: String)] = []
        func host(_ arguments: [String], config: String? = nil) async throws -> ChildProcess.Output {
            let output = try await harness.host(arguments, config: config, environment: environment)
            outputs.append(("host \(arguments.joined(separator: " "))", output.stdout + output.stderr))
            return output
        }

        let run = try harness.startHost("run", environment: environment)
        try await harness.waitUntil("the host applied its migrations") { run.log.contains("applied migrations") }
        var ids: [String] = []
        for (handler, payload) in [
            ("test.record", "{}"), ("test.record", "{}"), ("test.flaky", #"{"failures": 1}"#), ("test.discard", "{}"), ("test.throw", "{}"),
            ("test.log", "{}"),
        ] {
            let enqueued = try await host(["enqueue", handler, payload])
            #expect(enqueued.status == 0, "\(enqueued.stderr)")
            ids.append(enqueued.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        func settled(_ count: Int) throws -> Bool {
            let stats = try harness.backend.stats(queue: "default")
            return stats.processed + stats.dead == count && stats.ready + stats.running + stats.scheduled == 0
        }
        try await harness.waitUntil("every job done or dead") { try settled(ids.count) }
        #expect(await !webhook.requests(atLeast: 1).isEmpty, "an alert went to the webhook")

        // The admin API, with the token, a wrong one that contains the canary, and none.
        func admin(_ method: String, _ path: String, token: String?) async throws -> Int {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(adminPort)\(path)")!)
            request.httpMethod = method
            if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            let (body, response) = try await URLSession.shared.data(for: request)
            outputs.append(("\(method) \(path)", String(decoding: body, as: UTF8.self)))
            return (response as? HTTPURLResponse)?.statusCode ?? 0
        }
        #expect(try await admin("GET", "/metrics", token: adminToken) == 200)
        #expect(try await admin("GET", "/health", token: nil) == 503, "the Redis backends are refused or gone")
        #expect(try await admin("GET", "/api/v1/queues", token: adminToken) == 200)
        #expect(try await admin("GET", "/api/v1/plugins", token: adminToken) == 200)
        #expect(try await admin("POST", "/api/v1/queues/default/dead/retry", token: Self.canary + "-wrong-token") == 401)

        // The server drops the host's connections: the host reconnects and goes on.
        _ = try await postgres.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'jh_canary'")
        _ = try await host(["enqueue", "test.record", "{}"])
        try await harness.waitUntil("the job enqueued after the connections were dropped done") { try settled(ids.count + 1) }
        run.send(SIGTERM)
        #expect(await run.waitUntilExit(timeout: .seconds(60)) == 0, "\(run.log.suffix(3000))")
        outputs.append(("host run", run.log))

        // The paths under test were taken.
        let log = run.log
        #expect(log.contains("job failed; will retry") && log.contains("job failed: discarded by its handler") && log.contains("job failed for good"))
        #expect(log.contains("WRONGPASS"), "the Redis backend refused the password")
        #expect(log.contains("127.0.0.1:1: Connection refused"), "the unreachable Redis backend")
        #expect(log.contains("PostgreSQL") && (log.contains("lost the connection") || log.contains("reconnecting")), "\(log.suffix(3000))")

        _ = try await host(["check-config"])
        _ = try await host(["check-config", "--json"])
        _ = try await host(["list-plugins", "--json", "--handlers"])
        _ = try await host(["queues"])
        _ = try await host(["queues", "--json"])
        _ = try await host(["jobs", "list"])
        let dead = try await host(["jobs", "list", "--state", "dead", "--queue", "default", "--json"])
        #expect(dead.status == 0 && dead.stdout.contains("discarded on purpose"), "\(dead.stdout)\(dead.stderr)")
        _ = try await host(["jobs", "show", ids[0]])
        _ = try await host(["schedules"])
        let refused = try await host(["queues"], config: wrongConfig)
        #expect(refused.stdout.contains("password authentication failed"), "\(refused.stdout)\(refused.stderr)")
        let notStarted = try await host(["run"], config: wrongConfig)
        #expect(notStarted.status != 0, "\(notStarted.stderr)")

        for output in outputs {
            let leaks = output.text.split(separator: "\n").filter { $0.contains(Self.canary) }
            #expect(leaks.isEmpty, "\(output.what) printed the password:\n\(leaks.joined(separator: "\n"))")
        }
    }
}
