/// Why a PostgreSQL call failed. The client's own error: a plugin catches it without linking a
/// backend, and the PostgreSQL backend maps it to its `BackendError`.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// The server cannot be reached, the connection broke or a call ran out of time, or the server
        /// refused for a passing reason (shutting down, overloaded, a deadlock): retry with backoff.
        case unavailable
        /// The server answered with an error (a statement it refused, a login it refused).
        case server
        /// The request itself is wrong: a connection URL libpq cannot read, a timeout that is not positive.
        case invalid
    }

    public var code: Code
    /// What happened, passwords masked.
    public var message: String
    /// The SQLSTATE of the server's error (`23505`), when the server answered with one.
    public var sqlState: String?

    public init(_ code: Code, _ message: String, sqlState: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
    }

    public var description: String { message }

    /// Worth retrying after a pause.
    public var isTransient: Bool { code == .unavailable }
}

extension PostgresError {
    /// Classifies a server error by its SQLSTATE: connection trouble, shutdowns, overload, timeouts,
    /// deadlocks and serialization failures are worth a retry (`.unavailable`); anything else is
    /// `.server`. The message ends with the SQLSTATE.
    static func server(sqlState: String, message: String) -> PostgresError {
        let transient: Set<String> = ["57P01", "57P02", "57P03", "57014", "55P03", "40001", "40P01"]
        if sqlState.hasPrefix("08") || sqlState.hasPrefix("53") || transient.contains(sqlState) {
            return PostgresError(.unavailable, "\(message) [SQLSTATE \(sqlState)]", sqlState: sqlState)
        }
        return PostgresError(.server, "\(message) [SQLSTATE \(sqlState)]", sqlState: sqlState)
    }
}
