import Backend
import Foundation
import JobHostTesting
import Testing

@testable import PostgresBackend

/// Schedule fires (``ScheduleStore``) and job origins.
@Suite struct ScheduleStoreTests {
    @Test func eachFireEnqueuesOnceAndFireTimesOnlyMoveForward() async throws {
        let server = try await SharedPostgres.server
        let backend = try await makeBackend(server, schema: freshSchema("fires"))
        try await onThread { () throws in
            let now = try backend.now()
            #expect(abs(now.timeIntervalSinceNow) < 60, "the database's clock \(now) is far from the host's")
            var job = sampleJob("default", 1)
            job.origin = "schedule tick \(now)"
            let other = sampleJob("default", 2)

            let future = now.addingTimeInterval(60)
            #expect(throws: BackendError.self) { try backend.claimFire(schedule: "tick", at: future, job: job) }
            #expect(try backend.lastFire(schedule: "tick", queue: "default") == nil, "an early fire records nothing")

            let past = now.addingTimeInterval(-10)
            #expect(try backend.claimFire(schedule: "tick", at: past, job: job) == job.id)
            #expect(try backend.claimFire(schedule: "tick", at: past, job: other) == nil, "the same fire again")
            #expect(try backend.claimFire(schedule: "tick", at: past.addingTimeInterval(-5), job: other) == nil, "an earlier fire")
            let last = try #require(try backend.lastFire(schedule: "tick", queue: "default"))
            #expect(last.jobID == job.id)
            #expect(abs(last.fireTime.timeIntervalSince(past)) < 0.001)
            #expect(try backend.job(queue: "default", id: other.id) == nil, "a fire not claimed enqueues nothing")
            #expect(try backend.job(queue: "default", id: job.id)?.origin == job.origin)

            #expect(try backend.claimFire(schedule: "tick", at: past.addingTimeInterval(5), job: other) == other.id, "a later fire")
            #expect(try backend.lastFire(schedule: "tick", queue: "default")?.jobID == other.id)
            #expect(try backend.lastFire(schedule: "tick", queue: "elsewhere") == nil, "fires are per queue")
        }
    }

    /// Four hosts fire the same schedule at the same time: one job, one recorded fire.
    @Test func racingHostsFireOnce() async throws {
        let server = try await SharedPostgres.server
        let schema = freshSchema("firerace")
        let hosts = [
            try await makeBackend(server, schema: schema, poolSize: 1), try await makeBackend(server, schema: schema, poolSize: 1),
            try await makeBackend(server, schema: schema, poolSize: 1), try await makeBackend(server, schema: schema, poolSize: 1),
        ]
        let fireTime = try await onThread { try hosts[0].now() }.addingTimeInterval(-1)
        for round in 0..<5 {
            let fire = fireTime.addingTimeInterval(Double(round) / 10)
            let results = try await withThrowingTaskGroup(of: String?.self) { group in
                for (index, host) in hosts.enumerated() {
                    group.addTask {
                        try await onThread { try host.claimFire(schedule: "nightly", at: fire, job: sampleJob("q", round * 10 + index)) }
                    }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            let fired = results.compactMap { $0 }
            #expect(fired.count == 1, "round \(round): \(results)")
            #expect(try await onThread { try hosts[1].lastFire(schedule: "nightly", queue: "q")?.jobID } == fired.first)
        }
        #expect(try await onThread { try hosts[2].stats(queue: "q").ready } == 5)
    }

    /// A fire whose job's unique key is held records the holder, as the enqueue returns it.
    @Test func fireOfAJobWithAHeldKeyRecordsTheHolder() async throws {
        let server = try await SharedPostgres.server
        let backend = try await makeBackend(server, schema: freshSchema("firekey"))
        try await onThread { () throws in
            let holder = try backend.enqueue([sampleJob("q", 1, uniqueKey: "report")])[0]
            let fire = try backend.now().addingTimeInterval(-1)
            #expect(try backend.claimFire(schedule: "report", at: fire, job: sampleJob("q", 2, uniqueKey: "report")) == holder)
            #expect(try backend.lastFire(schedule: "report", queue: "q")?.jobID == holder)
            #expect(try backend.stats(queue: "q").ready == 1)
        }
    }

    @Test func originIsKeptAndListed() async throws {
        let server = try await SharedPostgres.server
        let backend = try await makeBackend(server, schema: freshSchema("origin"))
        let chained = { () -> NewJob in
            var job = sampleJob("q", 1)
            job.origin = "chained from job 01ABC"
            return job
        }()
        let plain = sampleJob("q", 2)
        try await onThread { () throws in
            _ = try backend.enqueue([chained, plain])
            #expect(try backend.job(queue: "q", id: chained.id)?.origin == "chained from job 01ABC")
            #expect(try backend.job(queue: "q", id: plain.id)?.origin == nil)
            #expect(try backend.list(queue: "q", state: .ready, offset: 0, limit: 10).map(\.origin) == [nil, "chained from job 01ABC"])
        }
    }
}
