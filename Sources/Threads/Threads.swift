import Durations
import Foundation

/// Runs `body` on a new thread the host owns — never Swift's cooperative pool, which has as many
/// threads as cores: handlers and backend clients block.
@discardableResult
public func startThread(name: String, stackSize: Int = 1 << 21, _ body: @escaping @Sendable () -> Void) -> Thread {
    let thread = Thread(block: body)
    thread.name = name
    thread.stackSize = stackSize
    thread.start()
    return thread
}

/// A latch a finished thread opens, so shutdown can wait for it with a deadline.
public final class Completion: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)

    public init() {}

    public func finish() { semaphore.signal() }

    /// True if finished before `deadline`.
    @discardableResult
    public func wait(until deadline: ContinuousClock.Instant) -> Bool {
        let remaining = max(ContinuousClock.now.duration(to: deadline).seconds, 0)
        let finished = semaphore.wait(timeout: .now() + remaining) == .success
        if finished { semaphore.signal() }  // stays open for later waiters
        return finished
    }

    /// Waits as long as it takes.
    public func wait() {
        semaphore.wait()
        semaphore.signal()
    }
}

/// Runs blocking `body` on a thread of its own and suspends the caller until it returns, so async code
/// never parks a thread of the cooperative pool in a blocking call.
public func onOwnThread<T: Sendable>(name: String, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        startThread(name: name) { continuation.resume(returning: body()) }
    }
}
