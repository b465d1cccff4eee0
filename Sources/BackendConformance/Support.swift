import Backend
import Durations
import Foundation
import Synchronization

/// Throws a ``ConformanceFailure`` with `message` unless `condition` holds.
func expect(
    _ condition: Bool, _ message: @autoclosure () -> String, fileID: StaticString = #fileID, line: UInt = #line
) throws(ConformanceFailure) {
    if !condition { throw ConformanceFailure(message(), fileID: fileID, line: line) }
}

/// Throws a ``ConformanceFailure`` naming `what`, the expected and the actual value unless they are equal.
func expectEqual<T: Equatable>(
    _ actual: T, _ expected: T, _ what: String, fileID: StaticString = #fileID, line: UInt = #line
) throws(ConformanceFailure) {
    try expect(actual == expected, "\(what): expected \(expected), got \(actual)", fileID: fileID, line: line)
}

/// Unwraps `value` or throws a ``ConformanceFailure`` with `message`.
func require<T>(
    _ value: T?, _ message: @autoclosure () -> String, fileID: StaticString = #fileID, line: UInt = #line
) throws(ConformanceFailure) -> T {
    guard let value else { throw ConformanceFailure(message(), fileID: fileID, line: line) }
    return value
}

/// A job with a small JSON payload that records `number`, so tests can tell jobs apart by payload too.
func sampleJob(
    _ queue: String, _ number: Int = 0, maxAttempts: Int = 3, delay: Duration = .zero, timeout: Duration? = nil,
    uniqueKey: String? = nil
) -> NewJob {
    NewJob(
        queue: queue, handler: "conformance.echo", payload: Data(#"{"n":\#(number)}"#.utf8), maxAttempts: maxAttempts,
        delay: delay, timeout: timeout, uniqueKey: uniqueKey)
}

/// Calls `body` every `interval` until it returns a value or `timeout` has passed; returns `nil` then.
/// Timing-dependent checks poll rather than sleep a fixed time, so a slow machine makes them slower, not
/// flaky.
func eventually<T>(
    within timeout: Duration, every interval: Duration = .milliseconds(20), _ body: () throws -> T?
) throws -> T? {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = try body() { return value }
        if ContinuousClock.now >= deadline { return nil }
        pause(interval)
    }
}

/// Blocks the calling thread (scenarios run on threads of their own, never the cooperative pool).
func pause(_ duration: Duration) {
    Thread.sleep(forTimeInterval: duration.seconds)
}

/// Fetches until the queue gives nothing more, settling nothing.
func fetchAll(_ backend: any JobBackend, _ queue: String, limit: Int = 100, lease: Duration = .seconds(60)) throws -> [LeasedJob] {
    var all: [LeasedJob] = []
    while true {
        let batch = try backend.fetch(queue: queue, limit: limit, lease: lease)
        if batch.isEmpty { return all }
        all += batch
    }
}

/// Runs `body(0)` … `body(count - 1)` at once, each on a thread of its own, and returns their results in
/// order, or throws the first error.
func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) throws -> [T] {
    let results = Results<T>()
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        Thread {
            let result = Result { try body(index) }
            results.values.withLock { $0[index] = result }
            group.leave()
        }.start()
    }
    group.wait()
    return try results.values.withLock { values in try (0..<count).map { try values[$0]!.get() } }
}

private final class Results<T: Sendable>: Sendable {
    let values = Mutex<[Int: Result<T, any Error>]>([:])
}

extension Duration {
    /// For messages: `123 ms`.
    var millisecondsText: String {
        "\(inMilliseconds) ms"
    }
}
