import CLibPQ
import Durations
import Foundation
import Glibc
import Logging
import Synchronization

/// Where PostgreSQL is and how to connect, parsed once from a URL (`postgres://user:password@host:port/db?…`)
/// or a `key=value` connection string. Messages show ``display`` and never the password.
package struct PGEndpoint: Sendable {
    /// What ``PGConnection`` hands to `PQconnectdbParams`, in order: the caller's settings, then ours.
    package let keywords: [String]
    package let values: [String]
    /// `user@host:port/dbname`, for messages and logs.
    package let display: String
    /// Strings scrubbed from every message that quotes libpq or the server: the password, as parsed
    /// and as written in the URL (percent-encoded).
    package let secrets: [String]
    /// How long one call may take before the connection is given up; `nil`: no limit.
    package let commandTimeout: Duration?

    /// - Parameters:
    ///   - applicationName: `application_name`, unless the URL sets one; shows in `pg_stat_activity`.
    ///   - role: appended to the application name (the URL's or ours), so an operator tells the
    ///     kinds of connections apart: `jobhost listen`.
    ///   - connectTimeout: libpq's `connect_timeout` (whole seconds, at least 2 as libpq enforces).
    ///   - commandTimeout: the client-side limit on a call; the server-side `statement_timeout` is set
    ///     to it too, so a statement stuck behind a lock is cancelled by the server, releasing what
    ///     it holds, before the client gives up on the connection.
    package init(url: String, applicationName: String, role: String? = nil, connectTimeout: Duration, commandTimeout: Duration?) throws(PostgresError) {
        let secrets = PGEndpoint.passwords(in: url)
        var parsed: [(String, String)] = []
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(url, &errorMessage) else {
            let reason = errorMessage.map { String(cString: $0) } ?? "out of memory"
            if let errorMessage { PQfreemem(errorMessage) }
            throw PostgresError(
                .invalid,
                "the PostgreSQL URL is not valid (\(scrub(reason.trimmingCharacters(in: .whitespacesAndNewlines), secrets))); "
                    + "expected postgres://user:password@host:port/database")
        }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { parsed.append((String(cString: keyword), String(cString: value))) }
            option += 1
        }
        guard connectTimeout > .zero, commandTimeout.map({ $0 > .zero }) ?? true else {
            throw PostgresError(.invalid, "PostgreSQL connect and command timeouts must be positive")
        }

        var settings = parsed.filter { $0.0 != "password" }
        let password = parsed.first { $0.0 == "password" }?.1
        func setDefault(_ keyword: String, _ value: String) {
            if !settings.contains(where: { $0.0 == keyword }) { settings.append((keyword, value)) }
        }
        func set(_ keyword: String, _ value: String) {
            settings.removeAll { $0.0 == keyword }
            settings.append((keyword, value))
        }
        let name = settings.first { $0.0 == "application_name" }?.1 ?? applicationName
        set("application_name", role.map { "\(name) \($0)" } ?? name)
        // Dead peers: TCP keepalives notice a silent host while a call waits for a reply, and
        // tcp_user_timeout bounds how long sent data may stay unacknowledged. The URL may tune them.
        setDefault("keepalives", "1")
        setDefault("keepalives_idle", "10")
        setDefault("keepalives_interval", "5")
        setDefault("keepalives_count", "3")
        setDefault("tcp_user_timeout", "30000")
        // Configured, so it wins over the URL: no connection attempt may hang.
        let (seconds, attoseconds) = connectTimeout.components
        set("connect_timeout", String(max(2, seconds + (attoseconds > 0 ? 1 : 0))))
        if let commandTimeout {
            let milliseconds = max(1, commandTimeout.inMilliseconds)
            let existing = settings.first { $0.0 == "options" }?.1
            set("options", [existing, "-c statement_timeout=\(milliseconds)"].compactMap { $0 }.joined(separator: " "))
        }
        if let password { settings.append(("password", password)) }
        // Nothing in the environment may turn a parameter we set into a connection string.
        self.keywords = settings.map(\.0)
        self.values = settings.map(\.1)

        let value = { (keyword: String) in parsed.first { $0.0 == keyword }?.1 }
        let host = value("host") ?? value("hostaddr") ?? ProcessInfo.processInfo.environment["PGHOST"] ?? "localhost"
        let port = value("port") ?? ProcessInfo.processInfo.environment["PGPORT"] ?? "5432"
        let user = value("user").map { $0 + "@" } ?? ""
        let database = value("dbname").map { "/" + $0 } ?? ""
        self.display = scrub("\(user)\(host):\(port)\(database)", secrets + [password].compactMap { $0 })
        self.secrets = (secrets + [password].compactMap { $0 }).filter { !$0.isEmpty }
        self.commandTimeout = commandTimeout
    }

    /// The passwords `conninfo` holds, as written and percent-decoded: what every message is
    /// scrubbed of. Found the way libpq reads them: the userinfo password of a URL (which ends at the
    /// first `@` before any `/`), a `password=` query parameter, or a `password=` keyword of a
    /// `key=value` string, quoted or not.
    static func passwords(in conninfo: String) -> [String] {
        var found: [String] = []
        let trimmed = conninfo.trimmingCharacters(in: .whitespaces)
        if let scheme = trimmed.range(of: "://"), trimmed.hasPrefix("postgres") {
            // libpq's own rule: the userinfo ends at the first '@' before any '/'.
            let rest = trimmed[scheme.upperBound...]
            let authority = rest.prefix { $0 != "/" && $0 != "?" }
            if let at = authority.lastIndex(of: "@") {
                let userinfo = authority[..<at]
                if let colon = userinfo.firstIndex(of: ":") {
                    found.append(String(userinfo[userinfo.index(after: colon)...]))
                }
            }
            if let query = rest.firstIndex(of: "?") {
                for pair in rest[rest.index(after: query)...].split(separator: "&") where pair.hasPrefix("password=") {
                    found.append(String(pair.dropFirst("password=".count)))
                }
            }
        } else {
            // key=value: the value is a single-quoted string with backslash escapes, or runs to whitespace.
            var index = trimmed.startIndex
            while let match = trimmed.range(of: "password", range: index..<trimmed.endIndex) {
                index = match.upperBound
                var cursor = match.upperBound
                while cursor < trimmed.endIndex, trimmed[cursor] == " " { cursor = trimmed.index(after: cursor) }
                guard cursor < trimmed.endIndex, trimmed[cursor] == "=" else { continue }
                cursor = trimmed.index(after: cursor)
                while cursor < trimmed.endIndex, trimmed[cursor] == " " { cursor = trimmed.index(after: cursor) }
                var value = ""
                if cursor < trimmed.endIndex, trimmed[cursor] == "'" {
                    cursor = trimmed.index(after: cursor)
                    while cursor < trimmed.endIndex, trimmed[cursor] != "'" {
                        if trimmed[cursor] == "\\", trimmed.index(after: cursor) < trimmed.endIndex {
                            value.append(trimmed[cursor])
                            cursor = trimmed.index(after: cursor)
                        }
                        value.append(trimmed[cursor])
                        cursor = trimmed.index(after: cursor)
                    }
                } else {
                    while cursor < trimmed.endIndex, !trimmed[cursor].isWhitespace {
                        value.append(trimmed[cursor])
                        cursor = trimmed.index(after: cursor)
                    }
                }
                found.append(value)
                index = cursor
            }
        }
        // The percent-decoded form too: libpq may quote either.
        return Array(Set(found.flatMap { [$0, $0.removingPercentEncoding ?? $0] }.filter { !$0.isEmpty }))
    }
}

/// `message` with every secret replaced by `****`.
func scrub(_ message: String, _ secrets: [String]) -> String {
    var text = message
    for secret in secrets where !secret.isEmpty {
        text = text.replacingOccurrences(of: secret, with: "****")
    }
    return text
}

/// A statement prepared once per connection (`PQprepare`) and then run by name: the hot path skips
/// parsing and planning. The name is unique per backend; the SQL never changes for a name.
package struct PGStatement: Sendable {
    package let name: String
    package let sql: String

    package init(name: String, sql: String) {
        self.name = name
        self.sql = sql
    }
}

/// The rows of one result, as text (every value PostgreSQL sends in text format), `nil` for NULL.
public struct PGRows: Sendable {
    public let columnCount: Int
    private(set) var values: [String?] = []

    init(columnCount: Int) {
        self.columnCount = columnCount
    }

    public var count: Int { columnCount == 0 ? 0 : values.count / columnCount }

    public subscript(row: Int, column: Int) -> String? { values[row * columnCount + column] }

    /// A column as a whole number (nil for NULL or text that is not one).
    public func int(_ row: Int, _ column: Int) -> Int? { self[row, column].flatMap { Int($0) } }

    fileprivate mutating func append(_ value: String?) { values.append(value) }
}

/// One libpq connection, used by one caller at a time.
///
/// It connects on first use. A call that finds the connection broken (`PQstatus` not OK, or the
/// server closed it while it sat idle) connects again first; a call during which it breaks throws
/// ``PostgresError/Code/unavailable`` and the next call connects again. Nothing is retried: whether a
/// statement whose reply was lost took effect is unknown, and backoff is the caller's.
///
/// Every call is bounded: connecting by `connect_timeout`, each statement by the endpoint's command
/// timeout (the socket is non-blocking and every wait is a `poll` with a deadline). A call that runs
/// out of time drops the connection; the server's own `statement_timeout` has cancelled the statement
/// by then unless the server itself is stuck.
///
/// Safe to share between threads: the `PGconn` lives inside a `Mutex`, so one call at a time uses it.
package final class PGConnection: Sendable {
    package let endpoint: PGEndpoint
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var connection: OpaquePointer?
        /// Statements prepared on `connection`; emptied when it is replaced.
        var prepared: Set<String> = []
    }

    package init(endpoint: PGEndpoint, logger: Logger) {
        self.endpoint = endpoint
        self.logger = logger
    }

    deinit {
        state.withLock { state in
            if let connection = state.connection { PQfinish(connection) }
            state.connection = nil
        }
    }

    /// Runs one statement with text parameters (`nil` is NULL) and returns its rows.
    package func query(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PGRows {
        try withConnection { (connection, _) throws(PostgresError) in
            try withCStrings(parameters) { values throws(PostgresError) in
                guard PQsendQueryParams(connection, sql, Int32(values.count), nil, values, nil, nil, 0) == 1 else {
                    throw broken(connection, "cannot send a statement")
                }
            }
            return try results(connection).last ?? PGRows(columnCount: 0)
        }
    }

    /// Runs a prepared statement, preparing it first on this connection if needed.
    package func query(_ statement: PGStatement, _ parameters: [String?]) throws(PostgresError) -> PGRows {
        try withConnection { (connection, prepared) throws(PostgresError) in
            if !prepared.contains(statement.name) {
                guard PQsendPrepare(connection, statement.name, statement.sql, 0, nil) == 1 else {
                    throw broken(connection, "cannot send a statement")
                }
                _ = try results(connection)
                prepared.insert(statement.name)
            }
            try withCStrings(parameters) { values throws(PostgresError) in
                guard PQsendQueryPrepared(connection, statement.name, Int32(values.count), values, nil, nil, 0) == 1 else {
                    throw broken(connection, "cannot send a statement")
                }
            }
            return try results(connection).last ?? PGRows(columnCount: 0)
        }
    }

    /// Runs `sql`, which may hold several statements and no parameters (the simple query protocol:
    /// migrations, `LISTEN`). The first failing statement is thrown; the rest are skipped, as
    /// PostgreSQL does.
    package func execute(_ sql: String) throws(PostgresError) {
        try withConnection { (connection, _) throws(PostgresError) in
            guard PQsendQuery(connection, sql) == 1 else { throw broken(connection, "cannot send a statement") }
            _ = try results(connection)
        }
    }

    /// Rolls back the transaction the current connection is in, if any; never connects for it (a new
    /// connection is in none). For the error path of a caller's `BEGIN`.
    package func rollback() {
        state.withLock { state in
            guard let connection = state.connection, PQtransactionStatus(connection) != PQTRANS_IDLE else { return }
            guard Self.isSound(connection), PQsendQuery(connection, "ROLLBACK") == 1, (try? results(connection)) != nil,
                  PQtransactionStatus(connection) == PQTRANS_IDLE
            else {
                // Whatever state it is in, it must not reach the next caller inside a transaction.
                drop(&state)
                return
            }
        }
    }

    /// `UNLISTEN *` on the current connection, if it is still good; never connects for it (a new
    /// connection listens to nothing). Failures only mean the connection is gone.
    package func unlisten() {
        state.withLock { state in
            guard let connection = state.connection, Self.isSound(connection), PQsendQuery(connection, "UNLISTEN *") == 1 else { return }
            if (try? results(connection)) == nil, !Self.isSound(connection) { drop(&state) }
        }
    }

    /// Throws away notifications received so far: hints about work that a query run after this sees.
    package func discardNotifications() {
        state.withLock { state in
            guard let connection = state.connection else { return }
            _ = PQconsumeInput(connection)
            while let notification = PQnotifies(connection) { PQfreemem(notification) }
        }
    }

    /// Blocks until a notification on `channel` carries `payload`, until `deadline`, or until the
    /// connection breaks (it is then dropped, and the next call connects again). Other notifications
    /// are read and dropped. Needs an earlier `LISTEN` on this connection. Returns whether the
    /// notification came.
    @discardableResult
    package func waitForNotification(channel: String, payload: String, until deadline: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            guard let connection = state.connection, PQstatus(connection) == CONNECTION_OK else { return false }
            while true {
                var matched = false
                while let notification = PQnotifies(connection) {
                    if String(cString: notification.pointee.relname) == channel,
                       String(cString: notification.pointee.extra) == payload
                    {
                        matched = true
                    }
                    PQfreemem(notification)
                }
                if matched { return true }
                let remaining = deadline - .now
                if remaining <= .zero { return false }
                var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
                let ready = poll(&descriptor, 1, Self.milliseconds(remaining))
                if ready < 0, errno == EINTR { continue }
                if ready == 0 { return false }
                if ready < 0 || PQconsumeInput(connection) == 0 || PQstatus(connection) != CONNECTION_OK {
                    logger.warning(
                        "lost the PostgreSQL connection that listens for new work; polling finds work meanwhile",
                        metadata: ["postgres": "\(endpoint.display)", "reason": "\(errorText(connection))"])
                    drop(&state)
                    return false
                }
            }
        }
    }

    // MARK: - libpq

    /// Runs `body` with a live connection, connecting first if there is none or it broke, under the lock.
    private func withConnection<Result: Sendable>(
        // @Sendable: a closure of no region, so handing it the connection keeps `state` in its own.
        _ body: @Sendable (OpaquePointer, inout Set<String>) throws(PostgresError) -> Result
    ) throws(PostgresError) -> Result {
        try state.withLock { (state) throws(PostgresError) -> Result in
            let connection = try connected(&state)
            do throws(PostgresError) {
                return try body(connection, &state.prepared)
            } catch {
                // A connection that broke, or is left mid-statement by a timeout, is not reused.
                if !Self.isSound(connection) { drop(&state) }
                throw error
            }
        }
    }

    private func drop(_ state: inout State) {
        if let connection = state.connection { PQfinish(connection) }
        state.connection = nil
        state.prepared = []
    }

    /// The live connection: the current one if it is still good, else a new one.
    private func connected(_ state: inout State) throws(PostgresError) -> OpaquePointer {
        if let connection = state.connection {
            if isUsable(connection) { return connection }
            logger.info("reconnecting to PostgreSQL: the connection broke", metadata: ["postgres": "\(endpoint.display)"])
            drop(&state)
        }
        let connection = withNullTerminatedCStrings(endpoint.keywords) { keywords in
            withNullTerminatedCStrings(endpoint.values) { values in
                PQconnectdbParams(keywords, values, 0)
            }
        }
        guard let connection else {
            throw PostgresError(.unavailable, "cannot connect to PostgreSQL at \(endpoint.display): out of memory")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let reason = errorText(connection)
            PQfinish(connection)
            // A refused login is the server answering: retrying with the same password will not help.
            let code: PostgresError.Code = reason.contains("authentication failed") || reason.contains("no pg_hba.conf entry") ? .server : .unavailable
            throw PostgresError(code, "cannot connect to PostgreSQL at \(endpoint.display): \(reason)")
        }
        // Non-blocking: sends never block without a deadline, however large the statement.
        guard PQsetnonblocking(connection, 1) == 0 else {
            let reason = errorText(connection)
            PQfinish(connection)
            throw PostgresError(.unavailable, "cannot use the connection to PostgreSQL at \(endpoint.display): \(reason)")
        }
        // Notices (a NOTICE from CREATE … IF NOT EXISTS, a WARNING) go to the log, not to stderr.
        // The connection is freed before `self` (deinit or drop), so the unretained pointer outlives it.
        PQsetNoticeReceiver(connection, { context, result in
            guard let context, let result else { return }
            let owner = Unmanaged<PGConnection>.fromOpaque(context).takeUnretainedValue()
            let text = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            owner.logger.debug("PostgreSQL notice", metadata: ["postgres": "\(owner.endpoint.display)", "notice": "\(scrub(text, owner.endpoint.secrets))"])
        }, Unmanaged.passUnretained(self).toOpaque())
        state.connection = connection
        state.prepared = []
        logger.debug("connected to PostgreSQL", metadata: ["postgres": "\(endpoint.display)"])
        return connection
    }

    /// Whether a connection is connected and not in the middle of a statement. Inside a transaction is
    /// fine: the migrator runs one across several calls (the backend's own statements never leave one
    /// open).
    private static func isSound(_ connection: OpaquePointer) -> Bool {
        let transaction = PQtransactionStatus(connection)
        return PQstatus(connection) == CONNECTION_OK && transaction != PQTRANS_ACTIVE && transaction != PQTRANS_UNKNOWN
    }

    /// Whether an idle connection can take a statement: sound, and not closed by the server meanwhile. An idle connection that has something to read was told
    /// something (a termination notice, end of file): reading it makes libpq notice.
    private func isUsable(_ connection: OpaquePointer) -> Bool {
        guard Self.isSound(connection) else { return false }
        // A terminated session sends its FATAL error, then closes: libpq notices the close only on
        // a later read, so read while there is something to read (a few times at most).
        for _ in 0..<4 {
            var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else { return true }
            guard PQconsumeInput(connection) == 1, PQstatus(connection) == CONNECTION_OK else { return false }
        }
        return true
    }

    /// Sends what libpq buffered and collects every result of the statement(s) sent, within the
    /// command timeout. The first error result is thrown after all results are read, so the
    /// connection is left idle and reusable.
    private func results(_ connection: OpaquePointer) throws(PostgresError) -> [PGRows] {
        let deadline = endpoint.commandTimeout.map { ContinuousClock.now + $0 + .seconds(2) }
        while true {
            let flushed = PQflush(connection)
            if flushed == 0 { break }
            if flushed < 0 { throw broken(connection, "cannot send a statement") }
            try wait(connection, for: Int16(POLLIN | POLLOUT), until: deadline)
            guard PQconsumeInput(connection) == 1 else { throw broken(connection, "cannot read a reply") }
        }
        var all: [PGRows] = []
        var failure: PostgresError?
        while true {
            while PQisBusy(connection) == 1 {
                try wait(connection, for: Int16(POLLIN), until: deadline)
                guard PQconsumeInput(connection) == 1 else { throw broken(connection, "cannot read a reply") }
            }
            guard let result = PQgetResult(connection) else { break }
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
                all.append(Self.rows(result))
            case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                all.append(PGRows(columnCount: 0))
            case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
                if failure == nil { failure = serverError(result, connection) }
            default:
                if failure == nil {
                    failure = PostgresError(.server, "PostgreSQL at \(endpoint.display) answered with an unexpected result (\(String(cString: PQresStatus(PQresultStatus(result)))))")
                }
            }
        }
        if let failure { throw failure }
        return all
    }

    /// Polls the socket for `events` until `deadline`; past it, the connection is given up.
    private func wait(_ connection: OpaquePointer, for events: Int16, until deadline: ContinuousClock.Instant?) throws(PostgresError) {
        while true {
            let timeout = deadline.map { Self.milliseconds($0 - .now) } ?? -1
            if timeout == 0, deadline != nil {
                // The statement is still in flight: the caller drops the connection (it is not idle).
                let limit = endpoint.commandTimeout.map { "\($0)" } ?? "?"
                throw PostgresError(.unavailable, "PostgreSQL at \(endpoint.display) did not answer within \(limit); the connection was closed")
            }
            var descriptor = pollfd(fd: PQsocket(connection), events: events, revents: 0)
            let ready = poll(&descriptor, 1, timeout)
            if ready > 0 { return }
            if ready < 0, errno != EINTR {
                throw PostgresError(.unavailable, "cannot wait for PostgreSQL at \(endpoint.display): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// The error for a connection that failed mid-call: always `.unavailable`.
    private func broken(_ connection: OpaquePointer, _ what: String) -> PostgresError {
        let reason = errorText(connection)
        logger.warning("PostgreSQL connection failed", metadata: ["postgres": "\(endpoint.display)", "reason": "\(reason)"])
        return PostgresError(.unavailable, "lost the connection to PostgreSQL at \(endpoint.display) (\(what)): \(reason)")
    }

    /// The error for an error result, classified by SQLSTATE (see ``PostgresError/server(sqlState:message:)``).
    private func serverError(_ result: OpaquePointer, _ connection: OpaquePointer) -> PostgresError {
        let field = { (code: UInt8) -> String? in PQresultErrorField(result, Int32(code)).map { String(cString: $0) } }
        let sqlState = field(UInt8(ascii: "C")) ?? ""
        var message = field(UInt8(ascii: "M")) ?? String(cString: PQresultErrorMessage(result))
        if let detail = field(UInt8(ascii: "D")) { message += " (\(detail))" }
        if PQstatus(connection) != CONNECTION_OK {
            return PostgresError(.unavailable, "lost the connection to PostgreSQL at \(endpoint.display): \(scrub(message, endpoint.secrets))")
        }
        return PostgresError.server(sqlState: sqlState, message: "PostgreSQL at \(endpoint.display): \(scrub(message, endpoint.secrets))")
    }

    private func errorText(_ connection: OpaquePointer) -> String {
        let text = PQerrorMessage(connection).map { String(cString: $0) } ?? ""
        let oneLine = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        return scrub(oneLine.isEmpty ? "unknown error" : oneLine, endpoint.secrets)
    }

    private static func rows(_ result: OpaquePointer) -> PGRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var rows = PGRows(columnCount: columnCount)
        for row in 0..<Int32(rowCount) {
            for column in 0..<Int32(columnCount) {
                if PQgetisnull(result, row, column) == 1 {
                    rows.append(nil)
                } else {
                    let length = Int(PQgetlength(result, row, column))
                    let bytes = UnsafeRawBufferPointer(start: PQgetvalue(result, row, column), count: length)
                    rows.append(String(decoding: bytes, as: UTF8.self))
                }
            }
        }
        return rows
    }

    /// `duration` in whole milliseconds for `poll`, rounded up, at least 0.
    static func milliseconds(_ duration: Duration) -> Int32 {
        Int32(clamping: duration.roundedUpMilliseconds)
    }
}

/// Calls `body` with NUL-terminated copies of `strings` (`nil` stays a null pointer), valid only
/// during the call: what libpq's `const char *const *` parameters take.
private func withCStrings<Result>(
    _ strings: [String?], _ body: ([UnsafePointer<CChar>?]) throws(PostgresError) -> Result
) throws(PostgresError) -> Result {
    let copies = strings.map { $0.map { strdup($0) } ?? nil }
    defer { for copy in copies { free(copy) } }
    return try body(copies.map { $0.map { UnsafePointer($0) } })
}

/// The keyword and value arrays of `PQconnectdbParams`, terminated by a null pointer as libpq requires.
private func withNullTerminatedCStrings<Result>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> Result) -> Result {
    let copies = strings.map { strdup($0) }
    defer { for copy in copies { free(copy) } }
    return body(copies.map { $0.map { UnsafePointer($0) } } + [nil])
}
