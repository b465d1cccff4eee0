import BlockingHTTP
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A blocking client for an OpenAI-compatible chat-completions API in JSON mode.
///
/// Blocking on purpose: handlers run on threads the host owns, one job per thread, and a plain
/// call that returns the answer keeps a handler's control flow obvious.
public final class AIClient: Sendable {
    public let configuration: AIConfiguration
    private let session: URLSession

    public init(configuration: AIConfiguration) {
        self.configuration = configuration
        let settings = URLSessionConfiguration.ephemeral
        settings.timeoutIntervalForRequest = configuration.timeoutSeconds
        settings.timeoutIntervalForResource = configuration.timeoutSeconds
        session = URLSession(configuration: settings)
    }

    deinit { session.invalidateAndCancel() }

    /// Asks the model and decodes its JSON answer (snake_case keys become camelCase properties).
    /// An answer wrapped in a Markdown code fence is accepted, as models sometimes do that even
    /// in JSON mode.
    public func complete<Answer: Decodable>(system: String, user: String, as answer: Answer.Type) throws(AIError) -> Answer {
        let content = try chat(system: system, user: user)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let json = Data(Self.unfenced(content).utf8)
        guard (try? JSONSerialization.jsonObject(with: json)) != nil else {
            throw .malformedResponse("content is not JSON: \(Self.excerpt(content))")
        }
        do {
            return try decoder.decode(Answer.self, from: json)
        } catch {
            throw .unexpectedShape("\(Self.describe(error)) in \(Self.excerpt(content))")
        }
    }

    /// The content of the model's first choice.
    public func chat(system: String, user: String) throws(AIError) -> String {
        let request = try makeRequest(system: system, user: user)
        let body = try send(request)
        struct Completion: Decodable {
            struct Choice: Decodable {
                struct Message: Decodable { let content: String? }
                let message: Message
            }
            let choices: [Choice]
        }
        guard let completion = try? JSONDecoder().decode(Completion.self, from: body) else {
            throw .malformedResponse("not a chat completion: \(Self.excerpt(String(decoding: body, as: UTF8.self)))")
        }
        guard let content = completion.choices.first?.message.content else {
            throw .malformedResponse("the completion has no content")
        }
        return content
    }

    private func makeRequest(system: String, user: String) throws(AIError) -> URLRequest {
        var request = URLRequest(url: configuration.endpoint, timeoutInterval: configuration.timeoutSeconds)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let key = ProcessInfo.processInfo.environment[configuration.apiKeyEnvironmentVariable], !key.isEmpty {
            request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        }
        let payload: [String: Any] = [
            "model": configuration.model,
            "temperature": configuration.temperature,
            "response_format": ["type": "json_object"],
            "messages": [["role": "system", "content": system], ["role": "user", "content": user]],
        ]
        do {
            request.httpBody = try JSONSerialization.data(withJSONObject: payload)
        } catch {
            throw .transport("the request could not be encoded: \(error)")
        }
        return request
    }

    private func send(_ request: URLRequest) throws(AIError) -> Data {
        // The session's own timeout should fire first.
        let body: Data, response: URLResponse?
        switch BlockingExchange.perform(request, on: session, bound: configuration.timeoutSeconds + 2) {
        case .timedOut: throw .timeout(seconds: configuration.timeoutSeconds)
        case .failed(let error):
            if (error as? URLError)?.code == .timedOut { throw .timeout(seconds: configuration.timeoutSeconds) }
            throw .transport(error.localizedDescription)
        case .answered(let data, let answer): (body, response) = (data, answer)
        }
        guard let http = response as? HTTPURLResponse else { throw .transport("no HTTP response") }
        guard http.statusCode == 200 else {
            throw .http(status: http.statusCode, body: Self.excerpt(String(decoding: body, as: UTF8.self)))
        }
        return body
    }

    /// The text between a leading ```` ```json ```` fence and the closing one, or the text itself.
    static func unfenced(_ content: String) -> String {
        let trimmed = content.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("```"), trimmed.hasSuffix("```"), trimmed.count >= 6 else { return trimmed }
        var inner = trimmed.dropFirst(3).dropLast(3)
        if let newline = inner.firstIndex(of: "\n") { inner = inner[inner.index(after: newline)...] }
        return inner.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func excerpt(_ text: String, limit: Int = 200) -> String {
        text.count <= limit ? text : text.prefix(limit) + "…"
    }

    static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?: "missing key '\(path(context.codingPath + [key]))'"
        case .typeMismatch(_, let context)?: "wrong type at '\(path(context.codingPath))'"
        case .valueNotFound(_, let context)?: "null at '\(path(context.codingPath))'"
        case .dataCorrupted(let context)?: context.debugDescription
        default: "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
