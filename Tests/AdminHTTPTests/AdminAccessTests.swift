import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import AdminHTTP

/// Who may call what, through a router that has only the access rule in front of stand-in routes.
struct AdminAccessTests {
    static let token = "t0ken-9c1e"

    /// A router with the access middleware and a route of each kind: the probes, a read, a change.
    static func application(token: String?, openReads: Bool = false) -> some ApplicationProtocol {
        let router = Router(options: .autoGenerateHeadEndpoints)
        router.add(middleware: AdminAccess(token: token.map(BearerToken.init), openReads: openReads))
        for probe in ["health", "ready", "live"] {
            router.get(RouterPath(probe)) { _, _ in "probe" }
        }
        router.get("health/tasks") { _, _ in "tasks" }
        router.get("metrics") { _, _ in "metrics" }
        router.post("api/v1/queues/default/pause") { _, _ in "changed" }
        router.delete("api/v1/jobs/x") { _, _ in "changed" }
        return Application(router: router)
    }

    struct Answer: Sendable {
        let status: HTTPResponse.Status
        let body: String
        let authenticate: String?
    }

    static func call(
        _ app: some ApplicationProtocol, _ method: HTTPRequest.Method, _ path: String, bearer: String? = nil, headers: HTTPFields = [:]
    ) async throws -> Answer {
        var fields = headers
        if let bearer { fields[.authorization] = "Bearer \(bearer)" }
        let sent = fields
        return try await app.test(.router) { client in
            try await client.execute(uri: path, method: method, headers: sent) { response in
                Answer(status: response.status, body: String(buffer: response.body), authenticate: response.headers[.wwwAuthenticate])
            }
        }
    }

    @Test func probesAnswerAnyoneWithOrWithoutATokenConfigured() async throws {
        for app in [Self.application(token: Self.token), Self.application(token: nil)] as [any ApplicationProtocol] {
            for path in ["/health", "/ready", "/live"] {
                let answer = try await Self.call(app, .get, path)
                #expect(answer.status == .ok && answer.body == "probe", "\(path): \(answer)")
                #expect(try await Self.call(app, .get, path, bearer: "wrong").status == .ok, "a wrong token does not matter to a probe")
            }
        }
    }

    @Test func readsNeedTheExactTokenUnlessOpenReads() async throws {
        let app = Self.application(token: Self.token)
        for path in ["/metrics", "/health/tasks"] {
            let none = try await Self.call(app, .get, path)
            #expect(none.status == .unauthorized && none.authenticate == "Bearer", "\(path): \(none)")
            #expect(none.body.contains("missing or wrong bearer token"))
            #expect(try await Self.call(app, .get, path, bearer: Self.token).status == .ok)
            #expect(try await Self.call(app, .head, path, bearer: Self.token).status == .ok)
            for wrong in [Self.token + "x", String(Self.token.dropLast()), Self.token.uppercased(), ""] {
                #expect(try await Self.call(app, .get, path, bearer: wrong).status == .unauthorized, "'\(wrong)' let in")
            }
            // The scheme is case-insensitive, the token is not; spaces around it are ignored.
            #expect(try await Self.call(app, .get, path, headers: [.authorization: "bearer \(Self.token)"]).status == .ok)
            #expect(try await Self.call(app, .get, path, headers: [.authorization: "Bearer  \(Self.token) "]).status == .ok)
            #expect(try await Self.call(app, .get, path, headers: [.authorization: "Basic \(Self.token)"]).status == .unauthorized)
        }
        let open = Self.application(token: Self.token, openReads: true)
        #expect(try await Self.call(open, .get, "/metrics").status == .ok)
        #expect(try await Self.call(open, .get, "/health/tasks").status == .ok)
        let closed = Self.application(token: nil)
        let refused = try await Self.call(closed, .get, "/metrics")
        #expect(refused.status == .unauthorized && refused.body.contains("admin.token_env"), "\(refused)")
        #expect(try await Self.call(Self.application(token: nil, openReads: true), .get, "/metrics").status == .ok)
    }

    @Test func changesAlwaysNeedTheTokenEvenWithOpenReads() async throws {
        for openReads in [false, true] {
            let app = Self.application(token: Self.token, openReads: openReads)
            for method in [HTTPRequest.Method.post, .delete] {
                let path = method == .post ? "/api/v1/queues/default/pause" : "/api/v1/jobs/x"
                #expect(try await Self.call(app, method, path).status == .unauthorized)
                #expect(try await Self.call(app, method, path, bearer: "nope").status == .unauthorized)
                let allowed = try await Self.call(app, method, path, bearer: Self.token)
                #expect(allowed.status == .ok && allowed.body == "changed")
            }
        }
        // Without a token configured, nothing can be changed, whatever is presented.
        let off = try await Self.call(Self.application(token: nil, openReads: true), .post, "/api/v1/queues/default/pause", bearer: Self.token)
        #expect(off.status == .forbidden && off.body.contains("changes over HTTP are off"), "\(off)")
    }

    @Test func aBrowserRequestFromAnotherSiteChangesNothingEvenWithTheToken() async throws {
        let app = Self.application(token: Self.token)
        for site in ["cross-site", "same-site"] {
            let refused = try await Self.call(app, .post, "/api/v1/queues/default/pause", bearer: Self.token, headers: [.secFetchSite: site])
            #expect(refused.status == .forbidden, "\(site): \(refused)")
            #expect(refused.body.contains("Sec-Fetch-Site: \(site)"))
        }
        for site in ["same-origin", "none"] {
            let allowed = try await Self.call(app, .post, "/api/v1/queues/default/pause", bearer: Self.token, headers: [.secFetchSite: site])
            #expect(allowed.status == .ok, "\(site): \(allowed)")
        }
        // Reads are not changes: a page may show them when reads are open.
        let open = Self.application(token: Self.token, openReads: true)
        #expect(try await Self.call(open, .get, "/metrics", headers: [.secFetchSite: "cross-site"]).status == .ok)
    }

    @Test func theTokenIsNeverPrinted() {
        let token = BearerToken(Self.token)
        #expect("\(token)" == "***" && String(reflecting: token) == "***")
        #expect(!"\(AdminAccess<BasicRequestContext>(token: token, openReads: false))".contains(Self.token))
    }

    @Test func tokensCompareByEveryByte() {
        let equal = AdminAccess<BasicRequestContext>.constantTimeEqual
        #expect(equal(Array("abc".utf8), Array("abc".utf8)))
        #expect(!equal(Array("abc".utf8), Array("abd".utf8)))
        #expect(!equal(Array("abc".utf8), Array("abcd".utf8)) && !equal(Array("abcd".utf8), Array("abc".utf8)))
        #expect(!equal(Array("abc\0".utf8), Array("abc".utf8)), "a trailing NUL is a difference")
        #expect(!equal([], Array("a".utf8)) && equal([], []))
    }
}
