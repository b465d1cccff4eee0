import Foundation

/// How jobs taken back from a holder that is gone come back.
public enum ReclaimMode: String, Sendable, Equatable {
    /// Like an expired lease: the attempt stays counted, and a job on its last attempt goes dead. For
    /// jobs whose holder died while it may have been running them.
    case rescue
    /// Like a release: ready again at once, at the front of the line, the attempt not counted. For jobs
    /// the holder never started (fetched, then the holder died before it reported them).
    case release
}

/// A backend that records who holds each lease, so that the jobs of a holder known to be gone come back
/// at once rather than when their leases run out.
///
/// A backend is built with a lease owner (see `Backends.make`): every job it fetches records that id, plus
/// `/` and a number of its own per fetch call, in the job (`lease_owner`). Owner ids are
/// `<host name>#<instance>/<holder>`: a prefix up to `/` names one run of one host, the rest one holder
/// in it (a worker process, or the host's own threads).
public protocol LeaseReclaimer: Sendable {
    /// Takes back every job of `queue` still running under a lease whose owner id starts with
    /// `ownerPrefix` (the settled, rescued and re-fetched ones are not touched: their lease ended).
    /// One atomic step per job; safe on many hosts at once. The prefix is compared as plain text (no
    /// pattern); end it with `/` to name one run or holder exactly (`web-1#a/w1` also matches
    /// `web-1#a/w10/3`). An empty prefix, which would name every holder, is `.invalid`.
    /// - Returns: how many are ready again, and how many went dead (`rescue` on a last attempt).
    func reclaim(queue: String, leasedBy ownerPrefix: String, _ mode: ReclaimMode) throws(BackendError) -> (ready: Int, dead: Int)
}

/// One running `host run` as it records itself on a backend, under its `host.name`.
public struct HostRecord: Sendable, Equatable, Codable {
    /// `host.name`.
    public var name: String
    /// Random, new for every run of the host.
    public var instance: String
    /// Where the PID means something: the kernel's boot id (`/proc/sys/kernel/random/boot_id`) and the
    /// process's PID namespace (containers on one machine share the boot, not the PIDs).
    public var bootID: String
    /// The machine's own name, for messages.
    public var machine: String
    public var pid: Int32
    /// When the process started, in clock ticks since boot (`/proc/<pid>/stat`, field 22): tells a
    /// PID reused by another process apart.
    public var processStart: UInt64
    /// When the backend last heard from the host (the backend's clock); set by the backend.
    public var seenAt: Date?
    /// When this instance first claimed the name (the backend's clock), which a host does as it starts;
    /// set by the backend, kept while the same instance claims it again. nil in records written before
    /// backends kept it.
    public var startedAt: Date?

    public init(
        name: String, instance: String, bootID: String, machine: String, pid: Int32, processStart: UInt64, seenAt: Date? = nil,
        startedAt: Date? = nil
    ) {
        self.name = name
        self.instance = instance
        self.bootID = bootID
        self.machine = machine
        self.pid = pid
        self.processStart = processStart
        self.seenAt = seenAt
        self.startedAt = startedAt
    }
}

/// A backend that keeps one record per host name: how a host that starts learns whether another one
/// runs under its name, or whose jobs it may take back because that host is gone.
public protocol HostRegistry: Sendable {
    /// Records `record` under its name when the name is free, held by the same instance, held by a
    /// record seen `staleAfter` ago or longer, or held by exactly the instance `replacing` names (a
    /// holder the caller found gone: compare and swap, so a record another host put there meanwhile is
    /// never overwritten). One atomic step.
    /// - Returns: whether `record` is now the name's record, and the record that was there before
    ///   (replaced, or kept), if any.
    func claimHostName(_ record: HostRecord, staleAfter: Duration, replacing: String?) throws(BackendError)
        -> (claimed: Bool, previous: HostRecord?)

    /// Marks the record of `name` seen now, if `instance` still holds it.
    /// - Returns: false when another instance holds the name now (it took it over as stale).
    func refreshHostName(_ name: String, instance: String) throws(BackendError) -> Bool

    /// Removes the record of `name` if `instance` holds it: a clean stop.
    func releaseHostName(_ name: String, instance: String) throws(BackendError)

    /// Every host record, stale ones too (a host that died without a clean stop keeps its record until
    /// another run claims the name), by name.
    func hostRecords() throws(BackendError) -> [HostRecord]
}
