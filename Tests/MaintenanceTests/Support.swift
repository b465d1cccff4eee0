import Backend
import Foundation
import JobHostTesting
import Logging
import PostgresBackend
import RedisBackend
import SQLiteBackend
import Testing

/// The backends every chore is tested against.
enum BackendKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case redis, postgres, sqlite
    var testDescription: String { rawValue }
}

let quiet: Logger = {
    var logger = Logger(label: "MaintenanceTests")
    logger.logLevel = .critical
    return logger
}()

/// Runs `body` with a backend of `kind` on a private server (or SQLite file) of its own, removed afterwards.
func withBackend<T>(_ kind: BackendKind, _ body: (any JobBackend) async throws -> T) async throws -> T {
    switch kind {
    case .redis:
        return try await withRedis { server in
            try await body(RedisBackend(url: server.url, keyPrefix: "m", connectTimeout: .seconds(2), logger: quiet))
        }
    case .postgres:
        return try await withPostgres { server in
            _ = try await onThread {
                try PostgresMigrator(url: server.url, schema: "jobhost", connectTimeout: .seconds(30), logger: quiet).migrate()
            }
            return try await body(
                PostgresBackend(url: server.url, schema: "jobhost", poolSize: 2, connectTimeout: .seconds(30), logger: quiet))
        }
    case .sqlite:
        let directory = try TemporaryDirectory.create(prefix: "jobhost-maintenance-")
        defer { try? directory.remove() }
        return try await body(SQLiteBackend(path: directory.path + "/jobs.sqlite", logger: quiet))
    }
}

/// Blocking backend calls run on a thread of their own, off Swift's cooperative pool.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T { try await onDedicatedThread(work) }

/// One job enqueued on `queue` and leased for `lease`: running, under a lease that expires then.
func leasedJob(_ backend: any JobBackend, queue: String, maxAttempts: Int = 3, lease: Duration) async throws -> LeasedJob {
    try await onThread {
        _ = try backend.enqueue([NewJob(queue: queue, handler: "test.echo", payload: Data("{}".utf8), maxAttempts: maxAttempts)])
        let jobs = try backend.fetch(queue: queue, limit: 1, lease: lease)
        guard jobs.count == 1 else { throw SetupFailure(what: "fetched \(jobs.count) jobs from \(queue)") }
        return jobs[0]
    }
}

struct SetupFailure: Error, CustomStringConvertible {
    let what: String
    var description: String { what }
}

/// Lets `duration` pass on the servers' clocks too (they run on this machine).
func pass(_ duration: Duration) async throws { try await Task.sleep(for: duration) }
