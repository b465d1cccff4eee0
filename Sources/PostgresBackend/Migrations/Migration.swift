import Backend

/// The PostgreSQL schema that holds one installation's tables and functions (`jobhost` by default):
/// its validated name and the identifiers derived from it.
struct PGSchema: Sendable, Equatable {
    let name: String

    /// Lowercase letters, digits and `_`, starting with a letter or `_`, at most 48 characters, not
    /// `pg_…` (reserved by PostgreSQL). Lowercase because an unquoted name in a hand-written query
    /// folds to lowercase: `jobhost.jobs` then means what the operator expects. The length leaves room
    /// for the suffixes derived from it within PostgreSQL's 63-byte identifiers.
    init(_ name: String) throws(BackendError) {
        let valid = !name.isEmpty && name.utf8.count <= 48 && !name.hasPrefix("pg_")
            && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
            && !(name.utf8.first! >= 0x30 && name.utf8.first! <= 0x39)
        guard valid else {
            throw BackendError(
                .invalid,
                "the PostgreSQL schema name \"\(name)\" is not valid: use 1 to 48 lowercase letters, digits and _, "
                    + "starting with a letter or _, and not pg_…")
        }
        self.name = name
    }

    /// The schema as a quoted identifier, `"jobhost"`.
    var quoted: String { "\"\(name)\"" }

    /// `"jobhost".object`.
    func qualified(_ object: String) -> String { "\(quoted).\(object)" }

    /// The channel jobs are announced on: one per schema, the queue's name as the payload.
    var channel: String { "\(name).wake" }

    /// ``channel`` as an SQL string literal (the name holds no quote, as validated).
    var channelLiteral: String { "'\(channel)'" }

    /// The channel resumed queues are announced on, the queue's name as the payload: hosts waiting
    /// on a paused queue listen here, where enqueues do not wake them.
    var resumeChannel: String { "\(name).resume" }

    /// The first key of the advisory locks on a queue's wake-ups (migration 13): enqueues hold them
    /// shared until they commit, a waiting host tries them exclusively. The second key is
    /// `hashtext(queue)`; two queues of one hash only share a lock, which costs time, never a wake-up.
    var wakeLockClass: String { "hashtext(\(channelLiteral))" }
}

/// One step of the schema: applied once, in version order, inside a transaction, and recorded in
/// `schema_migrations`. A migration is never edited once released; a change is a new migration.
struct Migration: Sendable {
    let version: Int
    let name: String
    /// The statements, for the given schema; every object is schema-qualified, so the session's
    /// `search_path` does not matter.
    let sql: @Sendable (PGSchema) -> String

    /// Every migration, in version order.
    static let all: [Migration] = [
        .jobs, .scheduleFires, .crashes, .switches, .enqueueRunAtCheck, .leaseOwners, .results, .attempts, .fireHistory, .runStreaks, .concurrency, .routes,
        .waiters,
    ]

    /// The version this code needs: the backend refuses to run against an older schema.
    static var latest: Int { all.last?.version ?? 0 }
}
