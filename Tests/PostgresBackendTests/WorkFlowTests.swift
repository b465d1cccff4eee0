import Backend
import Foundation
import JobHostTesting
import Synchronization
import Testing

@testable import PostgresBackend

/// How work is found: LISTEN/NOTIFY as a hint only, the claim cursor and its full scans, and
/// maintenance run by many hosts at once.
@Suite struct WorkFlowTests {
    /// The connection waiting for notifications is killed mid-wait: the wait ends early, work is still
    /// found by fetching, and the next wait listens on a new connection.
    @Test func killedListenerStillFindsWork() async throws {
        let server = try await SharedPostgres.server
        let name = "jh_kill_listen_\(UInt32.random(in: 0...UInt32.max))"
        let backend = try await makeBackend(server, schema: freshSchema("killlisten"), url: server.url + "?application_name=\(name)")

        // A wait of an hour: returning at all shows it ended when its connection went.
        let waiting = Task { try await onThread { try backend.waitForWork(queue: "q", timeout: .seconds(3600)) } }
        try await waitUntil("the listening connection to be found and terminated") {
            try await server.psql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '\(name) listen' AND state = 'idle'")
                == "1"
        }
        try await withinBound("waitForWork to end after its connection was killed") { try await waiting.value }

        let job = sampleJob("q", 1)
        let found = try await onThread { () throws -> [String] in
            _ = try backend.enqueue([job])
            return try backend.fetch(queue: "q", limit: 10, lease: .seconds(30)).map(\.id)
        }
        #expect(found == [job.id])

        // Listening again, on a new connection: an enqueue wakes the waiter, whose own timeout is an hour away.
        try await withinBound("an enqueue to wake the second wait") {
            try await onThread {
                let enqueuer = Thread {
                    Thread.sleep(forTimeInterval: 0.3)
                    _ = try? backend.enqueue([sampleJob("q", 2)])
                }
                enqueuer.start()
                try backend.waitForWork(queue: "q", timeout: .seconds(3600))
            }
        }
    }

    /// Jobs put back in line (they keep their old places) after newer jobs were claimed are found
    /// again, in their order: by the host that put one back as soon as its full-scan budget allows
    /// (at once on an idle machine), and by other hosts at their next periodic full scan.
    @Test func jobsPutBackBehindTheCursorAreFoundInOrder() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("cursor")
        let host = try await makeBackend(server, schema: schema)
        let other = try await makeBackend(server, schema: schema)
        let released = sampleJob("q", 1)
        let rescued = sampleJob("q", 2)
        let waiting = (3..<6).map { sampleJob("q", $0) }
        let order = try await onThread { () throws -> [String] in
            _ = try host.enqueue([released, rescued])
            let first = try host.fetch(queue: "q", limit: 1, lease: .seconds(60))[0]
            _ = try host.fetch(queue: "q", limit: 1, lease: .milliseconds(100))
            Thread.sleep(forTimeInterval: 0.6)
            _ = try host.enqueue(waiting)
            // The cursor is now past the two put-back jobs' places, by more than its slack.
            #expect(try host.fetch(queue: "q", limit: 1, lease: .seconds(60)).map(\.id) == [waiting[0].id])
            #expect(try host.settle([(first.lease, .release)]) == [true])
            var order = try host.fetch(queue: "q", limit: 1, lease: .seconds(60)).map(\.id)

            #expect(try other.rescueExpired(queue: "q", limit: 10) == (1, 0))
            // Found at the next full scan: polled with a generous bound, not timed.
            let deadline = ContinuousClock.now + .seconds(60)
            while !order.contains(released.id) || !order.contains(rescued.id), ContinuousClock.now < deadline {
                order += try host.fetch(queue: "q", limit: 1, lease: .seconds(60)).map(\.id)
                Thread.sleep(forTimeInterval: 0.02)
            }
            return order
        }
        let positions = (order.firstIndex(of: released.id), order.firstIndex(of: rescued.id))
        #expect(positions.0 != nil && positions.1 != nil && positions.0! < positions.1!, "the released job, then the rescued one: \(order)")
        let rest = try await onThread { try host.fetch(queue: "q", limit: 10, lease: .seconds(60)).map(\.id) }
        let all = order + rest
        #expect(all.count == 4 && Set(all) == Set([released.id, rescued.id, waiting[1].id, waiting[2].id]), "every job once: \(all)")
    }

    /// A job enqueued by a transaction that took longer than the cursor's slack (its run time is the
    /// transaction's start) is found too, by a full scan: within seconds, however loaded the machine.
    @Test func jobOfASlowTransactionIsFound() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("slowtx")
        let backend = try await makeBackend(server, schema: schema)
        let stop = Atomic<Bool>(false)
        let slowID = Mutex<String?>(nil)
        let fetcher = Task { try await onThread { () throws -> [String] in
            var ids: [String] = []
            let deadline = ContinuousClock.now + .seconds(30)
            while !stop.load(ordering: .relaxed) || !ids.contains(slowID.withLock { $0 ?? "" }), ContinuousClock.now < deadline {
                let batch = try backend.fetch(queue: "q", limit: 10, lease: .seconds(60))
                ids += batch.map(\.id)
                if batch.isEmpty { try backend.waitForWork(queue: "q", timeout: .milliseconds(200)) }
            }
            return ids
        } }
        // Meanwhile jobs keep coming, so the cursor moves past the slow transaction's run time.
        let producer = Task { try await onThread { () throws -> [String] in
            var ids: [String] = []
            for number in 0..<40 {
                ids += try backend.enqueue([sampleJob("q", number)])
                Thread.sleep(forTimeInterval: 0.05)
            }
            return ids
        } }
        let slow = try await server.psql("BEGIN; SELECT \(schema).enqueue('test.slow', '{}', queue => 'q'); SELECT pg_sleep(1.2); COMMIT;")
            .split(separator: "\n").first.map(String.init) ?? ""
        slowID.withLock { $0 = slow }
        let produced = try await producer.value
        stop.store(true, ordering: .relaxed)
        let fetched = try await fetcher.value
        #expect(Set(fetched) == Set(produced + [slow]), "missing: \(Set(produced + [slow]).subtracting(fetched))")
        #expect(fetched.count == produced.count + 1)
    }

    /// Four hosts rescue and prune at once: every expired lease is rescued exactly once, counted once,
    /// and every old done job is deleted exactly once.
    @Test func maintenanceByManyHostsAtOnce() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("maintenance")
        let hosts = try await (0..<4).asyncMap { _ in try await makeBackend(server, schema: schema, poolSize: 1) }
        let count = 400
        try await onThread { () throws in
            _ = try hosts[0].enqueue((0..<count).map { sampleJob("q", $0) })
            let expiring = try hosts[0].fetch(queue: "q", limit: count / 2, lease: .milliseconds(50))
            let finished = try hosts[0].fetch(queue: "q", limit: count / 2, lease: .seconds(60))
            _ = try hosts[0].settle(finished.map { ($0.lease, .done(retention: .seconds(3600))) })
            #expect(expiring.count == count / 2 && finished.count == count / 2)
        }
        try await Task.sleep(for: .milliseconds(200))
        let results = try await withThrowingTaskGroup(of: (Int, Int, Int).self) { group in
            for host in hosts {
                group.addTask {
                    try await onThread {
                        var (rescued, dead, pruned) = (0, 0, 0)
                        for _ in 0..<20 {
                            let rescue = try host.rescueExpired(queue: "q", limit: 7)
                            rescued += rescue.rescued
                            dead += rescue.dead
                            pruned += try host.prune(queue: "q", retention: .zero, limit: 9)
                        }
                        return (rescued, dead, pruned)
                    }
                }
            }
            return try await group.reduce(into: [(Int, Int, Int)]()) { $0.append($1) }
        }
        #expect(results.map(\.0).reduce(0, +) == count / 2, "rescued: \(results)")
        #expect(results.map(\.1).reduce(0, +) == 0)
        #expect(results.map(\.2).reduce(0, +) == count / 2, "pruned: \(results)")
        let stats = try await onThread { try hosts[1].stats(queue: "q") }
        #expect(stats == QueueStats(queue: "q", ready: count / 2, processed: count / 2, failed: count / 2, oldestReadyAge: stats.oldestReadyAge))
    }
}

extension Range where Bound == Int {
    fileprivate func asyncMap<T>(_ transform: (Int) async throws -> T) async throws -> [T] {
        var results: [T] = []
        for index in self { results.append(try await transform(index)) }
        return results
    }
}
