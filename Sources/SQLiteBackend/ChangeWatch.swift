import Backend
import Foundation

/// Tells the waiters of one process that the jobs file changed. SQLite has no notifications across
/// processes, so one waiter at a time polls `PRAGMA data_version` — a read of the shared WAL index, no
/// disk access — every ``interval`` on a connection of its own, and wakes every waiter when another
/// connection committed. Commits of this process wake them at once (``changed()``).
///
/// A waiter takes ``generation`` before it looks at the queue, then waits for a later one: a commit
/// after its look is either seen by the poll in progress or by the next one (the poll connection keeps
/// its last version), and bumps the generation then.
final class ChangeWatch: @unchecked Sendable {
    /// How often the polling waiter reads the version: the longest an idle host takes to see a job
    /// another process enqueued.
    static let interval = Duration.milliseconds(5)

    // NSCondition guards every field below; it is why the class is @unchecked Sendable.
    private let condition = NSCondition()
    private var current: UInt64 = 0
    private var polling = false
    private var nextPoll = ContinuousClock.now
    private var lastVersion: Int64?
    private let connection: SQLiteConnection

    init(settings: SQLiteSettings) {
        connection = SQLiteConnection(settings: settings)
    }

    var generation: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return current
    }

    /// Reads the version once, so that every commit from now on is seen as a change. Called before the
    /// first look of any waiter.
    func prime() throws(BackendError) {
        let version = try connection.dataVersion()
        condition.lock()
        if lastVersion == nil { lastVersion = version }
        condition.unlock()
    }

    /// This process committed something a waiter may be waiting for.
    func changed() {
        condition.lock()
        current &+= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until the generation passes `seen` or `deadline` comes. Returns whether it changed.
    func wait(after seen: UInt64, until deadline: ContinuousClock.Instant) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        var leading = false
        defer {
            if leading {
                // Someone else polls from now on.
                polling = false
                condition.broadcast()
            }
        }
        while current == seen {
            let now = ContinuousClock.now
            guard now < deadline else { return false }
            if !polling {
                polling = true
                leading = true
            }
            if leading {
                if now >= nextPoll {
                    nextPoll = now + Self.interval
                    condition.unlock()
                    let version = try? connection.dataVersion()
                    condition.lock()
                    // An unreadable version counts as a change: the waiter looks again, and learns why.
                    if version == nil || (lastVersion != nil && version != lastVersion) {
                        current &+= 1
                        condition.broadcast()
                    }
                    lastVersion = version
                    continue
                }
                _ = condition.wait(until: Self.date(min(nextPoll, deadline)))
            } else {
                _ = condition.wait(until: Self.date(deadline))
            }
        }
        return true
    }

    private static func date(_ instant: ContinuousClock.Instant) -> Date {
        let remaining = instant - ContinuousClock.now
        return Date(timeIntervalSinceNow: max(0, Double(remaining.components.seconds) + Double(remaining.components.attoseconds) / 1e18))
    }
}
