import Backend
import Foundation
import HTTPTypes
import HostConfig
import Hummingbird
import HummingbirdTesting
import JobHostTesting
import Logging
import Monitoring
import RedisBackend
import HostDomain
import Scheduler
import Testing

@testable import AdminHTTP

/// `/health`, `/ready`, `/live`, `/health/tasks` and `/metrics` of a host whose backend is a real
/// Redis, through the router alone.
@Suite(.serialized)
struct ProbesTests {
    struct Fixture {
        let redis: RedisServer
        let host: AdminHost
        let app: Application<RouterResponder<BasicRequestContext>>

        init() async throws {
            redis = try await RedisServer.start()
            let config = try ConfigLoader(environment: [:]).load(
                text: """
                    backends:
                      main: { type: redis, url: "\(redis.url)", key_prefix: a }
                    queues:
                      default: {}
                    """, file: "test.yaml", directory: URL(fileURLWithPath: "/"))
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let backend = RedisBackend(url: redis.url, keyPrefix: "a", connectTimeout: .seconds(2), commandTimeout: .seconds(30), logger: logger)
            let backends: [String: any JobBackend] = ["main": backend]
            host = AdminHost(
                config: config, backends: backends,
                probe: HostProbe(config: config, backends: backends, sources: .init(), scheduler: SchedulerWatch()),
                metrics: HostMetrics(), tasks: TaskHealth(), scheduler: Scheduler(config: config, backends: backends, logger: logger),
                readiness: Readiness(), pluginsJSON: Array("{}".utf8), logger: logger)
            let router = Router()
            Probes(host: host).register(on: router)
            app = Application(router: router)
        }

        struct Answer: Sendable {
            let status: HTTPResponse.Status
            let body: String
            let contentType: String?
            let cacheControl: String?
            var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
        }

        func get(_ path: String) async throws -> Answer {
            try await app.test(.router) { client in
                try await client.execute(uri: path, method: .get) { response in
                    Answer(
                        status: response.status, body: String(buffer: response.body), contentType: response.headers[.contentType],
                        cacheControl: response.headers[.cacheControl])
                }
            }
        }
    }

    @Test func readinessFollowsTheHostsStateAndItsBackendsWhileLivenessNeverDoes() async throws {
        let fixture = try await Fixture()
        defer { fixture.redis.stop() }
        var ready = try await fixture.get("/ready")
        #expect(ready.status == .serviceUnavailable && ready.json["status"] as? String == "starting", "\(ready.body)")

        fixture.host.readiness.serving()
        ready = try await fixture.get("/ready")
        #expect(ready.status == .ok && ready.json["status"] as? String == "ready", "\(ready.body)")

        kill(fixture.redis.pid, SIGSTOP)
        defer { kill(fixture.redis.pid, SIGCONT) }
        ready = try await fixture.get("/ready")
        #expect(ready.status == .serviceUnavailable && ready.json["status"] as? String == "backend down: main", "\(ready.body)")
        let live = try await fixture.get("/live")
        #expect(live.status == .ok && live.json["status"] as? String == "alive", "liveness asks nothing of the backends")
        kill(fixture.redis.pid, SIGCONT)
        try await waitUntil("/ready to answer 200 once the backend answers again") { try await fixture.get("/ready").status == .ok }

        fixture.host.readiness.draining()
        ready = try await fixture.get("/ready")
        #expect(ready.status == .serviceUnavailable && ready.json["status"] as? String == "draining")
        fixture.host.readiness.serving()
        #expect(try await fixture.get("/ready").status == .serviceUnavailable, "a draining host does not serve again")
    }

    @Test func healthIsTheSnapshotInSnakeCaseAndUnavailableWithItsProblems() async throws {
        let fixture = try await Fixture()
        defer { fixture.redis.stop() }
        var health = try await fixture.get("/health")
        #expect(health.status == .ok, "\(health.body)")
        #expect(health.contentType == "application/json" && health.cacheControl == "no-store")
        #expect(health.body.hasSuffix("}\n"))
        #expect(health.json["status"] as? String == "ok" && (health.json["problems"] as? [String])?.isEmpty == true)
        let queue = try #require((health.json["queues"] as? [[String: Any]])?.first)
        #expect(queue["running_here"] as? Int == 0 && (queue["jobs"] as? [String: Any])?["ready"] as? Int == 0, "\(health.body)")
        #expect((health.json["backends"] as? [[String: Any]])?.first?["latency_milliseconds"] is Double)

        fixture.redis.stop()
        health = try await fixture.get("/health")
        #expect(health.status == .serviceUnavailable)
        #expect(health.json["status"] as? String == "unhealthy")
        let problems = try #require(health.json["problems"] as? [String])
        #expect(problems.count == 1 && problems[0].hasPrefix("backend 'main' does not answer: "), "\(problems)")
    }

    @Test func tasksAndMetricsShowWhatTheHostRecorded() async throws {
        let fixture = try await Fixture()
        defer { fixture.redis.stop() }
        let failure = FinishedJob(
            queue: "default", handler: "d.bad", jobID: "J1", attempt: 1, result: .retried, runTime: .milliseconds(5), error: "bad/thing")
        fixture.host.tasks.record([failure])
        fixture.host.metrics.record([failure])
        let tasks = try await fixture.get("/health/tasks")
        let task = try #require((tasks.json["tasks"] as? [[String: Any]])?.first, "\(tasks.body)")
        #expect(task["handler"] as? String == "d.bad" && task["consecutive_failures"] as? Int == 1 && task["last_error"] as? String == "bad/thing")
        #expect(tasks.body.contains(#""last_error":"bad/thing""#), "slashes are not escaped: \(tasks.body)")
        let failedAt = try #require(task["last_failure_at"] as? String)
        #expect(ISO8601DateFormatter().date(from: failedAt) != nil, "dates in ISO 8601: \(failedAt)")

        let metrics = try await fixture.get("/metrics")
        #expect(metrics.status == .ok && metrics.contentType == "text/plain; version=0.0.4; charset=utf-8")
        #expect(metrics.body.contains(#"jobhost_jobs_failed_total{queue="default",handler="d.bad"} 1"#))
        #expect(metrics.body.contains(#"jobhost_backend_up{backend="main"} 1"#), "the gauges are set from a snapshot at each scrape")
    }

    @Test func repliesAreJSONOrErrorsInOneShape() throws {
        let error = Reply.error(.conflict, "job J1 is not dead")
        #expect(error.status == .conflict && error.headers[.contentType] == "application/json" && error.headers[.cacheControl] == "no-store")
        struct Sample: Encodable {
            let someValue: Int
            let at: Date
        }
        let encoded = Reply.json(Sample(someValue: 3, at: Date(timeIntervalSince1970: 0)), status: .created)
        #expect(encoded.status == .created)
        let bytes = Reply.bytes([1, 2, 3], type: "application/octet-stream")
        #expect(bytes.status == .ok && bytes.headers[.contentType] == "application/octet-stream")
    }
}
