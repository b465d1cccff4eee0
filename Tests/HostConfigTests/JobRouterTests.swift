import Foundation
import Testing

@testable import HostConfig

/// Every precedence rule of the router: which queue, retry policy, attempts and timeout apply.
struct JobRouterTests {
    static let yaml = """
        backends:
          main: { type: redis, url: "redis://127.0.0.1:6379/0" }
        queues:
          default: { timeout: 30s, retry: { max_attempts: 4, base: 2s } }
          ai: { timeout: 2m, retry: { max_attempts: 7, base: 5s } }
          slow: { timeout: 10m }
        routes:
          noctua.*: ai
          noctua.strategy.*: slow
          noctua.generate: { queue: default, timeout: 45s, retry: { max_attempts: 2 } }
          voxa.*: { queue: ai, timeout: 90s }
        schedules:
          nightly: { cron: "0 3 * * *", handler: noctua.cleanup }
          pinned: { every: 1h, handler: noctua.cleanup, queue: slow }
          unrouted: { every: 1h, handler: greeter.hello }
        """

    let router: JobRouter

    init() throws {
        let config = try ConfigLoader(environment: [:]).load(text: Self.yaml, file: "test.yaml", directory: URL(fileURLWithPath: "/etc"))
        router = JobRouter(config)
    }

    @Test func anExactRouteWinsOverEveryWildcard() {
        #expect(router.route(for: "noctua.generate")?.pattern == "noctua.generate")
        #expect(router.queueName(for: "noctua.generate") == "default")
    }

    @Test func theLongestMatchingWildcardWins() {
        #expect(router.queueName(for: "noctua.strategy.batch") == "slow")
        #expect(router.queueName(for: "noctua.anything") == "ai")
    }

    @Test func aHandlerWithNoRouteGoesToTheDefaultQueue() {
        #expect(router.route(for: "greeter.hello") == nil)
        #expect(router.queueName(for: "greeter.hello") == QueueConfig.defaultName)
    }

    @Test func aQueueAskedForWinsOverTheRoute() {
        #expect(router.queueName(for: "noctua.anything", requested: "slow") == "slow")
        #expect(router.queue(for: "noctua.anything", requested: "nope") == nil, "an unknown queue is not replaced by the route's")
    }

    @Test func aScheduleGoesToItsOwnQueueElseItsHandlersRoute() throws {
        let nightly = try #require(router.schedule(named: "nightly"))
        let pinned = try #require(router.schedule(named: "pinned"))
        let unrouted = try #require(router.schedule(named: "unrouted"))
        #expect(router.queueName(for: nightly) == "ai")
        #expect(router.queueName(for: pinned) == "slow")
        #expect(router.queueName(for: unrouted) == "default")
    }

    @Test func retryPolicyIsTheRoutesElseTheQueuesElseTheStandardOne() {
        #expect(router.retryPolicy(for: "noctua.generate", queue: "default").maxAttempts == 2, "the route's")
        #expect(router.retryPolicy(for: "noctua.generate", queue: "default").base == .seconds(2), "a route's retry inherits its queue's other fields")
        #expect(router.retryPolicy(for: "greeter.hello", queue: "ai").maxAttempts == 7, "the queue's, for a handler with no route retry")
        #expect(router.retryPolicy(for: "greeter.hello", queue: "gone") == .standard, "a queue no longer in the config")
    }

    @Test func maxAttemptsIsTheJobsElseTheRoutesElseTheQueues() throws {
        let queue = try #require(router.queue(named: "default"))
        #expect(router.maxAttempts(for: "noctua.generate", queue: queue, requested: 9) == 9)
        #expect(router.maxAttempts(for: "noctua.generate", queue: queue) == 2)
        #expect(router.maxAttempts(for: "greeter.hello", queue: queue) == 4)
    }

    @Test func timeoutIsTheJobsElseTheRoutesElseThePluginsElseTheQueues() throws {
        let ai = try #require(router.queue(named: "ai"))
        #expect(router.timeout(for: "voxa.refine", queue: ai, job: .seconds(5), pluginDefault: .seconds(7)) == .seconds(5))
        #expect(router.timeout(for: "voxa.refine", queue: ai, pluginDefault: .seconds(7)) == .seconds(90))
        #expect(router.timeout(for: "noctua.anything", queue: ai, pluginDefault: .seconds(7)) == .seconds(7), "a wildcard route without a timeout")
        #expect(router.timeout(for: "noctua.anything", queue: ai) == .seconds(120))
    }
}
