import Durations
import HostConfig
import Threads

extension RetryPolicy {
    /// The delay before the attempt after `attempt` failed: the policy's backoff (base · 2^(attempt−1),
    /// or base every time for fixed backoff, capped at `max`), then spread by ±jitter so that jobs
    /// failing together do not retry together.
    public func delay(afterAttempt attempt: Int, random: Double = Double.random(in: -1...1)) -> Duration {
        let raw = Threads.Backoff(first: base, max: max).delay(afterFailures: backoff == .fixed ? 1 : Swift.max(attempt, 1)).seconds
        let spread = raw * jitter * random
        let seconds = Swift.min(Swift.max(raw + spread, 0), self.max.seconds)
        return .milliseconds(Int64(seconds * 1000))
    }
}
