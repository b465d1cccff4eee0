import Backend
import PostgresClient

extension BackendError {
    /// A PostgreSQL client error as the backend reports it: the same code and message. A statement
    /// that finds no table, schema or function of ours (SQLSTATE 42P01, 3F000, 42883) also asks
    /// whether the schema was migrated.
    init(_ error: PostgresError) {
        let code: Code =
            switch error.code {
            case .unavailable: .unavailable
            case .server: .server
            case .invalid: .invalid
            }
        if code == .server, let state = error.sqlState, ["42P01", "3F000", "42883"].contains(state) {
            self.init(.server, error.message + "; has the schema been migrated (host migrate)?")
        } else {
            self.init(code, error.message)
        }
    }
}

/// Runs a call of the PostgreSQL client; its error comes back as the backend's.
func mapErrors<Result>(_ body: () throws(PostgresError) -> Result) throws(BackendError) -> Result {
    do throws(PostgresError) {
        return try body()
    } catch {
        throw BackendError(error)
    }
}
