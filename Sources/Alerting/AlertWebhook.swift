import BlockingHTTP
import Foundation
import HostConfig
import Threads
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A Slack-compatible incoming webhook that alerts are POSTed to.
public struct AlertWebhook: Sendable, CustomStringConvertible {
    /// Prints masked: the URL is the credential.
    public let url: SecretURL
    /// How long one POST may take.
    public let timeout: Duration

    public init(url: SecretURL, timeout: Duration) {
        self.url = url
        self.timeout = timeout
    }

    public var description: String { url.description }

    /// The webhook the `alerts:` block names, its URL read from the environment variable it names.
    ///
    /// - Returns: nil when the block names no variable: alerts are then only logged.
    /// - Throws: ``AlertSetupError`` when the variable is unset or empty, or does not hold an
    ///   http(s) URL. The message names the variable and where the config names it, never the value.
    public static func resolve(
        _ settings: AlertSettings, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(AlertSetupError) -> AlertWebhook? {
        guard let variable = settings.webhookURLEnvironmentVariable else { return nil }
        let place = settings.location(of: "webhook_url_env").map { "\($0): alerts.webhook_url_env: " } ?? "alerts.webhook_url_env: "
        let value = environment[variable]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard !value.isEmpty else {
            throw AlertSetupError(
                message: "\(place)environment variable \(variable) is not set; "
                    + "set it to the webhook URL, or remove webhook_url_env to only log alerts")
        }
        guard let url = URL(string: value), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else {
            throw AlertSetupError(
                message: "\(place)environment variable \(variable) does not hold an http:// or https:// URL "
                    + "(its value is not shown: a webhook URL is a secret)")
        }
        return AlertWebhook(url: SecretURL(url), timeout: settings.webhookTimeout)
    }
}

/// Alerting cannot start as configured; the message is meant to be printed as it is.
public struct AlertSetupError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(message: String) { self.message = message }

    public var description: String { message }
}

/// Blocking POSTs to one webhook, for the dispatcher's own thread.
final class WebhookPoster: Sendable {
    enum Outcome: Equatable {
        case delivered
        /// `reason` never contains the URL.
        case failed(reason: String, retryable: Bool)
    }

    let webhook: AlertWebhook
    private let session: URLSession
    private let seconds: Double

    init(webhook: AlertWebhook) {
        self.webhook = webhook
        seconds = webhook.timeout.seconds
        let settings = URLSessionConfiguration.ephemeral
        settings.timeoutIntervalForRequest = seconds
        settings.timeoutIntervalForResource = seconds
        session = URLSession(configuration: settings)
    }

    deinit { session.invalidateAndCancel() }

    func post(_ body: Data) -> Outcome {
        var request = URLRequest(url: webhook.url.revealed, timeoutInterval: seconds)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        // The session's own timeout should fire first.
        let data: Data, response: URLResponse?
        switch BlockingExchange.perform(request, on: session, bound: seconds + 2) {
        case .timedOut: return .failed(reason: "timed out after \(webhook.timeout)", retryable: true)
        case .failed(let error): return .failed(reason: describe(error), retryable: true)
        case .answered(let body, let answer): (data, response) = (body, answer)
        }
        guard let status = (response as? HTTPURLResponse)?.statusCode else {
            return .failed(reason: "no HTTP response", retryable: true)
        }
        if (200..<300).contains(status) { return .delivered }
        // Slack answers 4xx with a word like `invalid_token` or `no_service`: worth showing, not worth retrying.
        let answer = String(decoding: data.prefix(100), as: UTF8.self)
            .replacingOccurrences(of: webhook.url.revealed.path, with: "/***")
        let retryable = status == 429 || status >= 500
        return .failed(reason: "HTTP \(status)\(answer.isEmpty ? "" : ": \(answer)")", retryable: retryable)
    }

    /// Words for a transfer error, built from its code alone: Foundation's own descriptions may quote the URL.
    private func describe(_ error: any Error) -> String {
        guard let code = (error as? URLError)?.code else { return "transfer failed (\(type(of: error)))" }
        switch code {
        case .timedOut: return "timed out after \(webhook.timeout)"
        case .cannotConnectToHost: return "connection refused"
        case .cannotFindHost, .dnsLookupFailed: return "host not found"
        case .networkConnectionLost: return "connection lost"
        case .notConnectedToInternet: return "no network"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
            .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot:
            return "TLS handshake failed"
        default: return "transfer failed (URLError \(code.rawValue))"
        }
    }
}
