import Foundation

/// Counts the jobs a queue holds (fetched, running, or finished and not yet recorded) against its
/// limit, so the fetcher leases no more than the slots can start soon. The limit follows the pace of
/// the queue (``FetchAhead``).
final class CapacityGate: @unchecked Sendable {
    // Safe: `held` and `open` are only touched with `condition` locked.
    private let condition = NSCondition()
    private var limit: Int
    private var held = 0
    private var open = true

    init(limit: Int) { self.limit = limit }

    /// Waits until at least one job fits, then returns how many do; 0 once closed.
    func waitForRoom() -> Int {
        condition.lock()
        defer { condition.unlock() }
        while open && held >= limit { condition.wait() }
        return open ? limit - held : 0
    }

    func take(_ count: Int) {
        condition.lock()
        held += count
        condition.unlock()
    }

    func give(_ count: Int = 1) {
        condition.lock()
        held -= count
        condition.unlock()
        condition.signal()
    }

    func setLimit(_ newLimit: Int) {
        condition.lock()
        limit = newLimit
        condition.unlock()
        condition.signal()
    }

    func close() {
        condition.lock()
        open = false
        condition.unlock()
        condition.broadcast()
    }
}
