import Backend
import Foundation
import Synchronization
import Threads

/// Runs a blocking call (a backend round trip) on a thread of its own, so the async code serving
/// HTTP never blocks Swift's cooperative pool, and gives up waiting after `timeout`.
/// - Returns: the call's result, or nil when it did not return in time (it still runs to its end).
public func blockingCall<Value: Sendable>(timeout: Duration, _ body: @escaping @Sendable () -> Value) async -> Value? {
    let once = ResumeOnce<Value>()
    return await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
        once.install(continuation)
        startThread(name: "jobhost.admin.call") { once.resume(body()) }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout.seconds) { once.resume(nil) }
    }
}

/// Resumes its continuation once: with the value, or with nil at the deadline, whichever comes first.
private final class ResumeOnce<Value: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<Value?, Never>?>(nil)

    func install(_ continuation: CheckedContinuation<Value?, Never>) {
        self.continuation.withLock { $0 = continuation }
    }

    func resume(_ value: Value?) {
        continuation.withLock { waiting in
            defer { waiting = nil }
            return waiting
        }?.resume(returning: value)
    }
}
