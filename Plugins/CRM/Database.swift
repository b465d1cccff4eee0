import CSQLite
import Foundation

/// A value bound to, or read from, a statement.
enum SQLValue {
    case integer(Int64)
    case text(String)
    case real(Double)
    case null

    var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }
}

/// One connection to the CRM's SQLite file, opened by one job on its own thread and closed when the
/// job lets go of it: handlers run on many threads at once, and a connection per job shares nothing.
final class Database {
    private let handle: OpaquePointer
    let path: String

    /// Opens an existing file for reading and writing; a missing file is an error, never created.
    init(path: String, busyTimeoutMilliseconds: Int32) throws {
        self.path = path
        var opened: OpaquePointer?
        let status = sqlite3_open_v2(path, &opened, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
        guard status == SQLITE_OK, let opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
            if let opened { sqlite3_close_v2(opened) }
            throw CRMError("CRM database \(path): cannot open: \(message)")
        }
        handle = opened
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    private func failure(_ sql: String) -> CRMError {
        let firstLine = sql.split(separator: "\n").first.map(String.init) ?? sql
        return CRMError("CRM database \(path): \(String(cString: sqlite3_errmsg(handle))) (in: \(firstLine.trimmingCharacters(in: .whitespaces)))")
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction: the write lock is taken first, so an
    /// application writing the same file never makes it fail half-way. Rolled back when `body` throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    /// Runs statements without parameters or rows.
    func execute(_ sql: String) throws {
        guard sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK else { throw failure(sql) }
    }

    /// Runs one statement and returns its rows.
    func rows(_ sql: String, _ parameters: [SQLValue] = []) throws -> [[SQLValue]] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else { throw failure(sql) }
        defer { sqlite3_finalize(statement) }
        for (offset, value) in parameters.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .integer(let number): status = sqlite3_bind_int64(statement, index, number)
            case .real(let number): status = sqlite3_bind_double(statement, index, number)
            case .null: status = sqlite3_bind_null(statement, index)
            case .text(let text):
                // SQLite copies the bytes (SQLITE_TRANSIENT, through the module's shim).
                status = text.withCString { jobhost_sqlite3_bind_text_copy(statement, index, $0, Int32(text.utf8.count)) }
            }
            guard status == SQLITE_OK else { throw failure(sql) }
        }
        var result: [[SQLValue]] = []
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else { throw failure(sql) }
            result.append(
                (0..<sqlite3_column_count(statement)).map { column in
                    switch sqlite3_column_type(statement, column) {
                    case SQLITE_INTEGER: .integer(sqlite3_column_int64(statement, column))
                    case SQLITE_FLOAT: .real(sqlite3_column_double(statement, column))
                    case SQLITE_NULL: .null
                    default: .text(sqlite3_column_text(statement, column).map { String(cString: $0) } ?? "")
                    }
                })
        }
        return result
    }

    /// Runs one statement that changes rows; returns how many it changed.
    @discardableResult
    func run(_ sql: String, _ parameters: [SQLValue] = []) throws -> Int {
        _ = try rows(sql, parameters)
        return Int(sqlite3_changes(handle))
    }

    /// The one row a query returns.
    func row(_ sql: String, _ parameters: [SQLValue] = []) throws -> [SQLValue] {
        guard let first = try rows(sql, parameters).first else { throw CRMError("CRM database \(path): no row from: \(sql)") }
        return first
    }

    /// The integer in the first column of the one row a query returns.
    func integer(_ sql: String, _ parameters: [SQLValue] = []) throws -> Int64 {
        try row(sql, parameters).first?.integer ?? 0
    }
}
