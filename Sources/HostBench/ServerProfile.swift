import Foundation
import Logging
import PostgresClient
import RedisClient

/// What the server did per job over a stretch of the run, from its own counters: where the cost of a
/// job lies (which Redis commands and scripts, how many PostgreSQL transactions and WAL flushes).
enum ServerProfile {
    /// Redis's `INFO commandstats`: calls and µs per command name (`evalsha`, `fcall`, `hset`, …).
    struct RedisCommands {
        var byName: [String: (calls: Int, microseconds: Int)] = [:]

        static func read(_ client: RedisClient) throws -> RedisCommands {
            var stats = RedisCommands()
            let text = try client.command(["INFO", "commandstats"]).text ?? ""
            // cmdstat_evalsha:calls=123,usec=456,usec_per_call=3.71,rejected_calls=0,failed_calls=0
            for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = String(line[line.index(line.startIndex, offsetBy: 8)..<colon])
                var fields: [Substring: Int] = [:]
                for pair in line[line.index(after: colon)...].split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    if parts.count == 2, let value = Int(parts[1]) { fields[parts[0]] = value }
                }
                stats.byName[name] = (fields["calls"] ?? 0, fields["usec"] ?? 0)
            }
            return stats
        }

        /// Per job, the commands that took most of the server's time between `start` and `self`.
        func perJob(since start: RedisCommands, jobs: Int, top: Int = 8) -> [CommandCost] {
            byName.compactMap { name, now -> CommandCost? in
                let before = start.byName[name] ?? (0, 0)
                let calls = now.calls - before.calls
                guard calls > 0 else { return nil }
                return CommandCost(
                    command: name, callsPerJob: Double(calls) / Double(jobs), microsecondsPerJob: Double(now.microseconds - before.microseconds) / Double(jobs))
            }
            .sorted { $0.microsecondsPerJob > $1.microsecondsPerJob }
            .prefix(top).map { $0 }
        }
    }

    struct CommandCost: Encodable {
        var command: String
        var callsPerJob: Double
        var microsecondsPerJob: Double
    }

    /// PostgreSQL's cumulative statistics: the database's transactions, rows and blocks, the cluster's
    /// WAL and buffer writes.
    struct PostgresCounters {
        var values: [String: Double] = [:]

        /// Names in the order they are printed; wal_writes and wal_syncs are missing from PostgreSQL 18
        /// on (they moved to pg_stat_io).
        static let names = [
            "transactions", "rollbacks", "wal_records", "wal_bytes", "wal_full_page_images", "wal_writes", "wal_syncs", "block_writes",
            "blocks_read", "rows_inserted", "rows_updated", "rows_deleted",
        ]

        static func read(_ client: PostgresClient) throws -> PostgresCounters {
            let version = try client.query("SHOW server_version_num").int(0, 0) ?? 0
            // Buffers written to disk by checkpoints, the background writer and backends alike.
            let blockWrites = version >= 160000
                ? "(SELECT coalesce(sum(writes), 0) FROM pg_stat_io)"
                : "(SELECT buffers_checkpoint + buffers_clean + buffers_backend FROM pg_stat_bgwriter)"
            let walFlushes = version >= 180000 ? "NULL, NULL" : "w.wal_write, w.wal_sync"
            let rows = try client.query("""
                SELECT d.xact_commit, d.xact_rollback, w.wal_records, w.wal_bytes, w.wal_fpi, \(walFlushes), \(blockWrites),
                       d.blks_read, d.tup_inserted, d.tup_updated, d.tup_deleted
                FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()
                """)
            var counters = PostgresCounters()
            for (column, name) in names.enumerated() {
                if let value = rows[0, column].flatMap({ Double($0) }) { counters.values[name] = value }
            }
            return counters
        }

        func perJob(since start: PostgresCounters, jobs: Int) -> [String: Double] {
            values.reduce(into: [:]) { result, entry in
                if let before = start.values[entry.key] { result[entry.key] = (entry.value - before) / Double(jobs) }
            }
        }
    }

    /// The settings that decide what a write costs, for the first line of the output.
    static func redisSettings(_ client: RedisClient) throws -> String {
        func config(_ name: String) throws -> String { try client.command(["CONFIG", "GET", name]).array?.last?.text ?? "?" }
        let appendOnly = try config("appendonly")
        let save = try config("save")
        let persistence = appendOnly == "yes"
            ? "appendonly yes, appendfsync \(try config("appendfsync"))"
            : "appendonly no, save \(save.isEmpty ? "off" : "\"\(save)\"")"
        return "Redis \(try redisVersion(client)), \(persistence)\(appendOnly == "no" && save.isEmpty ? " (in memory, nothing written to disk)" : "")"
    }

    private static func redisVersion(_ client: RedisClient) throws -> String {
        let text = try client.command(["INFO", "server"]).text ?? ""
        let line = text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("redis_version:") }
        return line.map { String($0.dropFirst("redis_version:".count)) } ?? "?"
    }

    static func postgresSettings(_ client: PostgresClient, durable: Bool) throws -> String {
        let rows = try client.query("""
            SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit'),
                   current_setting('full_page_writes'), current_setting('wal_sync_method')
            """)
        return "PostgreSQL \(rows[0, 0] ?? "?"), \(durable ? "durable (default settings)" : "fast"): fsync \(rows[0, 1] ?? "?"), "
            + "synchronous_commit \(rows[0, 2] ?? "?"), full_page_writes \(rows[0, 3] ?? "?"), wal_sync_method \(rows[0, 4] ?? "?")"
    }
}
