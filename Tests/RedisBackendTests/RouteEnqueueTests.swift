import Backend
import Foundation
import JobHostTesting
import Testing

@testable import RedisBackend

/// Plain-Redis producers without a queue: `FCALL jobhost_enqueue` (the library every host loads when it
/// publishes its routes) and the documented `HGET` of the routes hash.
@Suite struct RedisRouteEnqueueTests {
    static let route = RouteEntry(handler: "company.rewrite", queue: "company-context", maxAttempts: 3, timeout: .seconds(120))

    @Test func fcallWithoutAQueueLandsOnTheRoutesQueueWithItsAttempts() async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            try await onThread { try backend.publishRoutes([Self.route], by: "web-1") }
            let fcall = { (arguments: [String]) async throws -> String in
                try await redisCLI(server, ["FCALL", "jobhost_enqueue", "1", "jh:routes"] + arguments)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let routed = try await fcall(["company.rewrite", #"{"company":42}"#])
            let ownAttempts = try await fcall(["company.rewrite", "{}", "max_attempts", "7"])
            let unique = try await fcall(["company.rewrite", "[1]", "unique_key", "company:42"])
            let sameKey = try await fcall(["company.rewrite", "[2]", "unique_key", "company:42"])
            let elsewhere = try await fcall(["company.rewrite", "{}", "queue", "slow"])
            let later = try await fcall(["company.rewrite", "{}", "delay_ms", "3600000", "timeout_ms", "2500"])
            #expect(routed.count == 26 && routed.allSatisfy { "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains($0) }, "\(routed)")
            #expect(sameKey == unique, "a live holder of the unique key is answered")
            try await onThread { () throws in
                let jobs = try backend.fetch(queue: "company-context", limit: 10, lease: .seconds(30))
                #expect(jobs.map(\.id) == [routed, ownAttempts, unique])
                #expect(jobs.map(\.maxAttempts) == [3, 7, 3], "the route's attempts unless given")
                #expect(jobs.first.map { String(decoding: $0.payload, as: UTF8.self) } == #"{"company":42}"#)
                #expect(jobs.allSatisfy { $0.handler == "company.rewrite" && $0.timeout == nil && $0.attempt == 1 })
                let other = try backend.fetch(queue: "slow", limit: 10, lease: .seconds(30))
                #expect(other.map(\.id) == [elsewhere])
                #expect(other.first?.maxAttempts == 10, "a queue other than the route's gets 10")
                let scheduled = try backend.job(queue: "company-context", id: later)
                #expect(scheduled?.state == .scheduled)
            }
            try await onThread { try expectConsistent(server, queue: "company-context") }
            #expect(try await redisCLI(server, ["HGET", "{jh:company-context}:job:\(later)", "timeout_ms"]).hasPrefix("2500"))
            // A concurrency key travels as two options: the second job of the key waits for the first.
            let first = try await fcall(["company.rewrite", "{}", "concurrency_key", "company:7"])
            let second = try await fcall(["company.rewrite", "{}", "concurrency_key", "company:7", "concurrency_limit", "1"])
            try await onThread { () throws in
                #expect(try backend.fetch(queue: "company-context", limit: 10, lease: .seconds(30)).map(\.id) == [first])
                #expect(try backend.job(queue: "company-context", id: second)?.state == .ready)
            }
        }
    }

    @Test func fcallRefusesAHandlerWithoutARouteNamingItAndWritesNothing() async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            try await onThread { try backend.publishRoutes([Self.route], by: "web-1") }
            let refused = try await redisCLI(server, ["FCALL", "jobhost_enqueue", "1", "jh:routes", "company.rewirte", "{}"])
            #expect(refused.contains(#"no route for handler "company.rewirte""#), "\(refused)")
            for (arguments, reason) in [
                (["company.rewrite", "not json"], "is not JSON"),
                (["company.rewrite", "{}", "max_attempts", "0"], "max_attempts must be a whole number"),
                (["company.rewrite", "{}", "priority", "1"], "unknown option priority"),
                (["company.rewrite", "{}", "queue", "a{b}"], "without { or }"),
                (["company.rewrite", "{}", "concurrency_limit", "2"], "needs a concurrency_key"),
                (["company.rewrite", "{}", "concurrency_key", "k", "concurrency_limit", "0"], "concurrency_limit must be a whole number"),
            ] {
                let answer = try await redisCLI(server, ["FCALL", "jobhost_enqueue", "1", "jh:routes"] + arguments)
                #expect(answer.contains(reason), "\(arguments): \(answer)")
            }
            let keys = try await redisCLI(server, ["--scan", "--pattern", "{*"])
            #expect(keys.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "keys written by refused enqueues: \(keys)")
        }
    }

    /// The documented way without functions (Redis Cluster, or a producer that wants the route itself):
    /// HGET the route, then the usual MULTI/EXEC. Installations with other prefixes share the library.
    @Test func theRouteIsReadableWithHGETAndTheLibraryServesEveryPrefix() async throws {
        try await withRedis { server in
            let first = makeBackend(server)
            let second = makeBackend(server, prefix: "other")
            try await onThread {
                try first.publishRoutes([Self.route], by: "web-1")
                try second.publishRoutes([RouteEntry(handler: "company.rewrite", queue: "elsewhere", maxAttempts: 4, timeout: .seconds(1))], by: "web-2")
            }
            let json = try await redisCLI(server, ["HGET", "jh:routes", "company.rewrite"])
            let route = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            #expect(route["queue"] as? String == "company-context")
            #expect(route["max_attempts"] as? Int == 3)
            #expect(route["timeout_ms"] as? Int == 120_000)
            #expect(route["published_by"] as? String == "web-1")
            let id = try await redisCLI(server, ["FCALL", "jobhost_enqueue", "1", "other:routes", "company.rewrite", "{}"])
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let job = try await onThread { try second.job(queue: "elsewhere", id: id) }
            #expect(job?.maxAttempts == 4)
        }
    }
}
