import Foundation
import HTTPTypes
import Hummingbird

/// Who may call what. The probes answer anyone (orchestrators carry no token), and so do the
/// dashboard's page, script and style (they hold no data) and `/session`. Reading calls need the
/// token unless `open_reads` is set. Changing calls always need it, and are refused when a browser
/// says the request comes from another site, so a page an operator visits cannot drive the API with
/// credentials the browser holds.
///
/// The token comes as a bearer header (scripts, Prometheus) or as the dashboard's sign-in cookie. A
/// change made with the cookie must also carry the session's CSRF token in a header that only a
/// page of this origin can read and set: a cookie is sent by the browser on its own, a header is not.
struct AdminAccess<Context: RequestContext>: RouterMiddleware {
    /// nil: no token configured; nothing can be changed, and reads need `openReads`.
    let token: BearerToken?
    let openReads: Bool

    /// Exactly these paths: `/health/tasks` is reading (job errors may quote payloads).
    static var probes: Set<String> { ["/health", "/ready", "/live"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if Self.probes.contains(path) || DashboardPages.paths.contains(path) || path == DashboardSession.statusPath {
            return try await next(request, context)
        }
        let changes = request.method != .get && request.method != .head
        if changes {
            if let site = request.headers[.secFetchSite], site != "same-origin", site != "none" {
                return Reply.error(.forbidden, "cross-site requests may not change anything (Sec-Fetch-Site: \(site))")
            }
            // Signing in and out check the token themselves.
            if path == DashboardSession.signInPath || path == DashboardSession.signOutPath { return try await next(request, context) }
            guard token != nil else {
                return Reply.error(.forbidden, "changes over HTTP are off: set admin.token_env to the name of an environment variable holding a token")
            }
        } else if openReads {
            return try await next(request, context)
        }
        guard let token else {
            return Reply.error(.unauthorized, "this needs a token: set admin.token_env (or admin.open_reads: true for reading)")
        }
        switch Self.credentials(of: request) {
        case .bearer(let presented) where Self.constantTimeEqual(presented, token.bytes):
            return try await next(request, context)
        case .cookie(let presented, let csrf) where Self.constantTimeEqual(presented, token.bytes):
            if changes && !csrf {
                return Reply.error(.forbidden, "a change from the dashboard must carry its session's CSRF token (header \(DashboardSession.csrfHeader.rawName)); reload the page")
            }
            return try await next(request, context)
        case .bearer, .cookie, .none:
            var response = Reply.error(.unauthorized, "missing or wrong bearer token")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
    }

    enum Credentials {
        case bearer([UInt8])
        /// The sign-in cookie, and whether the request carries the matching CSRF header.
        case cookie([UInt8], csrf: Bool)
        case none
    }

    /// A bearer header wins over the cookie: a script that sends one means it.
    static func credentials(of request: Request) -> Credentials {
        if let presented = bearer(request.headers[.authorization]) { return .bearer(presented) }
        let cookies = request.cookies
        guard let presented = cookies[DashboardSession.tokenCookie].flatMap({ DashboardSession.decode($0.value) }) else { return .none }
        let expected = cookies[DashboardSession.csrfCookie].map { Array($0.value.utf8) } ?? []
        let sent = request.headers[DashboardSession.csrfHeader].map { Array($0.utf8) } ?? []
        return .cookie(presented, csrf: !expected.isEmpty && constantTimeEqual(sent, expected))
    }

    static func bearer(_ header: String?) -> [UInt8]? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        return Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)
    }

    /// Compares every byte whatever the first difference, so the time taken does not tell how much
    /// of a guess was right.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }
}

/// The admin token, printed as stars: services are described in debug logs, fields and all.
struct BearerToken: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    let bytes: [UInt8]

    init(_ text: String) { bytes = Array(text.utf8) }

    var description: String { "***" }
    var debugDescription: String { "***" }
}

extension HTTPField.Name {
    static let secFetchSite = Self("Sec-Fetch-Site")!
}
