import Foundation
import Testing

@testable import Runtime

/// The hand-off between a runner's threads wakes as few threads as it can, but never leaves an element
/// waiting while a thread that could take it sleeps.
struct BlockingQueueTests {
    /// Threads that each take one element and keep it (a slow handler) until all have one.
    final class Takers: @unchecked Sendable {
        // Safe: `taken` is only touched with `lock` held; the semaphores are thread-safe.
        let lock = NSLock()
        var taken: [Int] = []
        let allTaken = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)

        func start(_ count: Int, on queue: BlockingQueue<Int>) {
            for _ in 0..<count {
                Thread.detachNewThread { [self] in
                    if let element = queue.pop() {
                        lock.lock()
                        taken.append(element)
                        if taken.count == count { allTaken.signal() }
                        lock.unlock()
                        release.wait()
                    }
                    finished.signal()
                }
            }
        }
    }

    /// A generous bound: the waits below end as soon as the threads do, or the test fails.
    static let bound = DispatchTime.now() + .seconds(60)

    /// Waits until `count` threads wait in `pop`: then a push has to wake them, one after another.
    func waitForIdle(_ queue: BlockingQueue<Int>, count: Int) {
        let deadline = Date().addingTimeInterval(60)
        while queue.waiters < count, Date() < deadline { Thread.sleep(forTimeInterval: 0.001) }
        #expect(queue.waiters == count)
    }

    @Test func aBatchReachesEveryIdleThreadWhileEachHoldsItsElement() {
        let queue = BlockingQueue<Int>()
        let takers = Takers()
        takers.start(8, on: queue)
        waitForIdle(queue, count: 8)
        queue.push(contentsOf: Array(1...8))
        #expect(takers.allTaken.wait(timeout: Self.bound) == .success, "a thread slept while an element waited")
        #expect(takers.taken.sorted() == Array(1...8))
        for _ in 0..<8 { takers.release.signal() }
        for _ in 0..<8 { _ = takers.finished.wait(timeout: Self.bound) }
        #expect(queue.count == 0)
    }

    @Test func singlePushesReachEveryIdleThread() {
        let queue = BlockingQueue<Int>()
        let takers = Takers()
        takers.start(6, on: queue)
        waitForIdle(queue, count: 6)
        for element in 1...6 { queue.push(element) }
        #expect(takers.allTaken.wait(timeout: Self.bound) == .success, "a thread slept while an element waited")
        #expect(takers.taken.sorted() == Array(1...6))
        for _ in 0..<6 { takers.release.signal() }
        for _ in 0..<6 { _ = takers.finished.wait(timeout: Self.bound) }
    }

    @Test func closingWakesEveryWaiterEmptyHanded() {
        let queue = BlockingQueue<Int>()
        let takers = Takers()
        takers.start(4, on: queue)
        waitForIdle(queue, count: 4)
        queue.close()
        for _ in 0..<4 { #expect(takers.finished.wait(timeout: Self.bound) == .success) }
        #expect(takers.taken.isEmpty)
    }

    @Test func aBatchPopTakesWhatIsQueuedUpToItsLimitInOrder() {
        let queue = BlockingQueue<Int>()
        queue.push(contentsOf: [1, 2, 3])
        queue.push(4)
        #expect(queue.popBatch(limit: 3, timeout: .seconds(60)) == [1, 2, 3])
        #expect(queue.popBatch(limit: 3, timeout: .seconds(60)) == [4])
        #expect(queue.popBatch(limit: 3, timeout: .milliseconds(1)).isEmpty)
    }

    @Test func aWaitingBatchPopWakesForAPush() {
        let queue = BlockingQueue<Int>()
        let got = DispatchSemaphore(value: 0)
        let result = LockedBox<[Int]>([])
        Thread.detachNewThread {
            result.set(queue.popBatch(limit: 10, timeout: .seconds(60)))
            got.signal()
        }
        let deadline = Date().addingTimeInterval(60)
        while queue.waiters < 1, Date() < deadline { Thread.sleep(forTimeInterval: 0.001) }
        queue.push(7)
        #expect(got.wait(timeout: Self.bound) == .success)
        #expect(result.get() == [7])
    }
}

/// A value handed from a thread to the test.
final class LockedBox<Value: Sendable>: @unchecked Sendable {
    // Safe: `value` is only touched with `lock` held.
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ new: Value) { lock.withLock { value = new } }
    func get() -> Value { lock.withLock { value } }
}
