import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Signing the dashboard in and out. The token is typed once into the sign-in form and kept in an
/// `HttpOnly; SameSite=Strict` cookie, out of reach of the page's script and never in a URL; a second
/// cookie, readable by the page, holds a random CSRF token the page echoes in a header on every change
/// (``AdminAccess`` checks both). The cookie holds the token itself rather than a server-side session
/// so a restart of the host (ops restart after every config edit) does not sign everyone out.
struct DashboardSession: Sendable {
    let token: BearerToken?
    let openReads: Bool
    let logger: Logger

    static let statusPath = "/session"
    static let signInPath = "/login"
    static let signOutPath = "/logout"
    static let tokenCookie = "jobhost_token"
    static let csrfCookie = "jobhost_csrf"
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
    /// A working day: the cookie is a bearer credential, so it should not outlive the operator's shift.
    static let lifetimeSeconds = 12 * 3600
    /// A wrong token answers only after this, so guessing is slow.
    static let refusalDelay = Duration.milliseconds(300)

    func register(on router: Router<BasicRequestContext>) {
        router.get(RouterPath(Self.statusPath)) { request, _ in status(request) }
        router.post(RouterPath(Self.signInPath)) { request, _ in try await signIn(request) }
        router.post(RouterPath(Self.signOutPath)) { request, _ in signOut(request) }
    }

    struct Status: Encodable {
        /// The request carries the right token (cookie or bearer header).
        var signedIn: Bool
        /// Reading works without signing in.
        var readsOpen: Bool
        /// A token is configured, so changes are possible once signed in.
        var changesPossible: Bool
    }

    private func status(_ request: Request) -> Response {
        var signedIn = false
        if let token {
            switch AdminAccess<BasicRequestContext>.credentials(of: request) {
            case .bearer(let presented), .cookie(let presented, _): signedIn = AdminAccess<BasicRequestContext>.constantTimeEqual(presented, token.bytes)
            case .none: break
            }
        }
        return Reply.json(Status(signedIn: signedIn, readsOpen: openReads, changesPossible: token != nil))
    }

    struct SignIn: Decodable {
        var token: String
    }

    private func signIn(_ request: Request) async throws -> Response {
        guard let token else {
            return Reply.error(.forbidden, "signing in is off: set admin.token_env to the name of an environment variable holding a token")
        }
        // A form of another site cannot send JSON without asking first, and this server never says yes.
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            return Reply.error(.unsupportedMediaType, "send {\"token\": \"…\"} as application/json")
        }
        let body = try await request.body.collect(upTo: 16 * 1024)
        guard let form = try? JSONDecoder().decode(SignIn.self, from: Data(buffer: body)) else {
            return Reply.error(.badRequest, "send {\"token\": \"…\"} as application/json")
        }
        guard AdminAccess<BasicRequestContext>.constantTimeEqual(Array(form.token.utf8), token.bytes) else {
            logger.warning("dashboard sign-in refused: wrong token")
            try await Task.sleep(for: Self.refusalDelay)
            return Reply.error(.unauthorized, "wrong token")
        }
        var response = Reply.json(["signed_in": true])
        let secure = Self.overTLS(request)
        response.setCookie(Cookie(
            name: Self.tokenCookie, value: Self.encode(token.bytes), maxAge: Self.lifetimeSeconds, path: "/", secure: secure, httpOnly: true,
            sameSite: .strict))
        response.setCookie(Cookie(
            name: Self.csrfCookie, value: Self.randomHex(bytes: 32), maxAge: Self.lifetimeSeconds, path: "/", secure: secure, httpOnly: false,
            sameSite: .strict))
        logger.notice("dashboard signed in")
        return response
    }

    private func signOut(_ request: Request) -> Response {
        var response = Reply.json(["signed_in": false])
        for (name, httpOnly) in [(Self.tokenCookie, true), (Self.csrfCookie, false)] {
            response.setCookie(Cookie(
                name: name, value: "", maxAge: 0, path: "/", secure: Self.overTLS(request), httpOnly: httpOnly, sameSite: .strict))
        }
        return response
    }

    /// The admin server speaks plain HTTP; behind a TLS proxy the cookies must not leave HTTPS.
    static func overTLS(_ request: Request) -> Bool {
        request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
    }

    /// Hex, because a token may hold characters a cookie value may not.
    static func encode(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func decode(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard !digits.isEmpty, digits.count.isMultiple(of: 2) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    /// From the system's cryptographic generator (getrandom on Linux).
    static func randomHex(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return encode((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}
