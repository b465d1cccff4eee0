import Synchronization

/// The lease owner ids one backend instance gives its fetch calls, and the fetch calls whose reply
/// never came: the bookkeeping behind ``LeaseReclaimer`` that both backends share.
///
/// Every fetch call gets an owner id of its own, `<leaseOwner>/<n>`, n counting the instance's fetch
/// calls from 1. A fetch whose reply is lost (the command timeout ran out, the connection broke) may
/// still have leased jobs on the server — a paused Redis runs the command when it resumes, and
/// PostgreSQL commits an autocommit statement before it sends the reply — and nobody would run them
/// until their leases expire, each losing an attempt. So such a fetch is remembered as an *orphan*,
/// and the instance's next fetch first takes back, with ``ReclaimMode/release``, the jobs still
/// leased to exactly that owner id (see ``reclaimOrphans(_:)``).
///
/// The server may run the lost fetch later than that next call (it was slow, not stopped), so an
/// orphan that gave back nothing is kept and tried again on later calls, until the lease it asked for
/// would have run out by the host's clock: from then on the jobs' own expiry and the rescue brings
/// them back in any case. An orphan whose reclaim gave jobs back is done: the fetch ran, and it runs
/// once.
///
/// Only an instance with a non-empty lease owner keeps orphans: with an empty one every instance's
/// owner ids are `/1`, `/2`, … and one could take back another's jobs.
public final class FetchOwners: Sendable {
    /// What the instance's owner ids start with (see ``LeaseReclaimer``).
    public let leaseOwner: String
    private let calls = Atomic<Int>(0)
    private let orphans = Mutex<[Orphan]>([])

    /// A fetch call whose reply never came.
    public struct Orphan: Sendable, Equatable {
        /// The queue it fetched from.
        public var queue: String
        /// Its exact owner id, `<leaseOwner>/<n>`.
        public var owner: String
        /// After this (the host's clock) its leases, if any, have run out by themselves.
        public var until: ContinuousClock.Instant
    }

    public init(leaseOwner: String) {
        self.leaseOwner = leaseOwner
    }

    /// The owner id for the next fetch call: `<leaseOwner>/<n>`, n = 1 for the instance's first call.
    public func next() -> String {
        let n = calls.wrappingAdd(1, ordering: .relaxed).newValue
        return "\(leaseOwner)/\(n)"
    }

    /// Records the fetch call that leased as `owner` for `lease` and failed with `error`. Only an error
    /// that may have lost the reply (``BackendError/Code/unavailable``: a timeout, a broken connection)
    /// makes it an orphan; any other error is an answer, and the fetch leased nothing.
    public func failed(queue: String, owner: String, lease: Duration, error: BackendError) {
        guard error.code == .unavailable, !leaseOwner.isEmpty else { return }
        let orphan = Orphan(queue: queue, owner: owner, until: .now + lease)
        orphans.withLock { $0.append(orphan) }
    }

    /// The orphans not yet taken back.
    public var pending: [Orphan] {
        orphans.withLock { $0 }
    }

    /// Takes back the jobs of every pending orphan: `reclaim(queue, owner)` must release the jobs of
    /// `queue` still running under exactly that owner id, and return how many. Orphans are taken out
    /// while this runs, so concurrent callers do not reclaim the same one twice; an orphan that gave
    /// nothing back is kept until its lease would have run out. A failing reclaim puts back the
    /// orphans not yet handled and throws.
    public func reclaimOrphans(_ reclaim: (_ queue: String, _ owner: String) throws(BackendError) -> Int) throws(BackendError) {
        let taken: [Orphan] = orphans.withLock { orphans in
            guard !orphans.isEmpty else { return [] }
            defer { orphans = [] }
            return orphans
        }
        guard !taken.isEmpty else { return }
        var kept: [Orphan] = []
        defer {
            if !kept.isEmpty { orphans.withLock { $0.append(contentsOf: kept) } }
        }
        for (index, orphan) in taken.enumerated() {
            let reclaimed: Int
            do throws(BackendError) {
                reclaimed = try reclaim(orphan.queue, orphan.owner)
            } catch {
                kept += taken[index...].filter { $0.until > .now }
                throw error
            }
            if reclaimed == 0, orphan.until > .now { kept.append(orphan) }
        }
    }
}
