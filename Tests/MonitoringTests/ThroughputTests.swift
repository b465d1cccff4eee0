import Backend
import Foundation
import HostConfig
import JobHostTesting
import Logging
import Monitoring
import RedisBackend
import Testing

/// The throughput ring: points from successive reads of cumulative counters, without I/O.
struct ThroughputRingTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func time(_ seconds: Double) -> Date { start.addingTimeInterval(seconds) }

    @Test func eachReadAfterTheFirstAddsTheChangeSinceTheReadBefore() {
        var ring = ThroughputRing(capacity: 10)
        ring.record(at: time(0), processed: 100, failed: 7)
        #expect(ring.points.isEmpty, "the first read is only a base: the counters hold what happened before the host looked")
        ring.record(at: time(5), processed: 104, failed: 7)
        ring.record(at: time(10), processed: 104, failed: 9)
        ring.record(at: time(15), processed: 110, failed: 10)
        #expect(ring.points == [
            .init(at: time(5), processed: 4, failed: 0),
            .init(at: time(10), processed: 0, failed: 2),
            .init(at: time(15), processed: 6, failed: 1),
        ])
    }

    @Test func aCounterResetCountsWhatHappenedSinceNeverANegativeRate() {
        var ring = ThroughputRing(capacity: 10)
        ring.record(at: time(0), processed: 500, failed: 40)
        ring.record(at: time(5), processed: 510, failed: 41)
        // The backend was flushed between two reads: its counters start again from zero.
        ring.record(at: time(10), processed: 3, failed: 0)
        ring.record(at: time(15), processed: 8, failed: 2)
        // Only one counter went down (failed kept since, processed reset).
        ring.record(at: time(20), processed: 1, failed: 5)
        #expect(ring.points.map(\.processed) == [10, 3, 5, 1])
        #expect(ring.points.map(\.failed) == [1, 0, 2, 3])
        #expect(ring.points.allSatisfy { $0.processed >= 0 && $0.failed >= 0 })
    }

    @Test func aFailedReadLeavesAGapAndTheNextReadIsANewBase() {
        var ring = ThroughputRing(capacity: 10)
        ring.record(at: time(0), processed: 0, failed: 0)
        ring.record(at: time(5), processed: 2, failed: 0)
        ring.recordGap()
        ring.recordGap()
        // 40 jobs ran while the backend did not answer: not lumped into one interval.
        ring.record(at: time(20), processed: 42, failed: 0)
        ring.record(at: time(25), processed: 45, failed: 1)
        #expect(ring.points == [.init(at: time(5), processed: 2, failed: 0), .init(at: time(25), processed: 3, failed: 1)])
        #expect(!ring.points.contains { $0.at == time(10) || $0.at == time(15) || $0.at == time(20) }, "a gap, not zeros")
    }

    @Test func theRingKeepsItsNewestPointsOldestFirst() {
        var ring = ThroughputRing(capacity: 3)
        for n in 0...6 { ring.record(at: time(Double(n) * 5), processed: n * n, failed: 0) }
        #expect(ring.points.map(\.at) == [time(20), time(25), time(30)])
        #expect(ring.points.map(\.processed) == [7, 9, 11])
        #expect(ring.points(since: time(25)).map(\.at) == [time(25), time(30)])
    }
}

/// The sampler against a real Redis: the counters it reads, and a server that stops answering.
@Suite(.serialized)
struct ThroughputSamplerTests {
    @Test func jobsSettledBetweenTwoReadsMakeOnePointAndADownServerAGap() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let (config, backend) = try HostProbeTests.setup(redis)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let sampler = ThroughputSampler(config: config, backends: ["main": backend], logger: logger)
        try await onDedicatedThread { sampler.sampleOnce(backend: "main") }
        #expect(sampler.series().map(\.queue) == ["default", "other"])
        #expect(sampler.series().allSatisfy { $0.points.isEmpty })

        try await onDedicatedThread {
            _ = try backend.enqueue((0..<5).map { _ in NewJob(queue: "default", handler: "x.y", payload: Data("{}".utf8), maxAttempts: 1) })
            let leased = try backend.fetch(queue: "default", limit: 5, lease: .seconds(60))
            let settlements: [(Lease, Settlement)] = leased.enumerated().map { index, job in
                (job.lease, index < 3 ? .done(retention: .seconds(60)) : .dead(error: "planned"))
            }
            _ = try backend.settle(settlements)
            sampler.sampleOnce(backend: "main")
        }
        let points = sampler.series()
        #expect(points[0].points.map(\.processed) == [3])
        #expect(points[0].points.map(\.failed) == [2])
        #expect(points[1].points.map(\.processed) == [0], "a quiet queue has zeros")

        redis.stop()
        try await onDedicatedThread { sampler.sampleOnce(backend: "main") }
        #expect(sampler.series()[0].points.count == 1, "no point for a read that failed")
        #expect(sampler.series()[1].points.count == 1)
    }
}
