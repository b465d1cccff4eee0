import Backend
import Foundation
import JobHostTesting
import Logging
import PostgresBackend

/// One private PostgreSQL server for the whole test process, started on first use: a server costs
/// about a second to start, and every test isolates itself in a schema (or database) of its own.
/// The harness stops it when the process exits.
actor SharedPostgres {
    static let shared = SharedPostgres()
    private var starting: Task<PostgresServer, any Error>?

    func server() async throws -> PostgresServer {
        if let starting { return try await starting.value }
        let task = Task { try await PostgresServer.start() }
        starting = task
        return try await task.value
    }

    static var server: PostgresServer {
        get async throws { try await shared.server() }
    }
}

/// Blocking backend calls run on a thread of their own, off Swift's cooperative pool.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T { try await onDedicatedThread(work) }

let testLogger: Logger = {
    var logger = Logger(label: "PostgresBackendTests")
    logger.logLevel = .warning
    return logger
}()

/// A schema name unique to this test, from `name` (lowercased, other characters dropped) and a random
/// suffix, so reruns and parallel tests never meet.
func freshSchema(_ name: String) -> String {
    let cleaned = name.lowercased().unicodeScalars.filter { CharacterSet.lowercaseLetters.contains($0) || CharacterSet.decimalDigits.contains($0) }
    return "t_" + String(String.UnicodeScalarView(cleaned).prefix(30)) + "_" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
}

/// Migrates `schema` on `server` and returns a backend for it, with short timeouts so failure tests
/// finish quickly.
/// How long the suites' backends wait for a connection: every suite shares one server and runs at once, and
/// on a loaded 2-core machine a new connection has been seen to take more than 5 s.
let testConnectTimeout = Duration.seconds(30)

func makeBackend(_ server: PostgresServer, schema: String, url: String? = nil, poolSize: Int = 4) async throws -> PostgresBackend {
    let url = url ?? server.url
    _ = try await onThread {
        try PostgresMigrator(url: url, schema: schema, connectTimeout: testConnectTimeout, logger: testLogger).migrate()
    }
    return PostgresBackend(url: url, schema: schema, poolSize: poolSize, connectTimeout: testConnectTimeout, commandTimeout: .seconds(20), logger: testLogger)
}

/// Another backend instance on a schema ``makeBackend(_:schema:url:poolSize:)`` migrated, whose fetches
/// record `leaseOwner`.
func ownedBackend(
    _ server: PostgresServer, schema: String, leaseOwner: String, url: String? = nil, poolSize: Int = 2, commandTimeout: Duration = .seconds(20)
) -> PostgresBackend {
    PostgresBackend(
        url: url ?? server.url, schema: schema, poolSize: poolSize, connectTimeout: testConnectTimeout, commandTimeout: commandTimeout,
        logger: testLogger, leaseOwner: leaseOwner)
}

/// A job with a small JSON payload.
func sampleJob(_ queue: String, _ number: Int = 0, delay: Duration = .zero, uniqueKey: String? = nil) -> NewJob {
    NewJob(queue: queue, handler: "test.echo", payload: Data(#"{"n":\#(number)}"#.utf8), maxAttempts: 3, delay: delay, uniqueKey: uniqueKey)
}

