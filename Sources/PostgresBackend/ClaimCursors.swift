import Synchronization

/// Where this process's claims of each queue start looking, so they skip the dead entries at the
/// head of `jobs_claim`.
///
/// Every claim leaves the entries of the rows it took in `jobs_claim` until vacuum removes them, all
/// at the head of the queue's range, since claims take the oldest rows. A claim that starts at the
/// head walks them all: at 20,000 jobs/s that is thousands of index pages within seconds, and
/// throughput falls to a fraction until the next vacuum (docs/postgres.md has the figures). So a
/// claim starts at the run time of the newest row this process claimed (or the database's time when
/// it found nothing), less ``slack``: everything before that was taken, or locked by another claim,
/// when it looked.
///
/// Rows can still appear before that point: jobs released, retried without delay, rescued or retried
/// from dead (they keep their place in line), and jobs whose enqueuing transaction ran longer than
/// ``slack`` (their run time is the transaction's start), or rows another claim had locked and then
/// rolled back. A full scan from the head every ``fullScanInterval`` finds those, first in line; more
/// rarely when full scans are slow (they may take at most ``fullScanBudget`` of the time: a long
/// transaction elsewhere can keep vacuum from removing dead entries for hours), but at least every
/// ``longestPause``. When this process itself puts a job back (release, retry without delay, rescue,
/// retry from dead), its next claim is a full scan, as soon as the budget allows. Correctness never
/// depends on the cursor; only how soon such a job is seen does.
final class ClaimCursors: Sendable {
    /// In µs. Covers enqueuing transactions that commit shortly after a claim passed their run time
    /// (a batch enqueue of a thousand jobs takes about 20 ms); the dead entries within it cost a claim
    /// a few index pages at 30,000 jobs/s.
    static let slack: Int64 = 100_000
    static let fullScanInterval = Duration.seconds(1)
    /// Full scans may take at most this share of the time…
    static let fullScanBudget = 0.05
    /// …unless that would leave a put-back job waiting longer than this.
    static let longestPause = Duration.seconds(5)

    struct Scan: Sendable {
        /// The lowest run time to look at, µs since the epoch; `nil`: from the head.
        let from: Int64?
    }

    private struct Cursor {
        var runAt: Int64
        var nextFullScan: ContinuousClock.Instant
        /// The earliest the next full scan may start within the budget.
        var earliestFullScan: ContinuousClock.Instant
    }

    private let cursors = Mutex<[String: Cursor]>([:])

    func scan(_ queue: String) -> Scan {
        cursors.withLock { cursors in
            guard let cursor = cursors[queue], ContinuousClock.now < cursor.nextFullScan else { return Scan(from: nil) }
            return Scan(from: cursor.runAt - Self.slack)
        }
    }

    /// After a claim: the newest run time it took, or the database's time when it took nothing.
    func record(_ queue: String, scan: Scan, lastClaimed: Int64?, databaseNow: Int64, took: Duration) {
        let position = lastClaimed ?? databaseNow
        cursors.withLock { cursors in
            if scan.from == nil {
                let now = ContinuousClock.now
                let cost = min(took * (1 / Self.fullScanBudget), Self.longestPause)
                cursors[queue] = Cursor(runAt: position, nextFullScan: now + max(Self.fullScanInterval, cost), earliestFullScan: now + cost)
            } else if var cursor = cursors[queue] {
                // Claims of several threads finish in any order; each position is safe, the highest skips most.
                cursor.runAt = max(cursor.runAt, position)
                cursors[queue] = cursor
            }
        }
    }

    /// After this process put jobs of `queue` back in line: the next claim looks from the head.
    func rewind(_ queue: String) {
        cursors.withLock { cursors in
            guard var cursor = cursors[queue] else { return }
            cursor.nextFullScan = min(cursor.nextFullScan, cursor.earliestFullScan)
            cursors[queue] = cursor
        }
    }
}
