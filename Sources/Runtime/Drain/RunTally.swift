import HostDomain
import Synchronization

/// What the jobs of one `host run --once` came to: every finished run counted by its result, then
/// passed on to the sink that would have had it anyway (metrics, health, alerts).
public final class RunTally: JobEventSink {
    /// Runs by result. A job retried and run again within the drain counts once per run.
    public struct Counts: Sendable, Equatable, Encodable {
        public var done = 0
        /// Failed an attempt; runs again after backoff (not waited for).
        public var retried = 0
        /// Failed for good: attempts used up, discarded, or a poison job.
        public var dead = 0

        public var ran: Int { done + retried + dead }

        public init() {}

        enum CodingKeys: String, CodingKey { case ran, done, retried, dead }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(ran, forKey: .ran)
            try container.encode(done, forKey: .done)
            try container.encode(retried, forKey: .retried)
            try container.encode(dead, forKey: .dead)
        }
    }

    private let state = Mutex(Counts())
    private let next: (any JobEventSink)?

    public init(forwardingTo next: (any JobEventSink)? = nil) {
        self.next = next
    }

    public func finished(_ jobs: [FinishedJob]) {
        state.withLock { counts in
            for job in jobs {
                switch job.result {
                case .succeeded: counts.done += 1
                case .retried: counts.retried += 1
                case .dead: counts.dead += 1
                }
            }
        }
        next?.finished(jobs)
    }

    public var counts: Counts { state.withLock { $0 } }
}
