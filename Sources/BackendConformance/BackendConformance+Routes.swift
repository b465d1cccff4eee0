import Backend
import Foundation

/// Published routes (every ``RouteStore``): what hosts publish is read back as written, the last
/// writer of a handler wins, and a handler nobody publishes any more keeps its route and its time.
extension BackendConformance {
    /// The scenarios every ``RouteStore`` must pass. Each takes the store and a name nobody else uses,
    /// to build handler names from.
    public static let routeScenarios: [(name: String, run: @Sendable (any RouteStore, String) throws -> Void)] = [
        ("routesReadBackAsPublished", routesReadBackAsPublished),
        ("lastPublisherOfAHandlerWins", lastPublisherOfAHandlerWins),
        ("routeNotPublishedAgainKeepsItsTime", routeNotPublishedAgainKeepsItsTime),
        ("badRoutesAreRefusedAndWriteNothing", badRoutesAreRefusedAndWriteNothing),
    ]

    /// Every field comes back as written, with the publisher and a time from the backend's clock near
    /// now; routes are listed by handler name; an empty store lists none.
    public static func routesReadBackAsPublished(_ store: any RouteStore, name: String) throws {
        try expectEqual(try store.publishedRoutes().count, 0, "routes of a new store")
        let routes = [
            RouteEntry(handler: "\(name).second", queue: "company-context", maxAttempts: 3, timeout: .milliseconds(1500)),
            RouteEntry(handler: "\(name).first", queue: "default", maxAttempts: 25, timeout: .seconds(90)),
        ]
        let before = Date()
        try store.publishRoutes(routes, by: "web-1")
        let published = try store.publishedRoutes()
        try expectEqual(published.map(\.entry), [routes[1], routes[0]], "routes read back, by handler")
        try expectEqual(published.map(\.publishedBy), ["web-1", "web-1"], "publishers")
        for route in published {
            try expect(
                abs(route.publishedAt.timeIntervalSince(before)) < 60,
                "\(route.entry.handler) published at \(route.publishedAt), far from the time of the publish, \(before)")
        }
        try store.publishRoutes([], by: "web-1")
        try expectEqual(try store.publishedRoutes().map(\.entry), [routes[1], routes[0]], "routes after publishing none")
    }

    /// Two hosts publish overlapping handlers: each handler has the route of the host that wrote it last,
    /// and one host's publish leaves the other's other handlers as they were.
    public static func lastPublisherOfAHandlerWins(_ store: any RouteStore, name: String) throws {
        try store.publishRoutes([
            RouteEntry(handler: "\(name).a", queue: "q1", maxAttempts: 1, timeout: .seconds(1)),
            RouteEntry(handler: "\(name).b", queue: "q1", maxAttempts: 2, timeout: .seconds(2)),
        ], by: "host-old")
        try store.publishRoutes([
            RouteEntry(handler: "\(name).b", queue: "q2", maxAttempts: 5, timeout: .seconds(20)),
            RouteEntry(handler: "\(name).c", queue: "q2", maxAttempts: 6, timeout: .seconds(30)),
        ], by: "host-new")
        let published = try store.publishedRoutes()
        try expectEqual(published.map(\.entry.handler), ["\(name).a", "\(name).b", "\(name).c"], "handlers")
        try expectEqual(published.map(\.publishedBy), ["host-old", "host-new", "host-new"], "who wrote each last")
        try expectEqual(
            published[1].entry, RouteEntry(handler: "\(name).b", queue: "q2", maxAttempts: 5, timeout: .seconds(20)), "the route written last")
        try expectEqual(published[0].entry.queue, "q1", "a handler only the first host publishes")
    }

    /// Publishing again moves a handler's time forward; a handler left out keeps the time it had, which
    /// is how operators see that no running host serves it any more.
    public static func routeNotPublishedAgainKeepsItsTime(_ store: any RouteStore, name: String) throws {
        let kept = RouteEntry(handler: "\(name).gone", queue: "q", maxAttempts: 4, timeout: .seconds(10))
        let served = RouteEntry(handler: "\(name).served", queue: "q", maxAttempts: 4, timeout: .seconds(10))
        try store.publishRoutes([kept, served], by: "host-1")
        let first = try store.publishedRoutes()
        let refreshed = try require(
            try eventually(within: .seconds(30)) { () throws -> [PublishedRoute]? in
                try store.publishRoutes([served], by: "host-1")
                let now = try store.publishedRoutes()
                return now[1].publishedAt > first[1].publishedAt ? now : nil
            }, "republishing \(served.handler) never moved its time past \(first[1].publishedAt)")
        try expectEqual(refreshed.map(\.entry), [kept, served], "routes after a republish without \(kept.handler)")
        try expectEqual(refreshed[0].publishedAt, first[0].publishedAt, "time of the route no one publishes any more")
    }

    /// An empty handler or queue, or attempts below 1, refuse the whole publish as invalid, writing none
    /// of its routes.
    public static func badRoutesAreRefusedAndWriteNothing(_ store: any RouteStore, name: String) throws {
        let good = RouteEntry(handler: "\(name).good", queue: "q", maxAttempts: 3, timeout: .seconds(5))
        for bad in [
            RouteEntry(handler: "", queue: "q", maxAttempts: 3, timeout: .seconds(5)),
            RouteEntry(handler: "\(name).bad", queue: "", maxAttempts: 3, timeout: .seconds(5)),
            RouteEntry(handler: "\(name).bad", queue: "q", maxAttempts: 0, timeout: .seconds(5)),
        ] {
            do {
                try store.publishRoutes([good, bad], by: "host-1")
                throw ConformanceFailure("publishing \(bad) was accepted")
            } catch let error as BackendError {
                try expectEqual(error.code, .invalid, "error code for \(bad)")
            }
        }
        try expectEqual(try store.publishedRoutes().count, 0, "routes after refused publishes")
    }
}
