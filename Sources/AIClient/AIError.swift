/// Why an AI call failed. Handlers decide from this whether a job is worth trying again
/// (``isTransient``) or should end now.
public enum AIError: Error, CustomStringConvertible, Sendable, Equatable {
    /// No complete answer within the configured timeout.
    case timeout(seconds: Double)
    /// The server could not be reached or the connection broke.
    case transport(String)
    /// The server answered with a status other than 200; `body` is the start of its answer.
    case http(status: Int, body: String)
    /// The answer was not the chat-completions JSON, or its content was not JSON.
    case malformedResponse(String)
    /// The content was JSON but not of the shape the caller asked for.
    case unexpectedShape(String)

    /// Whether another attempt may succeed: timeouts, broken connections, rate limits and server
    /// errors, and answers a model may get right next time. A refused request (400, 401, 403,
    /// 404, …) is a configuration error that no retry mends.
    public var isTransient: Bool {
        switch self {
        case .timeout, .transport, .malformedResponse, .unexpectedShape: true
        case .http(let status, _): status == 408 || status == 409 || status == 429 || status >= 500
        }
    }

    public var description: String {
        switch self {
        case .timeout(let seconds): "the AI did not answer within \(seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)) s"
        case .transport(let message): "the AI server could not be reached: \(message)"
        case .http(let status, let body): "the AI server answered HTTP \(status): \(body)"
        case .malformedResponse(let message): "the AI answer is not valid JSON: \(message)"
        case .unexpectedShape(let message): "the AI answer has an unexpected shape: \(message)"
        }
    }
}
