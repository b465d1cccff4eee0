import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import AdminHTTP

/// The dashboard's sign-in: the cookie it sets, the CSRF token a change made with it must carry, and
/// the page's own headers. Through a router with the access rule, the session routes, the pages and
/// stand-in API routes.
struct DashboardAccessTests {
    static let token = "dashboard-t0ken-9c1e;=, \u{e9}"

    static func application(token: String? = DashboardAccessTests.token, openReads: Bool = false) -> some ApplicationProtocol {
        let router = Router(options: .autoGenerateHeadEndpoints)
        let bearer = token.map(BearerToken.init)
        router.add(middleware: AdminAccess(token: bearer, openReads: openReads))
        DashboardPages().register(on: router)
        DashboardSession(token: bearer, openReads: openReads, logger: Logger(label: "test")).register(on: router)
        router.get("api/v1/queues") { _, _ in "queues" }
        router.post("api/v1/queues/default/pause") { _, _ in "changed" }
        return Application(router: router)
    }

    struct Answer: Sendable {
        let status: HTTPResponse.Status
        let body: String
        let headers: HTTPFields
        /// `name=value` of each Set-Cookie, with its attributes.
        var setCookies: [String] { headers[values: .setCookie] }
    }

    static func call(
        _ app: some ApplicationProtocol, _ method: HTTPRequest.Method, _ path: String, headers: HTTPFields = [:], body: String? = nil
    ) async throws -> Answer {
        try await app.test(.router) { client in
            try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
                Answer(status: response.status, body: String(buffer: response.body), headers: response.headers)
            }
        }
    }

    static func signIn(_ app: some ApplicationProtocol, token: String = DashboardAccessTests.token) async throws -> Answer {
        let body = String(decoding: try JSONEncoder().encode(["token": token]), as: UTF8.self)
        return try await call(app, .post, "/login", headers: [.contentType: "application/json"], body: body)
    }

    /// The cookies a browser would send back after `answer`.
    static func cookieHeader(_ answer: Answer) -> String {
        answer.setCookies.map { String($0.split(separator: ";")[0]) }.joined(separator: "; ")
    }

    static func value(of name: String, in answer: Answer) -> String? {
        answer.setCookies.map { String($0.split(separator: ";")[0]) }.first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
    }

    @Test func signingInSetsAnHttpOnlyStrictCookieAndACSRFToken() async throws {
        let app = Self.application()
        let answer = try await Self.signIn(app)
        #expect(answer.status == .ok, "\(answer)")
        let session = try #require(answer.setCookies.first { $0.hasPrefix("jobhost_token=") })
        let attributes = Set(session.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        #expect(attributes.contains("httponly") && attributes.contains("samesite=strict") && attributes.contains("path=/"), "\(session)")
        #expect(!attributes.contains("secure"), "plain HTTP: a Secure cookie would never come back")
        #expect(!session.contains(Self.token), "the cookie holds the token encoded, so any character is safe in it")
        let csrf = try #require(answer.setCookies.first { $0.hasPrefix("jobhost_csrf=") })
        #expect(!csrf.lowercased().contains("httponly") && csrf.lowercased().contains("samesite=strict"), "the page must read the CSRF token: \(csrf)")
        #expect((Self.value(of: "jobhost_csrf", in: answer)?.count ?? 0) == 64)
        #expect(!answer.body.contains(Self.token))
        // Behind a TLS proxy the cookies stay on HTTPS.
        let body = String(decoding: try JSONEncoder().encode(["token": Self.token]), as: UTF8.self)
        let proxied = try await Self.call(app, .post, "/login", headers: [.contentType: "application/json", HTTPField.Name("X-Forwarded-Proto")!: "https"], body: body)
        #expect(proxied.setCookies.allSatisfy { $0.lowercased().contains("secure") }, "\(proxied.setCookies)")
    }

    @Test func aWrongTokenOrAnotherSiteOrAFormCannotSignIn() async throws {
        let app = Self.application()
        for wrong in [Self.token + "x", String(Self.token.dropLast()), ""] {
            let refused = try await Self.signIn(app, token: wrong)
            #expect(refused.status == .unauthorized && refused.setCookies.isEmpty, "'\(wrong)': \(refused)")
        }
        let body = String(decoding: try JSONEncoder().encode(["token": Self.token]), as: UTF8.self)
        let crossSite = try await Self.call(app, .post, "/login", headers: [.contentType: "application/json", .secFetchSite: "cross-site"], body: body)
        #expect(crossSite.status == .forbidden && crossSite.setCookies.isEmpty)
        let form = try await Self.call(app, .post, "/login", headers: [.contentType: "application/x-www-form-urlencoded"], body: "token=\(Self.token)")
        #expect(form.status == .unsupportedMediaType && form.setCookies.isEmpty, "a plain form of another site cannot sign in: \(form)")
        let off = try await Self.signIn(Self.application(token: nil, openReads: true))
        #expect(off.status == .forbidden && off.body.contains("admin.token_env"), "\(off)")
    }

    @Test func theCookieReadsButChangesOnlyWithTheMatchingCSRFHeader() async throws {
        let app = Self.application()
        let signedIn = try await Self.signIn(app)
        let cookies = Self.cookieHeader(signedIn)
        let csrf = try #require(Self.value(of: "jobhost_csrf", in: signedIn))
        let read = try await Self.call(app, .get, "/api/v1/queues", headers: [.cookie: cookies])
        #expect(read.status == .ok && read.body == "queues", "\(read)")

        let bare = try await Self.call(app, .post, "/api/v1/queues/default/pause", headers: [.cookie: cookies])
        #expect(bare.status == .forbidden && bare.body.contains("CSRF"), "a cookie alone, as a browser sends it for any page, changes nothing: \(bare)")
        let wrong = try await Self.call(
            app, .post, "/api/v1/queues/default/pause", headers: [.cookie: cookies, DashboardSession.csrfHeader: String(csrf.reversed())])
        #expect(wrong.status == .forbidden, "\(wrong)")
        let allowed = try await Self.call(app, .post, "/api/v1/queues/default/pause", headers: [.cookie: cookies, DashboardSession.csrfHeader: csrf])
        #expect(allowed.status == .ok && allowed.body == "changed", "\(allowed)")
        let crossSite = try await Self.call(
            app, .post, "/api/v1/queues/default/pause", headers: [.cookie: cookies, DashboardSession.csrfHeader: csrf, .secFetchSite: "same-site"])
        #expect(crossSite.status == .forbidden, "\(crossSite)")

        // A forged cookie (another token) or one holding what is not hex reads nothing.
        for forged in ["jobhost_token=\(DashboardSession.encode(Array("guess".utf8)))", "jobhost_token=zz", "jobhost_token="] {
            #expect(try await Self.call(app, .get, "/api/v1/queues", headers: [.cookie: forged]).status == .unauthorized, "\(forged)")
        }
    }

    @Test func theSessionSaysWhetherSignedInAndSigningOutClearsTheCookies() async throws {
        let app = Self.application(openReads: true)
        let before = try await Self.call(app, .get, "/session")
        #expect(before.status == .ok && before.body.contains(#""signed_in":false"#) && before.body.contains(#""reads_open":true"#), "\(before.body)")
        let signedIn = try await Self.signIn(app)
        let during = try await Self.call(app, .get, "/session", headers: [.cookie: Self.cookieHeader(signedIn)])
        #expect(during.body.contains(#""signed_in":true"#) && during.body.contains(#""changes_possible":true"#), "\(during.body)")
        let out = try await Self.call(app, .post, "/logout", headers: [.cookie: Self.cookieHeader(signedIn)])
        #expect(out.status == .ok)
        #expect(out.setCookies.count == 2 && out.setCookies.allSatisfy { $0.contains("Max-Age=0") }, "\(out.setCookies)")
    }

    @Test func thePageIsServedToAnyoneWithAStrictContentPolicyAndHoldsNoData() async throws {
        let app = Self.application()
        for (path, type) in [("/", "text/html"), ("/assets/dashboard.js", "text/javascript"), ("/assets/dashboard.css", "text/css")] {
            let answer = try await Self.call(app, .get, path)
            #expect(answer.status == .ok, "\(path): \(answer.status)")
            #expect(answer.headers[.contentType]?.hasPrefix(type) == true, "\(path): \(answer.headers)")
            let policy = try #require(answer.headers[.contentSecurityPolicy], "\(path)")
            #expect(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'") && policy.contains("frame-ancestors 'none'"))
            #expect(!answer.body.contains(Self.token))
            // Self-contained: nothing is loaded from another host (the SVG namespace is a name, not a request).
            let text = answer.body.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
            #expect(!text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"), "\(path) names another host")
        }
        let page = try await Self.call(app, .get, "/")
        #expect(page.body.contains(#"src="/assets/dashboard.js""#) && page.body.contains(#"href="/assets/dashboard.css""#))
    }

    @Test func aMethodAPathDoesNotTakeIsA405NamingTheOnesItDoes() async throws {
        let router = Router(options: .autoGenerateHeadEndpoints)
        let table = RouteMethods()
        router.add(middleware: ServedMethods(table: table))
        router.add(middleware: AdminAccess(token: BearerToken(Self.token), openReads: false))
        router.get("api/v1/queues") { _, _ in "queues" }
        router.get("api/v1/jobs/:id") { _, _ in "job" }
        router.post("api/v1/jobs/:id/:action") { _, _ in "changed" }
        router.get("api/v1/jobs/:id/attempts") { _, _ in "attempts" }
        table.load(router)
        let app = Application(router: router)
        for method in [HTTPRequest.Method.trace, .put, .delete, .post, .options] {
            let answer = try await Self.call(app, method, "/api/v1/queues")
            #expect(answer.status == .methodNotAllowed && answer.headers[.allow] == "GET, HEAD", "\(method): \(answer)")
        }
        let job = try await Self.call(app, .post, "/api/v1/jobs/01ABC")
        #expect(job.status == .methodNotAllowed && job.headers[.allow] == "GET, HEAD", "a capture matches any id: \(job)")
        let action = try await Self.call(app, .get, "/api/v1/jobs/01ABC/retry")
        #expect(action.status == .methodNotAllowed && action.headers[.allow] == "POST", "\(action)")
        let literal = try await Self.call(app, .post, "/api/v1/jobs/01ABC/attempts")
        #expect(literal.headers[.allow] == "GET, HEAD", "a literal segment wins over a capture, as in the router: \(literal)")
        #expect(try await Self.call(app, .get, "/api/v1/queues").status == .unauthorized, "taken methods go on to the access rule")
        #expect(try await Self.call(app, .delete, "/nowhere").status == .unauthorized, "a path no route serves is not judged here")
    }
}
