import Backend
import Foundation
import Glibc
import HostConfig
import HostDomain
import JobHostTesting
import Logging
import Testing

/// What a host publishes: each loaded handler's route as ``JobRouter`` resolves it, to the backend its
/// queue lives on and no other.
@Suite struct RoutePublisherTests {
    @Test func eachHandlerGoesToTheBackendOfItsQueueResolvedAsTheRouterSays() throws {
        let config = try ConfigLoader(environment: [:]).load(
            text: """
                backends:
                  main: { type: redis, url: "redis://127.0.0.1:1" }
                  app: { type: sqlite, path: "/nonexistent/jobs.sqlite" }
                queues:
                  default: { backend: main, timeout: 30s, retry: { max_attempts: 6 } }
                  company-context: { backend: app, timeout: 5m }
                routes:
                  company_context.*: { queue: company-context, timeout: 60s, retry: { max_attempts: 3 } }
                  company_context.slow: company-context
                """, file: "test.yaml", directory: URL(fileURLWithPath: "/tmp"))
        let routes = RoutePublisher.routes(config: config, handlers: [
            .init(name: "company_context.rewrite", defaultTimeout: .seconds(10)),
            .init(name: "company_context.slow", defaultTimeout: .seconds(200)),
            .init(name: "greeter.hello"),
            .init(name: "greeter.wave", defaultTimeout: .seconds(7)),
        ])
        #expect(routes["app"] == [
            // The family route's timeout beats the plugin's default; its attempts beat the queue's.
            RouteEntry(handler: "company_context.rewrite", queue: "company-context", maxAttempts: 3, timeout: .seconds(60)),
            // An exact route without settings: the plugin's default timeout, the queue's attempts
            // (the standard policy's 10).
            RouteEntry(handler: "company_context.slow", queue: "company-context", maxAttempts: 10, timeout: .seconds(200)),
        ])
        #expect(routes["main"] == [
            RouteEntry(handler: "greeter.hello", queue: "default", maxAttempts: 6, timeout: .seconds(30)),
            RouteEntry(handler: "greeter.wave", queue: "default", maxAttempts: 6, timeout: .seconds(7)),
        ])
    }

    @Test func aHandlerWhoseQueueTheConfigLacksIsNotPublished() throws {
        let config = try ConfigLoader(environment: [:]).load(
            text: """
                backends:
                  main: { type: redis, url: "redis://127.0.0.1:1" }
                queues:
                  emails: {}
                routes:
                  mailer.*: emails
                """, file: "test.yaml", directory: URL(fileURLWithPath: "/tmp"))
        let routes = RoutePublisher.routes(config: config, handlers: [.init(name: "mailer.send"), .init(name: "greeter.hello")])
        #expect(routes["main"]?.map(\.handler) == ["mailer.send"], "greeter.hello would go to a default queue the config lacks")
    }

    /// A backend that cannot be reached at start gets the routes once it can, without waiting for the
    /// next minute's refresh.
    @Test func aBackendDownAtStartGetsTheRoutesOnceItIsBack() async throws {
        let server = try await DurableRedisServer.start()
        let config = try ConfigLoader(environment: [:]).load(
            text: """
                backends:
                  main: { type: redis, url: "\(server.url)", connect_timeout: 200ms }
                queues:
                  default: {}
                """, file: "test.yaml", directory: URL(fileURLWithPath: "/tmp"))
        let backends = Backends.make(config, logger: Logger(label: "test"))
        let publisher = RoutePublisher(
            config: config, backends: backends, handlers: [.init(name: "greeter.hello")], hostName: "web-1", logger: Logger(label: "test"))
        await server.kill()
        #expect(try await onThread { publisher.publishOnce() } == false, "published to a server that is down")
        publisher.start()
        defer { publisher.stop() }
        try await server.start()
        let store = try #require(backends["main"] as? any RouteStore)
        try await waitUntil("the routes reach the restarted server", timeout: .seconds(60)) {
            try await onThread { try store.publishedRoutes().map(\.entry.handler) } == ["greeter.hello"]
        }
    }
}
