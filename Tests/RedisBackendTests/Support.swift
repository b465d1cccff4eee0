import Backend
import Foundation
import JobHostTesting
import Logging
import RedisBackend

/// Blocking backend calls run on a thread of their own, off Swift's cooperative pool.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T { try await onDedicatedThread(work) }

/// A backend on `server` with short timeouts, so failure tests finish quickly.
func makeBackend(
    _ server: RedisServer, url: String? = nil, prefix: String = "jh", commandTimeout: Duration = .seconds(5), poolSize: Int = 8,
    leaseOwner: String = ""
) -> RedisBackend {
    RedisBackend(
        url: url ?? server.url, keyPrefix: prefix, connectTimeout: .seconds(2), commandTimeout: commandTimeout, poolSize: poolSize,
        logger: Logger(label: "RedisBackendTests"), leaseOwner: leaseOwner)
}

/// A job with a small JSON payload.
func sampleJob(_ queue: String, _ number: Int = 0, delay: Duration = .zero, uniqueKey: String? = nil) -> NewJob {
    NewJob(queue: queue, handler: "test.echo", payload: Data(#"{"n":\#(number)}"#.utf8), maxAttempts: 3, delay: delay, uniqueKey: uniqueKey)
}

/// `redis-cli` against `server`; fails the test on a non-zero exit.
func redisCLI(_ server: RedisServer, _ arguments: [String], database: Int = 0) async throws -> String {
    let output = try await ChildProcess.run(
        "redis-cli", ["-p", String(server.port), "-n", String(database)] + arguments, timeout: .seconds(20))
    guard output.status == 0 else { throw CLIFailure(arguments: arguments, output: output) }
    return output.stdout
}

struct CLIFailure: Error, CustomStringConvertible {
    let arguments: [String]
    let output: ChildProcess.Output
    var description: String { "redis-cli \(arguments.joined(separator: " ")) exited \(output.status): \(output.stderr)" }
}

