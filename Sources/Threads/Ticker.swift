import Durations
import Foundation
import Synchronization

/// The pace of a loop on a thread of its own: sleeps between passes, and wakes at once when stopped,
/// so shutdown never waits out a sleep.
public final class Ticker: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)

    public init() {}

    public var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// Sleeps `interval` unless stopped meanwhile; false once stopped.
    @discardableResult
    public func sleep(_ interval: Duration) -> Bool {
        guard !isStopped else { return false }
        if wake.wait(timeout: .now() + max(interval.seconds, 0)) == .success {
            wake.signal()  // every other sleeper wakes too
            return false
        }
        return !isStopped
    }

    /// Runs `pass` every `interval` until stopped (the first pass at once).
    public func repeatEvery(_ interval: Duration, _ pass: () -> Void) {
        while !isStopped {
            pass()
            sleep(interval)
        }
    }

    public func stop() {
        if !stopped.exchange(true, ordering: .acquiringAndReleasing) { wake.signal() }
    }
}
