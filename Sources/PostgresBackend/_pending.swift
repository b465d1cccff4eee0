// Placeholder until the PostgreSQL backend lands; never committed.
import Backend
import Foundation
import Logging
public struct MigrationStatus: Sendable { public let version: Int; public let name: String; public let appliedAt: Date? }
public struct PostgresMigrator: Sendable {
    public init(url: String, schema: String, connectTimeout: Duration, logger: Logger) {}
    public func status() throws(BackendError) -> [MigrationStatus] { [] }
    public func pendingSQL() throws(BackendError) -> String { "" }
    @discardableResult public func migrate() throws(BackendError) -> [Int] { [] }
}
public final class PostgresBackend: JobBackend {
    public init(url: String, schema: String, poolSize: Int, connectTimeout: Duration, logger: Logger) {}
    public func enqueue(_ jobs: [NewJob]) throws(BackendError) -> [String] { throw BackendError(.unavailable, "pending") }
    public func fetch(queue: String, limit: Int, lease: Duration) throws(BackendError) -> [LeasedJob] { throw BackendError(.unavailable, "pending") }
    public func waitForWork(queue: String, timeout: Duration) throws(BackendError) {}
    public func settle(_ settlements: [(Lease, Settlement)]) throws(BackendError) -> [Bool] { [] }
    public func extend(_ leases: [Lease], by lease: Duration) throws(BackendError) -> [Bool] { [] }
    public func rescueExpired(queue: String, limit: Int) throws(BackendError) -> (rescued: Int, dead: Int) { (0, 0) }
    public func prune(queue: String, retention: Duration, limit: Int) throws(BackendError) -> Int { 0 }
    public func stats(queue: String) throws(BackendError) -> QueueStats { throw BackendError(.unavailable, "pending") }
    public func list(queue: String, state: JobState, offset: Int, limit: Int) throws(BackendError) -> [JobInfo] { [] }
    public func job(queue: String, id: String) throws(BackendError) -> JobInfo? { nil }
    public func retryDead(queue: String, id: String) throws(BackendError) -> Bool { false }
    public func discardDead(queue: String, id: String) throws(BackendError) -> Bool { false }
    public func ping() throws(BackendError) {}
}
