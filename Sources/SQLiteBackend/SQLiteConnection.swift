import Backend
import CSQLite
import Foundation

/// A value bound to, or read from, a statement.
enum SQLiteValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    var int64: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    var int: Int? { int64.map { Int(truncatingIfNeeded: $0) } }

    var real: Double? {
        switch self {
        case .real(let value): value
        case .integer(let value): Double(value)
        default: nil
        }
    }

    var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    var isNull: Bool { self == .null }
}

/// How the connection opens the file and how long a write waits for another process's write.
struct SQLiteSettings: Sendable {
    /// The database file.
    var path: String
    /// `PRAGMA synchronous` on every connection: `FULL` syncs the write-ahead log on every commit.
    var synchronous: SQLiteBackend.Synchronous
    /// How long a statement waits for a lock another connection holds before failing `.unavailable`.
    var busyTimeout: Duration
}

/// One connection to the database file, opened on first use. Each call runs on the caller's thread
/// and blocks; the `sqlite3` handle lives inside a `Mutex`, so one call at a time uses it (the pool
/// lends a connection to one caller at a time, so the lock is never contended).
///
/// Written over the C API rather than taken from GRDB or sqlite-nio: the backend runs every call on a
/// thread the host owns and needs exact control of transactions (`BEGIN IMMEDIATE`), the busy handler
/// and the pragmas, which both libraries wrap in queues and executors of their own.
final class SQLiteConnection: @unchecked Sendable {
    let settings: SQLiteSettings
    // Guards the three fields below; the reason the class is @unchecked Sendable.
    private let lock = NSLock()
    private var handle: OpaquePointer?
    /// Prepared statements by their SQL, reset after each use.
    private var prepared: [String: OpaquePointer] = [:]
    /// The busy handler's budget in µs; freed with the handle.
    private var busyBudget: UnsafeMutablePointer<Int64>?

    init(settings: SQLiteSettings) {
        self.settings = settings
    }

    deinit {
        close()
    }

    /// Runs `body` inside one write transaction (`BEGIN IMMEDIATE`: the write lock is taken at the
    /// start, so the transaction never fails half-way for another writer). Rolled back if `body` throws.
    func transaction<Result>(_ body: (inout Statements) throws(BackendError) -> Result) throws(BackendError) -> Result {
        try withStatements { (statements) throws(BackendError) -> Result in
            try statements.execute("BEGIN IMMEDIATE")
            do throws(BackendError) {
                let result = try body(&statements)
                try statements.execute("COMMIT")
                return result
            } catch {
                if sqlite3_get_autocommit(statements.handle) == 0 { _ = sqlite3_exec(statements.handle, "ROLLBACK", nil, nil, nil) }
                throw error
            }
        }
    }

    /// Runs `body` outside any explicit transaction: each statement is its own (reads see one snapshot
    /// per statement).
    func withStatements<Result>(_ body: (inout Statements) throws(BackendError) -> Result) throws(BackendError) -> Result {
        lock.lock()
        defer { lock.unlock() }
        var statements = Statements(handle: try open(), prepared: prepared, path: settings.path)
        defer { prepared = statements.prepared }
        return try body(&statements)
    }

    /// Changes each time another connection commits to the file (`PRAGMA data_version`): a cheap read
    /// of the shared WAL index, no disk access.
    func dataVersion() throws(BackendError) -> Int64 {
        try withStatements { (statements) throws(BackendError) in
            try statements.query("PRAGMA data_version").first?.first?.int64 ?? 0
        }
    }

    /// The open handle, opened now if needed. Called with `lock` held.
    private func open() throws(BackendError) -> OpaquePointer {
        if let handle { return handle }
        var opened: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(settings.path, &opened, flags, nil)
        guard status == SQLITE_OK, let opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let opened { sqlite3_close_v2(opened) }
            throw BackendError(.unavailable, "cannot open the SQLite file \(settings.path): \(message)")
        }
        sqlite3_extended_result_codes(opened, 1)
        let budget = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
        budget.pointee = Int64(max(1, settings.busyTimeout.roundedUpMicroseconds))
        sqlite3_busy_handler(opened, busyHandler, budget)
        handle = opened
        busyBudget = budget
        let pragmas = "PRAGMA synchronous = \(settings.synchronous.pragma); PRAGMA temp_store = MEMORY"
        if sqlite3_exec(opened, pragmas, nil, nil, nil) != SQLITE_OK {
            let error = SQLiteFailure.error(opened, path: settings.path, doing: "set up the connection")
            close()
            throw error
        }
        return opened
    }

    private func close() {
        for statement in prepared.values { sqlite3_finalize(statement) }
        prepared = [:]
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
        busyBudget?.deallocate()
        busyBudget = nil
    }
}

/// Waits for a lock another process holds: short sleeps first, since writes here last microseconds to
/// a few milliseconds, where SQLite's own handler would sleep 1, 2, 5, 10 ms and up. Gives up (the call
/// fails with SQLITE_BUSY, reported `.unavailable`) once the budget of the connection is spent.
private let busyHandler: @convention(c) (UnsafeMutableRawPointer?, Int32) -> Int32 = { context, count in
    guard let budget = context?.assumingMemoryBound(to: Int64.self).pointee else { return 0 }
    let step = Int64(min(1000, 25 << min(Int(count), 6)))
    // Sum of the sleeps so far: 25, 50, …, 800 µs for the first seven, then 1 ms each.
    let spent = count < 7 ? Int64(25 * ((1 << Int(count)) - 1)) : 3175 + Int64(count - 7) * 1000
    guard spent < budget else { return 0 }
    usleep(UInt32(step))
    return 1
}

/// The statements of one connection while the caller holds it.
struct Statements {
    let handle: OpaquePointer
    var prepared: [String: OpaquePointer]
    let path: String

    /// Runs one or more statements that take no parameters and return nothing.
    func execute(_ sql: String) throws(BackendError) {
        guard sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK else {
            throw SQLiteFailure.error(handle, path: path, doing: sql.split(separator: " ").prefix(2).joined(separator: " "))
        }
    }

    /// Runs one statement and returns its rows.
    @discardableResult
    mutating func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws(BackendError) -> [[SQLiteValue]] {
        let statement = try prepare(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(parameters, to: statement)
        var rows: [[SQLiteValue]] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else { throw SQLiteFailure.error(handle, path: path, doing: Self.verb(sql)) }
            let columns = sqlite3_column_count(statement)
            var row: [SQLiteValue] = []
            row.reserveCapacity(Int(columns))
            for column in 0..<columns {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: row.append(.integer(sqlite3_column_int64(statement, column)))
                case SQLITE_FLOAT: row.append(.real(sqlite3_column_double(statement, column)))
                case SQLITE_NULL: row.append(.null)
                default:
                    // Text, or a blob a producer wrote: read as UTF-8 text either way.
                    let bytes = Int(sqlite3_column_bytes(statement, column))
                    if let text = sqlite3_column_text(statement, column) {
                        row.append(.text(String(decoding: UnsafeBufferPointer(start: text, count: bytes), as: UTF8.self)))
                    } else {
                        row.append(.text(""))
                    }
                }
            }
            rows.append(row)
        }
        return rows
    }

    /// Runs one statement that returns no rows; returns how many rows it changed.
    @discardableResult
    mutating func run(_ sql: String, _ parameters: [SQLiteValue] = []) throws(BackendError) -> Int {
        try query(sql, parameters)
        return Int(sqlite3_changes(handle))
    }

    private mutating func prepare(_ sql: String) throws(BackendError) -> OpaquePointer {
        if let statement = prepared[sql] { return statement }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK, let statement else {
            throw SQLiteFailure.error(handle, path: path, doing: "prepare \(Self.verb(sql))")
        }
        prepared[sql] = statement
        return statement
    }

    private func bind(_ parameters: [SQLiteValue], to statement: OpaquePointer) throws(BackendError) {
        for (offset, parameter) in parameters.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch parameter {
            case .null: status = sqlite3_bind_null(statement, index)
            case .integer(let value): status = sqlite3_bind_int64(statement, index, value)
            case .real(let value): status = sqlite3_bind_double(statement, index, value)
            case .text(let value):
                status = value.utf8.withContiguousStorageIfAvailable { bytes in
                    bytes.withMemoryRebound(to: CChar.self) { jobhost_sqlite3_bind_text_copy(statement, index, $0.baseAddress, Int32(bytes.count)) }
                } ?? {
                    var copy = value
                    return copy.withUTF8 { bytes in
                        bytes.withMemoryRebound(to: CChar.self) { jobhost_sqlite3_bind_text_copy(statement, index, $0.baseAddress, Int32(bytes.count)) }
                    }
                }()
            }
            guard status == SQLITE_OK else { throw SQLiteFailure.error(handle, path: path, doing: "bind parameter \(index)") }
        }
    }

    /// The statement's first words, for messages.
    private static func verb(_ sql: String) -> String {
        sql.split(whereSeparator: { $0 == " " || $0 == "\n" }).prefix(3).joined(separator: " ")
    }
}

/// SQLite's errors as the backend reports them.
enum SQLiteFailure {
    static func error(_ handle: OpaquePointer, path: String, doing what: String) -> BackendError {
        let code = sqlite3_extended_errcode(handle)
        let message = String(cString: sqlite3_errmsg(handle))
        let text = "SQLite (\(path)): \(what): \(message)"
        switch code & 0xff {
        case SQLITE_BUSY, SQLITE_LOCKED:
            return BackendError(.unavailable, text + " (another process held the file's lock for longer than the busy timeout)")
        case SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_FULL, SQLITE_PROTOCOL:
            return BackendError(.unavailable, text)
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            return BackendError(.corrupt, text)
        case SQLITE_CONSTRAINT, SQLITE_MISMATCH, SQLITE_TOOBIG, SQLITE_RANGE:
            return BackendError(.invalid, text)
        default:
            return BackendError(.server, text)
        }
    }
}
