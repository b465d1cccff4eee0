import Durations

/// Delays that double after each failure in a row, from `first` up to `max`: how the host waits before
/// trying a server, a restart or a retry again.
public struct Backoff: Sendable, Equatable {
    public var first: Duration
    public var max: Duration

    public init(first: Duration, max: Duration) {
        self.first = first
        self.max = max
    }

    /// The delay after `failures` failures in a row: zero for none, `first` after one, doubling since.
    public func delay(afterFailures failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        let doublings = Swift.min(failures - 1, 62)
        let raw = first.seconds * Double(UInt64(1) << UInt64(doublings))
        return .milliseconds(Int64(Swift.min(raw, max.seconds) * 1000))
    }
}
