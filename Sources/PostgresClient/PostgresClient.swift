import ConnectionPool
import Foundation
import Logging

/// A small blocking PostgreSQL client for plugins that keep their own tables in an application
/// database: a few pooled connections, text parameters, transactions. The same connections, timeouts
/// and password masking the backend uses; call it from handler threads, which may block.
public final class PostgresClient: Sendable {
    private let pool: ConnectionPool<PGConnection>
    /// `user@host:port/dbname`, for messages.
    public let display: String

    /// - Parameters:
    ///   - applicationName: shows in `pg_stat_activity` (e.g. the plugin's name).
    ///   - commandTimeout: each statement's limit, also set as the server's `statement_timeout`.
    public init(
        url: String, applicationName: String, poolSize: Int = 2, connectTimeout: Duration = .seconds(5),
        commandTimeout: Duration = .seconds(30), logger: Logger
    ) throws(PostgresError) {
        let endpoint = try PGEndpoint(url: url, applicationName: applicationName, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
        display = endpoint.display
        pool = ConnectionPool(connections: (0..<max(1, poolSize)).map { _ in PGConnection(endpoint: endpoint, logger: logger) })
    }

    /// One statement, with text parameters (`nil` is NULL), outside any transaction.
    public func query(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PGRows {
        try pool.withConnection { connection throws(PostgresError) in try connection.query(sql, parameters) }
    }

    /// Several statements without parameters (a migration).
    public func execute(_ sql: String) throws(PostgresError) {
        try pool.withConnection { connection throws(PostgresError) in try connection.execute(sql) }
    }

    /// Runs `body` in one transaction on one connection: committed when it returns, rolled back when
    /// it throws (and the error rethrown).
    public func transaction<Result>(_ body: (PostgresTransaction) throws -> Result) throws -> Result {
        var failure: (any Error)?
        let result = try pool.withConnection { connection throws(PostgresError) -> Result? in
            try connection.execute("BEGIN")
            do {
                let result = try body(PostgresTransaction(connection: connection))
                try connection.execute("COMMIT")
                return result
            } catch {
                connection.rollback()
                failure = error
                return nil
            }
        }
        if let failure { throw failure }
        return result!
    }
}

/// The statements of one transaction (see ``PostgresClient/transaction(_:)``).
public struct PostgresTransaction {
    let connection: PGConnection

    public func query(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PGRows {
        try connection.query(sql, parameters)
    }
}
