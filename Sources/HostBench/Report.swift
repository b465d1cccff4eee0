import CSQLite
import Foundation

/// Every figure of a run, for `--json` (scripts compare runs); keys in snake case.
struct Report: Encodable {
    var backend: String
    var serverSettings: String
    var jobs: Int
    var concurrency: Int
    var retention: String
    var isolation: String
    var enqueue = Enqueue()
    var drain = Drain()
    var cpuPerJobMicroseconds = CPU()
    var jobsPerCpuSecond: Double?
    var serverProfile = Profile()
    var rssKib = Memory()
    var latency: Latency?

    struct Enqueue: Encodable {
        var mode = ""
        var path = ""
        var producers = 0
        var jobsPerSecond = 0.0
        var seconds = 0.0
        /// PostgreSQL: transactions, WAL flushes … per job of the enqueue.
        var postgresPerJob: [String: Double]?
    }

    struct Drain: Encodable {
        var jobsPerSecond = 0.0
        var seconds = 0.0
        var firstTenthJobsPerSecond: Double?
        var lastTenthJobsPerSecond: Double?
        /// The last tenth's rate over the first's.
        var lastOverFirst: Double?
        var withinFifteenPercent: Bool?
    }

    struct CPU: Encodable {
        var host = 0.0
        var thisProcess = 0.0
        var workers: Double?
        var server: Double?
    }

    struct Profile: Encodable {
        var redisCommands: [ServerProfile.CommandCost]?
        var postgresPerJob: [String: Double]?
    }

    struct Memory: Encodable {
        /// At each tenth of the drain, 10% … 100%: all workers together, and this process (the
        /// supervisor, or the runtime with thread isolation).
        var workers: [Int]?
        var supervisor: [Int] = []
        var workersFlat: Bool?
        var supervisorFlat: Bool?
    }

    struct Latency: Encodable {
        var p50Ms: Double
        var p99Ms: Double
        var maxMs: Double
        var jobs: Int
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// Whether every figure after the first lies within ±`tolerance` of the first (the first tenth is
/// the baseline: a worker's memory before it settles is not the question, growth after is).
func isFlat(_ samples: [Int], tolerance: Double = 0.05) -> Bool? {
    guard let base = samples.first, base > 0 else { return nil }
    return samples.allSatisfy { abs(Double($0) / Double(base) - 1) <= tolerance }
}

/// `SQLite <version>, synchronous <level>, journal_mode <mode>`, read from the file the host uses.
func sqliteSettings(path: String, synchronous: String) -> String {
    var handle: OpaquePointer?
    defer { sqlite3_close_v2(handle) }
    var mode = "?"
    if sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY, nil) == SQLITE_OK {
        var statement: OpaquePointer?
        if sqlite3_prepare_v2(handle, "PRAGMA journal_mode", -1, &statement, nil) == SQLITE_OK, sqlite3_step(statement) == SQLITE_ROW,
            let text = sqlite3_column_text(statement, 0)
        {
            mode = String(cString: text)
        }
        sqlite3_finalize(statement)
    }
    return "SQLite \(String(cString: sqlite3_libversion())), synchronous \(synchronous) (\(synchronous == "full" ? "every commit synced" : "synced at checkpoints")), journal_mode \(mode)"
}
