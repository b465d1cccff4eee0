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
    private let routes = Mutex<[(path: RouterPath, method: HTTPRequest.Method)]>([])

    /// Takes the routes of `router`; call after the last route is added.
    func load<Context>(_ router: Router<Context>) {
        routes.withLock { $0 = router.routes.map { ($0.path, $0.method) } }
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
        // The router, like this, takes a literal segment over a capture, from the first segment on:
        // `queues/x/jobs` is the `jobs` route's, whatever `queues/:queue/:action` takes.
        let literalness = { (path: RouterPath) in path.components.map { "\($0)".contains("{") || "\($0)".contains("*") ? 0 : 1 } }
        guard let best = matching.map({ literalness($0.path) }).max(by: { $0.lexicographicallyPrecedes($1) }) else { return [] }
        var methods = Set(matching.filter { literalness($0.path) == best }.map(\.method))
        if methods.contains(.get) { methods.insert(.head) }
        return [.get, .head, .post, .put, .patch, .delete, .options].filter(methods.contains)
    }
}
