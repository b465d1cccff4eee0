import HTTPTypes
import Hummingbird
import Synchronization

/// A method the server does not take on a path it serves is a 405 naming the methods it does take
/// there, rather than the router's 404, which would say the path does not exist. Judged before
/// access: which methods a path takes is no secret.
struct ServedMethods<Context: RequestContext>: RouterMiddleware {
    let table: RouteMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let allowed = table.methods(for: request.uri.path)
        guard allowed.isEmpty || allowed.contains(request.method) else {
            let names = allowed.map(\.rawValue).joined(separator: ", ")
            var response = Reply.error(.methodNotAllowed, "\(request.method.rawValue) is not served at \(request.uri.path); it takes \(names)")
            response.headers[.allow] = names
            return response
        }
        return try await next(request, context)
    }
}

/// The methods each route of a router takes, read from the router once every route is on it.
final class RouteMethods: Sendable {
    private struct Route {
        var path: RouterPath
        var method: HTTPRequest.Method
        /// Per segment, 1 for a literal and 0 for a capture or wildcard: the router takes a literal
        /// segment over a capture, from the first segment on, so `queues/x/jobs` is the `jobs`
        /// route's, whatever `queues/:queue/:action` takes.
        var literalness: [Int]
    }

    private let routes = Mutex<[Route]>([])

    /// Takes the routes of `router`; call after the last route is added.
    func load<Context>(_ router: Router<Context>) {
        let loaded = router.routes.map { route in
            Route(
                path: route.path, method: route.method,
                literalness: route.path.components.map { "\($0)".contains("{") || "\($0)".contains("*") ? 0 : 1 })
        }
        routes.withLock { $0 = loaded }
    }

    /// The methods routes matching `path` take (HEAD wherever GET is), in a fixed order; empty when
    /// no route matches it.
    func methods(for path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        let matching = routes.withLock { routes in
            routes.filter { route in
                route.path.components.count == segments.count && zip(route.path.components, segments).allSatisfy { $0 ~= $1 }
            }
        }
        guard let best = matching.map(\.literalness).max(by: { $0.lexicographicallyPrecedes($1) }) else { return [] }
        var methods = Set(matching.filter { $0.literalness == best }.map(\.method))
        if methods.contains(.get) { methods.insert(.head) }
        return [.get, .head, .post, .put, .patch, .delete, .options].filter(methods.contains)
    }
}
