/// The `admin:` block: the HTTP server operators and orchestrators talk to. Without the block there
/// is no server.
public struct AdminSettings: Sendable, Equatable {
    /// An IP address (loopback by default: the API can retry and discard jobs) and a port.
    public var host: String
    public var port: Int
    /// The environment variable holding the bearer token that mutating calls (and, unless
    /// `openReads`, reading calls) must carry. Without one, nothing can be changed over HTTP.
    public var tokenEnv: String?
    /// `/metrics` and the reading API answer without a token. The probes (`/health`, `/ready`,
    /// `/live`) always do.
    public var openReads: Bool
    /// The web dashboard under `/`. It shows only what the API shows to the same caller, and changes
    /// only what the API lets that caller change.
    public var dashboard: Bool

    public static let defaultPort = 9090

    public init(
        host: String = "127.0.0.1", port: Int = AdminSettings.defaultPort, tokenEnv: String? = nil, openReads: Bool = false, dashboard: Bool = true
    ) {
        self.host = host
        self.port = port
        self.tokenEnv = tokenEnv
        self.openReads = openReads
        self.dashboard = dashboard
    }
}
