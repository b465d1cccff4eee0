import Backend
import Foundation
import Glibc

/// Tells the waiters of one process that the jobs file changed. SQLite has no notifications across
/// processes, so one waiter at a time watches on behalf of all: it reads `PRAGMA data_version` — the
/// shared WAL index, no disk access — on a connection of its own whenever the write-ahead log is
/// written (inotify on `<file>-wal`), and at least every ``fallbackInterval``; when another connection
/// committed, every waiter wakes. Without inotify (a filesystem that does not support it) it reads the
/// version every ``pollInterval`` instead. Commits of this process wake its waiters at once
/// (``changed()``).
///
/// A waiter takes ``generation`` before it looks at the queue, then waits for a later one: a commit
/// after its look is seen by the read in progress or the next one (the watch connection keeps its last
/// version, and inotify queues the writes that happen between two reads).
final class ChangeWatch: @unchecked Sendable {
    /// Without inotify: how often the watching waiter reads the version.
    static let pollInterval = Duration.milliseconds(5)
    /// With inotify: a read at least this often all the same, should an event be missed.
    static let fallbackInterval = Duration.milliseconds(250)
    /// With inotify: after a write that was not yet a commit, read again this often, for
    /// ``commitWindow``. A commit writes its last frame (the event), syncs, and only then publishes
    /// itself in the shared-memory index, which inotify does not see.
    static let commitPollInterval = Duration.milliseconds(1)
    static let commitWindow = Duration.milliseconds(100)

    // NSCondition guards every field below; it is why the class is @unchecked Sendable.
    private let condition = NSCondition()
    private var current: UInt64 = 0
    private var watching = false
    private var nextRead = ContinuousClock.now
    private var lastVersion: Int64?
    /// Until when a commit may be on its way (a write was seen, no new version yet).
    private var commitExpectedUntil = ContinuousClock.now
    private var log: WriteAheadLogEvents?
    private let connection: SQLiteConnection

    init(settings: SQLiteSettings) {
        connection = SQLiteConnection(settings: settings)
    }

    /// Starts watching: reads the version once, so that every commit from now on is a change. Called
    /// before the first look of any waiter, once the file is migrated.
    func prime() throws(BackendError) {
        // The first read creates the log if no other connection holds it open; the watch needs the file.
        _ = try connection.dataVersion()
        let events = WriteAheadLogEvents(path: connection.settings.path + "-wal")
        let version = try connection.dataVersion()
        condition.lock()
        if lastVersion == nil {
            lastVersion = version
            log = events
        }
        condition.unlock()
    }

    var generation: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return current
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
                // Another waiter watches from now on.
                watching = false
                condition.broadcast()
            }
        }
        while current == seen {
            let now = ContinuousClock.now
            guard now < deadline else { return false }
            if !watching {
                watching = true
                leading = true
            }
            guard leading else {
                _ = condition.wait(until: Self.date(deadline))
                continue
            }
            if let log {
                let interval = now < commitExpectedUntil ? Self.commitPollInterval : Self.fallbackInterval
                // Blocks outside the lock: the other waiters and changed() go on meanwhile.
                condition.unlock()
                let written = log.wait(until: min(deadline, now + interval))
                let version = try? connection.dataVersion()
                condition.lock()
                if written, version == lastVersion { commitExpectedUntil = ContinuousClock.now + Self.commitWindow }
                record(version)
            } else if now >= nextRead {
                nextRead = now + Self.pollInterval
                condition.unlock()
                let version = try? connection.dataVersion()
                condition.lock()
                record(version)
            } else {
                _ = condition.wait(until: Self.date(min(nextRead, deadline)))
            }
        }
        return true
    }

    /// After a read of the version (nil: it could not be read), with the lock held. An unreadable
    /// version counts as a change: the waiter looks again, and learns why.
    private func record(_ version: Int64?) {
        if version == nil || version != lastVersion {
            current &+= 1
            condition.broadcast()
        }
        lastVersion = version
    }

    private static func date(_ instant: ContinuousClock.Instant) -> Date {
        let remaining = instant - ContinuousClock.now
        return Date(timeIntervalSinceNow: max(0, Double(remaining.components.seconds) + Double(remaining.components.attoseconds) / 1e18))
    }
}

/// Writes to the write-ahead log, through inotify: every commit of every process writes the log, so an
/// event means "look now". Written over the system calls directly: no package on the mirror wraps
/// inotify, and this needs one watch and a poll.
final class WriteAheadLogEvents: @unchecked Sendable {
    // Immutable after init; the descriptor is only read and polled. Used by one thread at a time (the
    // watching waiter), which ChangeWatch ensures.
    private let descriptor: Int32

    /// Nil when inotify cannot watch the file (not supported there, or the file is missing).
    init?(path: String) {
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { return nil }
        guard inotify_add_watch(descriptor, path, UInt32(IN_MODIFY)) >= 0 else {
            close(descriptor)
            return nil
        }
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// Blocks until the log is written or `deadline` comes, then drains the events. Returns whether
    /// the log was written.
    @discardableResult
    func wait(until deadline: ContinuousClock.Instant) -> Bool {
        let remaining = deadline - ContinuousClock.now
        // Rounded up: a wait of 0 ms for a deadline half a millisecond away would spin.
        let milliseconds = max(0, remaining.components.seconds * 1000 + (remaining.components.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&request, 1, Int32(clamping: milliseconds)) > 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 {}
        return true
    }
}
