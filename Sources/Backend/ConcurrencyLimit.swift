/// A cap on how many jobs sharing a key run at once: at most ``limit`` jobs of one queue carrying
/// ``key`` are leased at any moment, across every host of the backend.
///
/// A fetch that meets a job whose key is at its limit leaves it waiting, without counting an attempt,
/// and goes on to the jobs behind it. Every way a lease ends (settled done, retried or dead, released,
/// rescued after expiry, taken back from a host that is gone) frees the job's place in the same atomic
/// step, and the oldest job waiting for that key is next in line. The key belongs to the queue: jobs of
/// two queues never share a limit (on Redis a queue's keys must lie in one cluster slot).
public struct ConcurrencyLimit: Sendable, Equatable, Hashable {
    public var key: String
    /// At least 1.
    public var limit: Int

    public init(key: String, limit: Int = 1) {
        self.key = key
        self.limit = limit
    }

    /// The largest limit a job may carry: any real cap is far below it.
    public static let maxLimit = 1_000_000
    /// The longest key, in bytes.
    public static let maxKeyBytes = 200

    /// Throws `.invalid` naming the job unless the key is non-empty text of at most ``maxKeyBytes`` bytes
    /// and the limit is from 1 to ``maxLimit``.
    public func check(job id: String) throws(BackendError) {
        guard !key.isEmpty else { throw BackendError(.invalid, "job \(id) has an empty concurrency key") }
        guard key.utf8.count <= Self.maxKeyBytes else {
            throw BackendError(.invalid, "job \(id) has a concurrency key longer than \(Self.maxKeyBytes) bytes")
        }
        guard !key.utf8.contains(0) else { throw BackendError(.invalid, "job \(id) has a concurrency key holding a NUL character") }
        guard (1...Self.maxLimit).contains(limit) else {
            throw BackendError(
                .invalid, "job \(id) has concurrency limit \(limit) for key \(key); it must be from 1 to \(Self.maxLimit)")
        }
    }
}
