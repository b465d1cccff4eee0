import Foundation

/// A FIFO that threads block on: the hand-off between a queue's fetcher, its worker slots and its
/// settler. Swift concurrency has no blocking primitive by design, and these threads must block
/// (they run handlers and C clients), so this wraps a condition variable.
final class BlockingQueue<Element: Sendable>: @unchecked Sendable {
    // Safe: `items` and `closed` are only touched with `condition` locked.
    private let condition = NSCondition()
    private var items: [Element] = []
    private var head = 0
    private var closed = false

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count - head
    }

    func push(_ element: Element) {
        condition.lock()
        items.append(element)
        condition.unlock()
        condition.signal()
    }

    func push(contentsOf elements: [Element]) {
        guard !elements.isEmpty else { return }
        condition.lock()
        items.append(contentsOf: elements)
        condition.unlock()
        condition.broadcast()
    }

    /// The next element, waiting for one; nil once the queue is closed and empty.
    func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count {
            if closed { return nil }
            condition.wait()
        }
        return take()
    }

    /// Up to `limit` elements, waiting up to `timeout` for the first; empty on timeout or when closed.
    func popBatch(limit: Int, timeout: Duration) -> [Element] {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout.seconds)
        while head == items.count {
            if closed || !condition.wait(until: deadline) { break }
        }
        var batch: [Element] = []
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
