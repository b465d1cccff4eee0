import Backend
import Foundation
import Glibc
import JobHostTesting
import Testing

/// `host run` publishes its routes to the backend, where producers without the config find them: the
/// SQL function, `FCALL jobhost_enqueue`, the SQLite `enqueue` view; `host routes` lists them.
@Suite(.serialized)
struct RoutePublishTests {
    @Test(arguments: HostHarness.BackendKind.allCases)
    func hostRunPublishesItsRoutesAndAProducerWithoutAQueueUsesThem(_ kind: HostHarness.BackendKind) async throws {
        let harness = try await HostHarness.testPlugin(
            kind, hostYAML: ", name: routes-host", queuesYAML: "  records: { concurrency: 1, timeout: 3s, retention: 1h }\n",
            extraYAML: "routes:\n  test.record: { queue: records, retry: { max_attempts: 4 } }")
        let store = try #require(harness.backend as? any RouteStore)
        let host = try harness.startHost()

        var routes: [PublishedRoute] = []
        try await harness.waitUntil("the host published its routes") {
            routes = try store.publishedRoutes()
            return routes.contains { $0.entry.handler == "test.record" }
        }
        let record = try #require(routes.first { $0.entry.handler == "test.record" })
        #expect(record.entry == RouteEntry(handler: "test.record", queue: "records", maxAttempts: 4, timeout: .seconds(3)))
        #expect(record.publishedBy == "routes-host")
        // Every handler of the plugin, the unrouted ones on the default queue with its attempts.
        #expect(routes.contains { $0.entry.handler == "test.noop" && $0.entry.queue == "default" && $0.entry.timeout == .seconds(2) })
        #expect(routes.count == Set(routes.map(\.entry.handler)).count)

        let payload = #"{"record": "\#(harness.recordFile)"}"#
        let id: String
        switch kind {
        case .postgres:
            let postgres = try #require(harness.postgres)
            id = try await postgres.psql("SELECT jobhost.enqueue('test.record', '\(payload)'::jsonb)")
        case .redis:
            let redis = try #require(harness.redis)
            let reply = try await ChildProcess.run(
                "redis-cli", ["-p", String(redis.port), "FCALL", "jobhost_enqueue", "1", "run:routes", "test.record", payload])
            #expect(reply.status == 0, "\(reply.stderr)")
            id = reply.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        case .sqlite:
            let inserted = try await ChildProcess.run(
                "sqlite3", [
                    "-cmd", ".timeout 10000", harness.backendURL,
                    "INSERT INTO enqueue (id, handler, payload) VALUES ('sqlite-routed-1', 'test.record', '\(payload)');",
                ])
            #expect(inserted.status == 0, "\(inserted.stderr)")
            id = "sqlite-routed-1"
        }
        try await harness.waitUntil("the job enqueued without a queue ran") { try harness.recordedIDs().contains(id) }
        let job = try harness.backend.job(queue: "records", id: id)
        #expect(job?.maxAttempts == 4, "the route's attempts")

        let listed = try await harness.host(["routes", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        struct Listing: Decodable {
            struct Row: Decodable {
                let handler: String
                let queue: String
                let max_attempts: Int
                let published_by: String
                let stale: Bool
                let matches_config: Bool
            }
            let routes: [Row]
        }
        let rows = try JSONDecoder().decode(Listing.self, from: Data(listed.stdout.utf8)).routes
        let row = try #require(rows.first { $0.handler == "test.record" })
        #expect(row.queue == "records" && row.max_attempts == 4 && row.published_by == "routes-host")
        #expect(!row.stale && row.matches_config)

        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0, "\(host.log)")
    }

    /// A config that sends a handler elsewhere than the route published last is shown as such, and a
    /// table says when nothing was published.
    @Test func hostRoutesComparesThePublishedRoutesWithTheConfig() async throws {
        let harness = try await HostHarness.testPlugin(.sqlite)
        let empty = try await harness.host(["routes"])
        #expect(empty.status == 0, "\(empty.stderr)")
        #expect(empty.stdout.contains("no routes published yet"), "\(empty.stdout)")
        let store = try #require(harness.backend as? any RouteStore)
        try store.publishRoutes([RouteEntry(handler: "test.record", queue: "old-queue", maxAttempts: 9, timeout: .seconds(5))], by: "old-host")
        let listed = try await harness.host(["routes"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let line = try #require(listed.stdout.split(separator: "\n").first { $0.contains("test.record") })
        #expect(line.contains("old-queue") && line.contains("old-host") && line.contains("fresh"), "\(line)")
        #expect(line.contains("queue default, 10 attempts"), "what this config would publish: \(line)")
    }
}
