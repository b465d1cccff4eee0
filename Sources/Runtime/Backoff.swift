import HostConfig

extension RetryPolicy {
    /// The delay before the attempt after `attempt` failed: base · 2^(attempt−1) (or base, for fixed
    /// backoff), capped at `max`, then spread by ±jitter so that jobs failing together do not retry together.
    public func delay(afterAttempt attempt: Int, random: Double = Double.random(in: -1...1)) -> Duration {
        let cap = self.max.seconds
        let exponent = backoff == .fixed ? 0 : Swift.min(Swift.max(attempt - 1, 0), 62)
        let raw = Swift.min(base.seconds * Double(UInt64(1) << UInt64(exponent)), cap)
        let spread = raw * jitter * random
        let seconds = Swift.min(Swift.max(raw + spread, 0), cap)
        return .milliseconds(Int64(seconds * 1000))
    }
}
