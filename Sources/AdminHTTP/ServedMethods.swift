import HTTPTypes
import Hummingbird

/// The admin server answers only GET, HEAD and POST, on every path. Any other method is a 405 with
/// the methods it takes, before access is judged, rather than the router's 404, which would say the
/// path does not exist.
struct ServedMethods<Context: RequestContext>: RouterMiddleware {
    static var allowed: [HTTPRequest.Method] { [.get, .head, .post] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.allowed.contains(request.method) else {
            var response = Reply.error(.methodNotAllowed, "\(request.method.rawValue) is not served here; the admin server takes GET, HEAD and POST")
            response.headers[.allow] = Self.allowed.map(\.rawValue).joined(separator: ", ")
            return response
        }
        return try await next(request, context)
    }
}
