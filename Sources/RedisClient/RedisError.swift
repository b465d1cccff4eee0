/// Why a Redis call failed. The client's own error: a plugin catches it without linking a backend,
/// and the Redis backend maps it to its `BackendError`.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The server cannot be reached, the connection broke or a reply took too long, or the server
        /// is busy for a passing reason (loading, running a long script, failing over): retry with backoff.
        case unavailable
        /// The server answered with an error.
        case server
        /// The request itself is wrong: a URL that is not `redis://…`, a timeout that is not positive.
        case invalid
    }

    public var code: Code
    /// What happened, the password never included.
    public var message: String
    /// The server's error reply as it came (`WRONGTYPE Operation against a key …`), when the call
    /// failed with one.
    public var reply: String?
    /// The script whose call answered ``reply``, if a script's did.
    public var script: String?

    public init(_ code: Code, _ message: String, reply: String? = nil, script: String? = nil) {
        self.code = code
        self.message = message
        self.reply = reply
        self.script = script
    }

    public var description: String { message }

    /// Worth retrying after a pause.
    public var isTransient: Bool { code == .unavailable }
}

extension RedisError {
    /// An error reply, classified by its code: a server busy loading, running a long script or
    /// failing over is worth a retry (`.unavailable`); anything else is `.server`.
    package static func reply(_ message: String, script: String? = nil) -> RedisError {
        let context = script.map { "Redis script \($0): " } ?? "Redis: "
        let code = message.prefix { $0 != " " }
        if ["LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS"].contains(code) {
            return RedisError(.unavailable, context + message, reply: message, script: script)
        }
        return RedisError(.server, context + message, reply: message, script: script)
    }
}
