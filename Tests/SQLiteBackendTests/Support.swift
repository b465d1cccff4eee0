import Backend
import Foundation
import JobHostTesting
import Logging

@testable import SQLiteBackend

/// Blocking backend calls run on a thread of their own, off Swift's cooperative pool.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T { try await onDedicatedThread(work) }

let testLogger: Logger = {
    var logger = Logger(label: "SQLiteBackendTests")
    logger.logLevel = .critical
    return logger
}()

/// A fresh jobs file in a private directory for `body`, removed afterwards; `make` builds more backend
/// instances on the same file (as other processes of a host would have).
func withSQLite(
    _ body: @Sendable (_ path: String, _ make: @escaping @Sendable (_ leaseOwner: String) -> SQLiteBackend) async throws -> Void
) async throws {
    let directory = try TemporaryDirectory.create(prefix: "jobhost-sqlite-")
    defer { try? directory.remove() }
    let path = directory.path + "/jobs.sqlite"
    try await body(path) { owner in SQLiteBackend(path: path, busyTimeout: .seconds(20), logger: testLogger, leaseOwner: owner) }
}

/// A job with a small JSON payload.
func sampleJob(_ queue: String, _ number: Int = 0, delay: Duration = .zero, uniqueKey: String? = nil) -> NewJob {
    NewJob(queue: queue, handler: "test.echo", payload: Data(#"{"n":\#(number)}"#.utf8), maxAttempts: 3, delay: delay, uniqueKey: uniqueKey)
}
