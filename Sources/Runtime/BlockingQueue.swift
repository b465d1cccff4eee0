import Foundation

/// A FIFO that threads block on: the hand-off between a queue's fetcher, its worker slots and its
/// settler. Swift concurrency has no blocking primitive by design, and these threads must block
/// (they run handlers and C clients), so this wraps a condition variable.
///
/// Waking a thread costs more than a no-op job. So a push wakes one waiting thread, and only when
/// none is on its way already; each thread that wakes and takes an element wakes the next one if
/// elements are still left. Threads that are running meanwhile take elements without sleeping, so a
/// batch of quick jobs wakes few threads, and a batch of slow ones still starts on every idle slot, one
/// wake-up after another.
final class BlockingQueue<Element: Sendable>: @unchecked Sendable {
    // Safe: every stored property is only touched with `condition` locked.
    private let condition = NSCondition()
    private var items: [Element] = []
    private var head = 0
    private var closed = false
    /// Threads inside `wait`, woken or not.
    private var waiting = 0
    /// Signals sent that no thread has returned from `wait` for yet: threads on their way.
    private var waking = 0

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count - head
    }

    /// Threads waiting for an element now.
    var waiters: Int {
        condition.lock()
        defer { condition.unlock() }
        return waiting
    }

    func push(_ element: Element) {
        condition.lock()
        items.append(element)
        let wake = waking == 0 && wakeOne()
        condition.unlock()
        if wake { condition.signal() }
    }

    func push(contentsOf elements: [Element]) {
        guard !elements.isEmpty else { return }
        condition.lock()
        items.append(contentsOf: elements)
        let wake = waking == 0 && wakeOne()
        condition.unlock()
        if wake { condition.signal() }
    }

    /// The next element, waiting for one; nil once the queue is closed and empty.
    func pop() -> Element? {
        condition.lock()
        while head == items.count {
            if closed {
                condition.unlock()
                return nil
            }
            wait(until: nil)
        }
        let element = take()
        let wake = head < items.count && wakeOne()
        condition.unlock()
        if wake { condition.signal() }
        return element
    }

    /// Up to `limit` elements, waiting up to `timeout` for the first; empty on timeout or when closed.
    func popBatch(limit: Int, timeout: Duration) -> [Element] {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout.seconds)
        while head == items.count {
            if closed || !wait(until: deadline) { break }
        }
        var batch: [Element] = []
        batch.reserveCapacity(min(limit, items.count - head))
        while batch.count < limit, head < items.count { batch.append(take()) }
        return batch
    }

    /// Everything queued, without waiting.
    func drain() -> [Element] {
        condition.lock()
        defer { condition.unlock() }
        var all: [Element] = []
        while head < items.count { all.append(take()) }
        return all
    }

    /// Wakes every waiter; `pop` returns nil once the queue is empty.
    func close() {
        condition.lock()
        closed = true
        condition.unlock()
        condition.broadcast()
    }

    /// Counts a signal to send after unlocking, if some waiting thread has none on its way yet.
    private func wakeOne() -> Bool {
        guard waiting > waking else { return false }
        waking += 1
        return true
    }

    /// Waits with `condition` locked; false when `deadline` passed. A thread returning, woken or not,
    /// counts as one of those on their way: at worst another push wakes one thread more than needed.
    @discardableResult
    private func wait(until deadline: Date?) -> Bool {
        waiting += 1
        let signalled = deadline.map { condition.wait(until: $0) } ?? { condition.wait(); return true }()
        waiting -= 1
        if waking > 0 { waking -= 1 }
        return signalled
    }

    private func take() -> Element {
        let element = items[head]
        head += 1
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return element
    }
}
