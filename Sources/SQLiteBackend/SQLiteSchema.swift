import Backend
import Foundation
import Logging

/// The tables of a SQLite jobs file, one migration per version; the version applied is the file's
/// `PRAGMA user_version`. docs/sqlite.md describes them for applications that enqueue with SQL.
enum SQLiteSchema {
    /// Every migration, in order; version n is `migrations[n - 1]`.
    static let migrations: [(name: String, sql: String)] = [
        ("jobs", version1),
        ("results_and_progress", version2),
        ("attempt_history", attemptHistory),
        ("fire_history", fireHistory),
        ("run_streaks", runStreaks),
        ("concurrency_keys", concurrencyKeys),
        ("routes", routes),
    ]

    static var latest: Int { migrations.count }

    /// Now, in µs since the epoch, as SQL (millisecond precision: SQLite's clock reads no finer). The
    /// backend itself passes the time as a parameter, from the same clock.
    static let nowMicros = "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"

    /// A new job id as SQL, of the form ``JobID/generate(now:)`` makes: 10 characters of Crockford
    /// base32 for the millisecond, 16 random ones. A column default may not hold a subquery, hence
    /// one expression per character.
    static let newJobID: String = {
        let alphabet = "'0123456789ABCDEFGHJKMNPQRSTVWXYZ'"
        let milliseconds = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
        let time = (0..<10).reversed().map { "substr(\(alphabet), ((\(milliseconds) >> \($0 * 5)) & 31) + 1, 1)" }
        let random = (0..<16).map { _ in "substr(\(alphabet), (random() & 31) + 1, 1)" }
        return (time + random).joined(separator: " || ")
    }()

    /// Version 1: jobs, their counters, pauses, schedule fires and switches, the host registry.
    /// STRICT tables: a producer's value of the wrong type is refused at the insert, naming the column.
    static let version1 = """
        CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE DEFAULT (\(newJobID)) CONSTRAINT "id must be non-empty" CHECK (id <> ''),
            queue TEXT NOT NULL DEFAULT 'default' CONSTRAINT "queue must be a non-empty name" CHECK (queue <> ''),
            handler TEXT NOT NULL CONSTRAINT "handler must be a non-empty name" CHECK (handler <> ''),
            payload TEXT NOT NULL CONSTRAINT "payload must be JSON text" CHECK (json_valid(payload)),
            state TEXT NOT NULL DEFAULT 'ready'
                CONSTRAINT "state must be ready, scheduled, running, done or dead"
                CHECK (state IN ('ready', 'scheduled', 'running', 'done', 'dead')),
            run_at INTEGER NOT NULL DEFAULT (\(nowMicros)),
            enqueued_at INTEGER NOT NULL DEFAULT (\(nowMicros)),
            updated_at INTEGER NOT NULL DEFAULT (\(nowMicros)),
            attempt INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL DEFAULT 10 CONSTRAINT "max_attempts must be at least 1" CHECK (max_attempts >= 1),
            timeout_ms INTEGER CONSTRAINT "timeout_ms must be positive or NULL" CHECK (timeout_ms IS NULL OR timeout_ms >= 1),
            unique_key TEXT,
            origin TEXT,
            last_error TEXT,
            crashes INTEGER NOT NULL DEFAULT 0,
            lease_token TEXT,
            lease_until INTEGER,
            lease_owner TEXT
        ) STRICT;
        -- The claim's walk: a queue's pending jobs by run time, then enqueue order.
        CREATE INDEX jobs_pending ON jobs (queue, run_at, seq) WHERE state IN ('ready', 'scheduled');
        CREATE INDEX jobs_running ON jobs (queue, lease_until) WHERE state = 'running';
        CREATE INDEX jobs_finished ON jobs (queue, state, updated_at) WHERE state IN ('done', 'dead');
        -- One live job per unique key and queue.
        CREATE UNIQUE INDEX jobs_unique_key ON jobs (queue, unique_key)
            WHERE unique_key IS NOT NULL AND state IN ('ready', 'scheduled', 'running');

        CREATE TABLE queue_counters (
            queue TEXT PRIMARY KEY,
            processed INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0
        ) STRICT;
        CREATE TABLE queue_pauses (
            queue TEXT PRIMARY KEY,
            paused_at INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE schedule_fires (
            queue TEXT NOT NULL,
            schedule TEXT NOT NULL,
            fire_time INTEGER NOT NULL,
            job_id TEXT NOT NULL,
            PRIMARY KEY (queue, schedule)
        ) STRICT;
        CREATE TABLE schedule_switches (
            queue TEXT NOT NULL,
            schedule TEXT NOT NULL,
            disabled INTEGER NOT NULL,
            changed_at INTEGER NOT NULL,
            PRIMARY KEY (queue, schedule)
        ) STRICT;
        CREATE TABLE hosts (
            name TEXT PRIMARY KEY,
            instance TEXT NOT NULL,
            boot_id TEXT NOT NULL,
            machine TEXT NOT NULL,
            pid INTEGER NOT NULL,
            process_start INTEGER NOT NULL,
            seen_at INTEGER NOT NULL
        ) STRICT;
        """
}

extension SQLiteSchema {
    /// Version 2: what a handler reported it produced (ABI 1.1's `set_result`), kept with the done job;
    /// how far it said it got and its status note (heartbeat), while it runs.
    static let version2 = """
        ALTER TABLE jobs ADD COLUMN result TEXT;
        ALTER TABLE jobs ADD COLUMN progress REAL;
        ALTER TABLE jobs ADD COLUMN note TEXT;
        """
}

extension SQLiteSchema {
    /// Version 3: each job's attempt history, a JSON array of its last runs (docs/sqlite.md describes
    /// an entry), appended by the statements that end a run; NULL until its first run ends. Its number
    /// is only its place in ``migrations``.
    static let attemptHistory = """
        ALTER TABLE jobs ADD COLUMN attempts TEXT;
        """
}

extension SQLiteSchema {
    /// Version 4: the last fires of each schedule, per queue (written by the claim's transaction, which
    /// keeps the newest ten), and when each host record's instance started. Its number is only its
    /// place in ``migrations``.
    static let fireHistory = """
        CREATE TABLE schedule_fire_history (
            queue TEXT NOT NULL,
            schedule TEXT NOT NULL,
            fire_time INTEGER NOT NULL,
            job_id TEXT NOT NULL,
            PRIMARY KEY (queue, schedule, fire_time)
        ) STRICT;
        ALTER TABLE hosts ADD COLUMN started_at INTEGER;
        """
}

extension SQLiteSchema {
    /// Concurrency keys (``ConcurrencyLimit``) and skipped schedule fires. Reserved as version 6: the
    /// change made beside it that takes version 5 lands first, and this one follows it in
    /// ``migrations`` (it depends on nothing of 5).
    static let concurrencyKeys = """
        ALTER TABLE jobs ADD COLUMN concurrency_key TEXT CONSTRAINT "concurrency_key must be non-empty or NULL"
            CHECK (concurrency_key IS NULL OR concurrency_key <> '');
        ALTER TABLE jobs ADD COLUMN concurrency_limit INTEGER CONSTRAINT "concurrency_limit must be from 1 to \(ConcurrencyLimit.maxLimit), set with concurrency_key"
            CHECK ((concurrency_key IS NULL AND concurrency_limit IS NULL)
                OR (concurrency_key IS NOT NULL AND concurrency_limit BETWEEN 1 AND \(ConcurrencyLimit.maxLimit)));
        -- The jobs of each key, which the claim counts: the running ones, and the pending ones in line.
        CREATE INDEX jobs_concurrency ON jobs (queue, concurrency_key, state, run_at, seq) WHERE concurrency_key IS NOT NULL;
        ALTER TABLE schedule_fire_history ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
        """
}

/// Brings a jobs file to the latest schema. Safe with several processes at once: each migration runs
/// in one write transaction that checks the version first, so a file is migrated once.
public struct SQLiteMigrator: Sendable {
    let connection: SQLiteConnection
    let location: SQLiteLocation

    /// - Parameter path: the database file; created (with missing parent directories) if absent.
    public init(path: String, busyTimeout: Duration = .seconds(5)) {
        self.init(connection: SQLiteConnection(settings: SQLiteSettings(path: path, synchronous: .full, busyTimeout: busyTimeout)))
    }

    /// On a connection the caller keeps (the backend's writer), so migrating opens the file once.
    init(connection: SQLiteConnection) {
        self.location = SQLiteLocation(path: connection.settings.path)
        self.connection = connection
    }

    /// Each migration with whether the file has it. Creates nothing: a missing file has none.
    public func status() throws(BackendError) -> [(version: Int, name: String, applied: Bool)] {
        let version = try versionIfExists()
        return SQLiteSchema.migrations.enumerated().map { (index, migration) in (index + 1, migration.name, index + 1 <= version) }
    }

    /// The SQL of the migrations the file lacks, each followed by the version it sets. Creates nothing.
    public func pendingSQL() throws(BackendError) -> String {
        let version = try versionIfExists()
        return SQLiteSchema.migrations.enumerated().dropFirst(version).map { (index, migration) in
            "-- \(index + 1) \(migration.name)\n\(migration.sql)\nPRAGMA user_version = \(index + 1);\n"
        }.joined(separator: "\n")
    }

    /// Applies the missing migrations; returns their versions (empty when up to date). Sets the file's
    /// journal to write-ahead logging, which lets readers and one writer of several processes work at
    /// once, and which the file keeps.
    @discardableResult
    public func migrate() throws(BackendError) -> [Int] {
        try location.prepare()
        try connection.withStatements { statements throws(BackendError) in
            let mode = try statements.query("PRAGMA journal_mode = WAL").first?.first?.text ?? ""
            guard mode.lowercased() == "wal" else {
                throw BackendError(.server, "SQLite (\(location.path)): cannot switch the file to write-ahead logging (journal mode stays \(mode))")
            }
        }
        var applied: [Int] = []
        for (index, migration) in SQLiteSchema.migrations.enumerated() {
            let version = index + 1
            let ran = try connection.transaction { statements throws(BackendError) -> Bool in
                    let current = try statements.query("PRAGMA user_version").first?.first?.int ?? 0
                guard current < version else { return false }
                guard current == version - 1 else {
                    throw BackendError(.server, "SQLite (\(location.path)): the file is at schema version \(current), expected \(version - 1)")
                }
                try statements.execute(migration.sql)
                try statements.execute("PRAGMA user_version = \(version)")
                return true
            }
            if ran { applied.append(version) }
        }
        let version = try currentVersion()
        guard version <= SQLiteSchema.latest else {
            throw BackendError(
                .server,
                "SQLite (\(location.path)): the file is at schema version \(version), newer than this host knows (\(SQLiteSchema.latest)); "
                    + "run a newer jobhost")
        }
        return applied
    }

    /// The file's version; 0 for a file that does not exist, which is left so.
    private func versionIfExists() throws(BackendError) -> Int {
        guard FileManager.default.fileExists(atPath: location.path) else { return 0 }
        return try currentVersion()
    }

    func currentVersion() throws(BackendError) -> Int {
        try connection.withStatements { statements throws(BackendError) in
            return try statements.query("PRAGMA user_version").first?.first?.int ?? 0
        }
    }
}
