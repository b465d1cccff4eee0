import Backend
import Foundation
import Synchronization

/// A condition a test waited for did not come true within its bound.
///
/// Thrown rather than returned: a `Bool` a caller forgets to check lets a test go on as though
/// the awaited event had happened. The message names what was awaited, how long, and the last
/// error the condition threw (if any), so a failing test explains itself without a rerun.
public struct WaitTimedOut: Error, CustomStringConvertible, Sendable {
    /// What the test was waiting for, in the test's own words.
    public let what: String
    /// How long it waited.
    public let timeout: Duration
    /// The last error the condition threw while being polled, if it threw at all.
    public let lastError: String?
    /// More context the caller attached: a host's log, the state it saw last.
    public let details: String?

    public init(what: String, timeout: Duration, lastError: String? = nil, details: String? = nil) {
        self.what = what
        self.timeout = timeout
        self.lastError = lastError
        self.details = details
    }

    public var description: String {
        var text = "timed out after \(timeout) waiting for: \(what)"
        if let lastError { text += "\n(the condition last threw: \(lastError))" }
        if let details, !details.isEmpty { text += "\n\(details)" }
        return text
    }
}

/// Waits until `condition` holds, polling it, and throws ``WaitTimedOut`` naming `what` if it
/// does not hold within `timeout`.
///
/// The timeout is a bound on waiting, never a measurement: it is generous (a loaded 2-core
/// machine running other builds must not fail a test), and a test that needs to know something
/// happened promptly asserts on the event that proves it, not on the time it took.
///
/// An error thrown by `condition` counts as "not yet" (a backend restarting, a file not yet
/// written): polling goes on, and the last such error is quoted if the wait runs out.
///
/// - Parameters:
///   - what: what is awaited, as the failure should name it ("every job ran").
///   - timeout: how long to wait at most.
///   - interval: how long to sleep between polls.
///   - details: evaluated only when the wait runs out, for context to add to the error (a log).
///   - condition: polled until it returns `true`.
public func waitUntil(
    _ what: String,
    timeout: Duration = .seconds(60),
    interval: Duration = .milliseconds(25),
    details: () -> String = { "" },
    isolation: isolated (any Actor)? = #isolation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    var lastError: (any Error)?
    while true {
        do {
            if try await condition() { return }
            lastError = nil
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            lastError = error
        }
        if ContinuousClock.now >= deadline { break }
        try await Task.sleep(for: interval)
    }
    throw WaitTimedOut(what: what, timeout: timeout, lastError: lastError.map { "\($0)" }, details: details())
}

/// The result of `operation`, or ``WaitTimedOut`` naming `what` if it has not finished within
/// `timeout`.
///
/// For waits on something that cannot be cancelled (a blocking call on a thread of its own): the
/// test fails with a clear message instead of hanging, and the operation is left to finish on
/// its own. A bound on waiting, never a measurement: assert on what the operation returned.
public func withinBound<T: Sendable>(
    _ what: String, timeout: Duration = .seconds(60), _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let once = FirstResult<T>()
    return try await withCheckedThrowingContinuation { continuation in
        once.install(continuation)
        Task {
            do { once.resume(with: .success(try await operation())) } catch { once.resume(with: .failure(error)) }
        }
        Task {
            try? await Task.sleep(for: timeout)
            once.resume(with: .failure(WaitTimedOut(what: what, timeout: timeout)))
        }
    }
}

/// Resumes its continuation once, with whichever result comes first.
private final class FirstResult<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation.withLock { $0 = continuation }
    }

    func resume(with result: Result<T, any Error>) {
        continuation.withLock { waiting in
            defer { waiting = nil }
            return waiting
        }?.resume(with: result)
    }
}

/// The error a blocking backend call threw, nil if it returned, run on a thread of its own. Any other
/// error than a ``BackendError`` is rethrown: a backend throws nothing else. A call that never returns
/// fails the test after a generous bound instead of hanging it.
public func failure(of body: @escaping @Sendable () throws -> Void) async throws -> BackendError? {
    try await withinBound("the backend call to return") {
        try await onDedicatedThread {
            do {
                try body()
                return nil
            } catch let error as BackendError {
                return error
            }
        }
    }
}
