import Foundation

/// Where and how a plugin talks to its AI, read from the plugin's `config:` block:
///
///     ai_base_url: https://api.openai.com/v1   # any OpenAI-compatible server
///     ai_model: gpt-4o-mini
///     ai_temperature: 0.7
///     ai_api_key_env: OPENAI_API_KEY           # the key itself never sits in the YAML
///     ai_timeout_seconds: 60
///
/// Every key has the default shown.
public struct AIConfiguration: Decodable, Sendable, Equatable {
    public var baseURL: String
    public var model: String
    public var temperature: Double
    /// The environment variable that holds the API key; unset or empty means no `Authorization`
    /// header (local model servers need none).
    public var apiKeyEnvironmentVariable: String
    public var timeoutSeconds: Double

    public init(
        baseURL: String = "https://api.openai.com/v1", model: String = "gpt-4o-mini", temperature: Double = 0.7,
        apiKeyEnvironmentVariable: String = "OPENAI_API_KEY", timeoutSeconds: Double = 60
    ) {
        self.baseURL = baseURL
        self.model = model
        self.temperature = temperature
        self.apiKeyEnvironmentVariable = apiKeyEnvironmentVariable
        self.timeoutSeconds = timeoutSeconds
    }

    /// Every key it takes: a plugin's config check finds a misspelt one among them.
    enum CodingKeys: String, CodingKey, CaseIterable {
        case baseURL = "ai_base_url"
        case model = "ai_model"
        case temperature = "ai_temperature"
        case apiKeyEnvironmentVariable = "ai_api_key_env"
        case timeoutSeconds = "ai_timeout_seconds"
    }

    public init(from decoder: any Decoder) throws {
        let defaults = AIConfiguration()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        baseURL = try container.decodeIfPresent(String.self, forKey: .baseURL) ?? defaults.baseURL
        model = try container.decodeIfPresent(String.self, forKey: .model) ?? defaults.model
        temperature = try container.decodeIfPresent(Double.self, forKey: .temperature) ?? defaults.temperature
        apiKeyEnvironmentVariable = try container.decodeIfPresent(String.self, forKey: .apiKeyEnvironmentVariable)
            ?? defaults.apiKeyEnvironmentVariable
        timeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .timeoutSeconds) ?? defaults.timeoutSeconds
        guard let url = URL(string: baseURL), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw DecodingError.dataCorruptedError(
                forKey: .baseURL, in: container, debugDescription: "ai_base_url must be an http(s) URL, not '\(baseURL)'")
        }
        guard timeoutSeconds > 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .timeoutSeconds, in: container, debugDescription: "ai_timeout_seconds must be positive, not \(timeoutSeconds)")
        }
        guard (0...2).contains(temperature) else {
            throw DecodingError.dataCorruptedError(
                forKey: .temperature, in: container, debugDescription: "ai_temperature must be between 0 and 2, not \(temperature)")
        }
    }

    /// `<base>/chat/completions`.
    var endpoint: URL {
        URL(string: baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL)!.appendingPathComponent("chat/completions")
    }
}
