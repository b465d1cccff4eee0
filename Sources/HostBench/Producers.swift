import Backend
import CSQLite
import Foundation
import Logging
import PostgresClient
import RedisClient
import Synchronization
import Threads

/// What an application does to enqueue one job, over a connection of its own, as docs/redis.md,
/// docs/postgres.md and docs/sqlite.md tell producers to — not the backend's batched enqueue, which
/// an application does not have. Each producer lives on one thread and is used only there.
protocol AppProducer {
    /// Enqueues one job and returns its id.
    func enqueue(handler: String, payload: String) throws -> String
}

/// Where the producers write, and how: enough to open a connection on a producer's own thread.
enum ProducerTarget: Sendable {
    case redis(url: String, keyPrefix: String)
    case postgres(url: String, schema: String)
    case sqlite(path: String, synchronous: String)

    /// The documented path, for the output.
    var path: String {
        switch self {
        case .redis: "MULTI/HSET/LPUSH ready/LPUSH+LTRIM wake/EXEC per job, one round trip (docs/redis.md)"
        case .postgres(_, let schema): "SELECT \(schema).enqueue(handler, payload, queue, max_attempts) per job, autocommit (docs/postgres.md)"
        case .sqlite: "BEGIN IMMEDIATE; INSERT INTO jobs … RETURNING id; COMMIT per job (docs/sqlite.md)"
        }
    }

    func connect(queue: String, maxAttempts: Int, logger: Logger) throws -> any AppProducer {
        switch self {
        case .redis(let url, let keyPrefix):
            RedisProducer(
                client: try RedisClient(url: url, poolSize: 1, logger: logger), base: "{\(keyPrefix):\(queue)}", queue: queue, maxAttempts: maxAttempts)
        case .postgres(let url, let schema):
            PostgresProducer(
                client: try PostgresClient(url: url, applicationName: "host-bench producer", poolSize: 1, logger: logger),
                schema: schema, queue: queue, maxAttempts: maxAttempts)
        case .sqlite(let path, let synchronous):
            try SQLiteProducer(path: path, synchronous: synchronous, queue: queue, maxAttempts: maxAttempts)
        }
    }
}

struct RedisProducer: AppProducer {
    let client: RedisClient
    /// `{prefix:queue}`, the hash tag every key of the queue starts with.
    let base: String
    let queue: String
    let maxAttempts: Int

    func enqueue(handler: String, payload: String) throws -> String {
        let id = JobID.generate()
        let now = String(Int64(Date().timeIntervalSince1970 * 1000))
        let replies = try client.pipeline([
            ["MULTI"],
            ["HSET", "\(base):job:\(id)", "id", id, "queue", queue, "handler", handler, "payload", payload,
             "max_attempts", String(maxAttempts), "enqueued_at", now],
            ["LPUSH", "\(base):ready", id],
            ["LPUSH", "\(base):wake", "1"],
            ["LTRIM", "\(base):wake", "0", "9"],
            ["EXEC"],
        ])
        let failures = replies.compactMap(\.error) + (replies.last?.array ?? []).compactMap(\.error)
        guard failures.isEmpty, replies.last?.array?.count == 4 else {
            throw BenchFailure("enqueueing job \(id) with MULTI/EXEC on Redis failed: \(failures.isEmpty ? "the transaction was not executed" : failures.joined(separator: "; "))")
        }
        return id
    }
}

struct PostgresProducer: AppProducer {
    let client: PostgresClient
    let schema: String
    let queue: String
    let maxAttempts: Int

    func enqueue(handler: String, payload: String) throws -> String {
        let rows = try client.query(
            "SELECT \(schema).enqueue($1, $2::jsonb, queue => $3, max_attempts => $4)", [handler, payload, queue, String(maxAttempts)])
        guard rows.count == 1, let id = rows[0, 0] else { throw BenchFailure("\(schema).enqueue(\(handler)) returned no id") }
        return id
    }
}

/// One connection of the application's own, with its write lock taken at `BEGIN IMMEDIATE` and a busy
/// timeout so producers and the host wait for each other instead of failing.
final class SQLiteProducer: AppProducer {
    private let handle: OpaquePointer
    private let insert: OpaquePointer
    private let path: String
    private let queue: String
    private let maxAttempts: Int

    init(path: String, synchronous: String, queue: String, maxAttempts: Int) throws {
        var opened: OpaquePointer?
        guard sqlite3_open_v2(path, &opened, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let opened { sqlite3_close_v2(opened) }
            throw BenchFailure("cannot open the SQLite file \(path): \(message)")
        }
        handle = opened
        self.path = path
        self.queue = queue
        self.maxAttempts = maxAttempts
        sqlite3_busy_timeout(opened, 60_000)
        var statement: OpaquePointer?
        guard sqlite3_exec(opened, "PRAGMA synchronous = \(synchronous.uppercased())", nil, nil, nil) == SQLITE_OK,
            sqlite3_prepare_v2(
                opened, "INSERT INTO jobs (handler, payload, queue, max_attempts) VALUES (?, ?, ?, ?) RETURNING id", -1, &statement, nil)
                == SQLITE_OK,
            let statement
        else {
            let message = String(cString: sqlite3_errmsg(opened))
            sqlite3_close_v2(opened)
            throw BenchFailure("cannot prepare the enqueue on \(path): \(message)")
        }
        insert = statement
    }

    deinit {
        sqlite3_finalize(insert)
        sqlite3_close_v2(handle)
    }

    func enqueue(handler: String, payload: String) throws -> String {
        try execute("BEGIN IMMEDIATE", handler)
        defer { sqlite3_reset(insert) }
        for (index, text) in [handler, payload, queue].enumerated() {
            var text = text
            _ = text.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { jobhost_sqlite3_bind_text_copy(insert, Int32(index + 1), $0.baseAddress, Int32(bytes.count)) }
            }
        }
        sqlite3_bind_int64(insert, 4, Int64(maxAttempts))
        guard sqlite3_step(insert) == SQLITE_ROW, let text = sqlite3_column_text(insert, 0) else {
            let message = String(cString: sqlite3_errmsg(handle))
            _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
            throw BenchFailure("inserting a job of \(handler) into \(path) failed: \(message)")
        }
        let id = String(cString: text)
        sqlite3_reset(insert)
        try execute("COMMIT", handler)
        return id
    }

    private func execute(_ sql: String, _ handler: String) throws {
        guard sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK else {
            throw BenchFailure("\(sql) for a job of \(handler) on \(path) failed: \(String(cString: sqlite3_errmsg(handle)))")
        }
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body(index)` on `count` threads of their own (producers block on their connections) and
/// returns when all have finished; the first error is thrown once all have, and the others see
/// `stop` set so they quit early.
func onThreads(_ count: Int, name: String, _ body: @escaping @Sendable (_ index: Int, _ stop: StopFlag) throws -> Void) async throws {
    let state = ThreadsState(count: count)
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        for index in 0..<count {
            startThread(name: "\(name).\(index)") {
                var failure: (any Error)?
                do { try body(index, state.stop) } catch {
                    failure = error
                    state.stop.set()
                }
                if let outcome = state.finish(failure) { continuation.resume(with: outcome) }
            }
        }
    }
}

final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}

private final class ThreadsState: Sendable {
    let stop = StopFlag()
    private let state: Mutex<(left: Int, error: (any Error)?)>

    init(count: Int) { state = Mutex((count, nil)) }

    /// Non-nil for the last thread to finish.
    func finish(_ failure: (any Error)?) -> Result<Void, any Error>? {
        state.withLock { state in
            state.left -= 1
            if state.error == nil { state.error = failure }
            guard state.left == 0 else { return nil }
            return state.error.map { .failure($0) } ?? .success(())
        }
    }
}
