import AIClient
import Foundation
import JobHostTesting
import Testing

struct Week: Decodable, Equatable {
    struct Post: Decodable, Equatable {
        let day: String
        let title: String
    }
    let week: Int
    let posts: [Post]
}

struct Rewrite: Decodable { let text: String }

/// The client against the fake server: answers decoded, every kind of failure named, and whether
/// each is worth a retry.
@Suite(.serialized)
struct AIClientTests {
    static let weekPrompt = #"{"task": "noctua.week", "week": 3, "brief": "coats"}"#

    func client(_ server: FakeAIServer, timeout: Double = 5, keyVariable: String = "JOBHOST_TEST_NO_SUCH_KEY") -> AIClient {
        AIClient(configuration: AIConfiguration(baseURL: server.url, model: "fake-1", apiKeyEnvironmentVariable: keyVariable, timeoutSeconds: timeout))
    }

    @Test func anAnswerIsDecodedIntoTheCallersType() async throws {
        let server = try await FakeAIServer.start()
        defer { server.stop() }
        let week = try client(server).complete(system: "plan", user: Self.weekPrompt, as: Week.self)
        #expect(week.week == 3)
        #expect(week.posts.count == 5 && week.posts[0] == Week.Post(day: "Monday", title: "W3 post 1"))
        #expect(try server.stats().byTask["noctua.week"] == 1)
        #expect(try server.stats().lastAuthorization == nil, "no key configured, no header")
    }

    @Test func theAPIKeyComesFromTheNamedEnvironmentVariable() async throws {
        let server = try await FakeAIServer.start()
        defer { server.stop() }
        setenv("JOBHOST_TEST_AI_KEY", "sk-test-123", 1)
        _ = try client(server, keyVariable: "JOBHOST_TEST_AI_KEY").chat(system: "s", user: Self.weekPrompt)
        #expect(try server.stats().lastAuthorization == "Bearer sk-test-123")
    }

    @Test func aFencedAnswerIsAccepted() async throws {
        let server = try await FakeAIServer.start()
        defer { server.stop() }
        try server.control(mode: "fenced", count: 1)
        #expect(try client(server).chat(system: "s", user: Self.weekPrompt).hasPrefix("```json"))
        try server.control(mode: "fenced", count: 1)
        #expect(try client(server).complete(system: "s", user: Self.weekPrompt, as: Week.self).week == 3)
    }

    @Test(arguments: [
        ("error500", 500, true), ("error", 429, true), ("error", 401, false), ("error", 400, false),
    ])
    func httpFailuresCarryTheirStatus(mode: String, status: Int, transient: Bool) async throws {
        let server = try await FakeAIServer.start()
        defer { server.stop() }
        try server.control(mode: mode, status: status)
        let error = #expect(throws: AIError.self) { try client(server).complete(system: "s", user: Self.weekPrompt, as: Week.self) }
        guard case .http(let answered, let body)? = error else {
            Issue.record("expected an HTTP error, got \(String(describing: error))")
            return
        }
        #expect(answered == status)
        #expect(body.contains("on purpose"), "the server's message is kept: \(body)")
        #expect(error?.isTransient == transient)
        #expect(error?.description.contains("HTTP \(status)") == true)
    }

    @Test func aSlowServerTimesOut() async throws {
        let server = try await FakeAIServer.start()
        defer { server.stop() }
        try server.control(mode: "slow", count: 1, delay: 3)
        // Had the client waited for the server's delay, it would have had its answer: no error at all.
        let error = #expect(throws: AIError.self) { try client(server, timeout: 1).chat(system: "s", user: Self.weekPrompt) }
        #expect(error == .timeout(seconds: 1))
        #expect(error?.isTransient == true)
    }

    @Test func malformedAnswersAndWrongShapesAreNamed() async throws {
        let server = try await FakeAIServer.start()
        defer { server.stop() }
        try server.control(mode: "malformed", count: 1)
        let malformed = #expect(throws: AIError.self) { try client(server).complete(system: "s", user: Self.weekPrompt, as: Week.self) }
        guard case .malformedResponse(let what)? = malformed else { Issue.record("got \(String(describing: malformed))"); return }
        #expect(what.contains("content is not JSON"))

        try server.control(mode: "malformed_body", count: 1)
        let body = #expect(throws: AIError.self) { try client(server).chat(system: "s", user: Self.weekPrompt) }
        guard case .malformedResponse(let text)? = body else { Issue.record("got \(String(describing: body))"); return }
        #expect(text.contains("not a chat completion") && text.contains("<html>"))

        try server.control(mode: "wrong_shape", count: 1)
        let shape = #expect(throws: AIError.self) { try client(server).complete(system: "s", user: Self.weekPrompt, as: Week.self) }
        guard case .unexpectedShape(let detail)? = shape else { Issue.record("got \(String(describing: shape))"); return }
        #expect(detail.contains("missing key 'week'"), "\(detail)")

        // The rules were used up: the next answer is good again.
        #expect(try client(server).complete(system: "s", user: Self.weekPrompt, as: Week.self).week == 3)
    }

    @Test func anUnreachableServerIsATransportError() throws {
        let client = AIClient(configuration: AIConfiguration(baseURL: "http://127.0.0.1:9/v1", timeoutSeconds: 2))
        let error = #expect(throws: AIError.self) { try client.chat(system: "s", user: "{}") }
        guard case .transport? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(error?.isTransient == true)
    }

    @Test func configurationIsReadFromThePluginsKeysWithDefaults() throws {
        let yamlLike = #"{"ai_base_url": "http://127.0.0.1:1/v1", "ai_model": "m", "ai_timeout_seconds": 45}"#
        let configuration = try JSONDecoder().decode(AIConfiguration.self, from: Data(yamlLike.utf8))
        #expect(configuration == AIConfiguration(baseURL: "http://127.0.0.1:1/v1", model: "m", timeoutSeconds: 45))
        let bad = #"{"ai_base_url": "ftp://x"}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(AIConfiguration.self, from: Data(bad.utf8)) }
    }
}
