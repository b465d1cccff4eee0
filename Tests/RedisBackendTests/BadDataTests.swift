import Backend
import BackendConformance
import Foundation
import JobHostTesting
import Testing

@testable import RedisBackend

/// Values a producer or a hand edit can leave in a job hash (every field is text in Redis), each run
/// through the conformance scenarios of ``BackendConformance`` for unusable jobs.
let redisBadValues: [BadValue] = [
    BadValue(field: "crashes", value: "many"),
    BadValue(field: "crashes", value: "-1"),
    BadValue(field: "timeout_ms", value: "9223372036854775000"),
    BadValue(field: "timeout_ms", value: "-5"),
    BadValue(field: "state", value: "paused"),
    BadValue(field: "attempt", value: "2147483647"),
    BadValue(field: "attempt", value: "1e400"),
    BadValue(field: "max_attempts", value: "three"),
    BadValue(field: "enqueued_at", value: "yesterday"),
    BadValue(field: "enqueued_at", value: "99999999999999999"),
    BadValue(field: "lease_seq", value: "0x10"),
]

/// `redis-cli` against `server`, blocking: what a producer or an operator would type.
func redisCLIBlocking(_ server: RedisServer, _ arguments: [String]) throws -> String {
    let output = try ChildProcess.run("redis-cli", ["-p", String(server.port)] + arguments, timeout: .seconds(20))
    guard output.status == 0, !output.stdout.hasPrefix("ERR"), !output.stdout.hasPrefix("WRONGTYPE") else {
        throw CLIFailure(arguments: arguments, output: output)
    }
    return output.stdout
}

/// Writes a bad value into a job's hash with a plain `HSET`.
func spoiler(_ server: RedisServer, prefix: String = "jh") -> SpoilJob {
    { queue, id, bad in _ = try redisCLIBlocking(server, ["HSET", "{\(prefix):\(queue)}:job:\(id)", bad.field, bad.value]) }
}

/// Checks that every job hash of `queue` sits in exactly the list or set its `state` names, and every
/// member of those lists and sets has a hash in that state: nothing half-moved, nothing lost.
func expectConsistent(_ server: RedisServer, queue: String, prefix: String = "jh") throws {
    let base = "{\(prefix):\(queue)}"
    let lines = { (arguments: [String]) throws -> [String] in
        try redisCLIBlocking(server, arguments).split(separator: "\n").map(String.init)
    }
    var members: [String: [String]] = [:]
    members["ready"] = try lines(["LRANGE", base + ":ready", "0", "-1"])
    for (state, set) in [("running", "leases"), ("scheduled", "scheduled"), ("dead", "dead"), ("done", "done")] {
        members[state] = try lines(["ZRANGE", base + ":" + set, "0", "-1"])
    }
    var home: [String: [String]] = [:]
    for (state, ids) in members {
        for id in ids { home[id, default: []].append(state) }
    }
    let keys = try lines(["--scan", "--pattern", base + ":job:*"])
    #expect(keys.count == home.count, "job hashes \(keys.count), ids in lists and sets \(home.count)")
    for key in keys {
        let id = String(key.dropFirst((base + ":job:").count))
        let state = try lines(["HGET", key, "state"]).first ?? ""
        #expect(home[id] == [state], "job \(id) in state \(state) is in \(home[id] ?? [])")
    }
}

@Suite struct RedisBadDataTests {
    @Test(arguments: redisBadValues)
    func unusableJobGoesDeadAndQueueGoesOn(_ bad: BadValue) async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            try await onThread {
                try BackendConformance.unusableJobGoesDeadAndQueueGoesOn(backend, queue: "q", bad: bad, spoil: spoiler(server))
                try expectConsistent(server, queue: "q")
            }
        }
    }

    @Test func nonNumericCrashesInASettleBatchLeavesNothingHalfMoved() async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            try await onThread {
                let bad = BadValue(field: "crashes", value: "many")
                try BackendConformance.unusableJobInASettleBatch(backend, queue: "q", bad: bad, spoil: spoiler(server))
                try expectConsistent(server, queue: "q")
            }
        }
    }

    /// A job key that is not a hash, a job in an unknown state and a hash that is gone, among due
    /// scheduled jobs: the fetch that promotes them records the three in dead and leases the others.
    @Test func badJobsAmongDueScheduledJobsAreRecordedNotLost() async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            let jobs = (0..<6).map { sampleJob("q", $0, delay: .milliseconds(50)) }
            _ = try await onThread { try backend.enqueue(jobs) }
            _ = try await redisCLI(server, ["DEL", "{jh:q}:job:\(jobs[1].id)"])
            _ = try await redisCLI(server, ["SET", "{jh:q}:job:\(jobs[1].id)", "not a hash"])
            _ = try await redisCLI(server, ["HSET", "{jh:q}:job:\(jobs[3].id)", "state", "frozen"])
            _ = try await redisCLI(server, ["DEL", "{jh:q}:job:\(jobs[4].id)"])
            try await Task.sleep(for: .milliseconds(200))

            let fetched = try await onThread { try backend.fetch(queue: "q", limit: 10, lease: .seconds(60)).map(\.id) }
            #expect(Set(fetched) == Set([jobs[0].id, jobs[2].id, jobs[5].id]))
            let dead = try await onThread { try backend.list(queue: "q", state: .dead, offset: 0, limit: 10) }
            let reasons = Dictionary(uniqueKeysWithValues: dead.map { ($0.id, $0.lastError ?? "") })
            #expect(reasons[jobs[1].id]?.contains("not a hash") == true, "\(reasons)")
            #expect(reasons[jobs[3].id]?.contains("state = \"frozen\"") == true, "\(reasons)")
            #expect(reasons[jobs[4].id]?.contains("missing") == true, "\(reasons)")
            #expect(try await redisCLI(server, ["ZCARD", "{jh:q}:scheduled"]) == "0\n")
        }
    }

    /// Expired leases of jobs whose attempt counts are unusable, or whose state an edit made unknown,
    /// go to dead with their reason; the good expired leases around them are rescued; nothing is left
    /// between two states.
    @Test func rescueOfUnusableJobsAmongGoodOnes() async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            let jobs = (0..<5).map { sampleJob("q", $0) }
            _ = try await onThread { () throws in
                _ = try backend.enqueue(jobs)
                _ = try backend.fetch(queue: "q", limit: 10, lease: .milliseconds(50))
            }
            _ = try await redisCLI(server, ["HSET", "{jh:q}:job:\(jobs[1].id)", "attempt", "lots"])
            _ = try await redisCLI(server, ["HSET", "{jh:q}:job:\(jobs[2].id)", "max_attempts", "0"])
            _ = try await redisCLI(server, ["HSET", "{jh:q}:job:\(jobs[3].id)", "state", "limbo"])
            _ = try await redisCLI(server, ["HSET", "{jh:q}:stats", "failed", "garbage"])
            try await Task.sleep(for: .milliseconds(150))

            let result = try await onThread { try backend.rescueExpired(queue: "q", limit: 100) }
            #expect(result.rescued == 2)
            #expect(result.dead == 3)
            let dead = try await onThread { try backend.list(queue: "q", state: .dead, offset: 0, limit: 10) }
            let reasons = Dictionary(uniqueKeysWithValues: dead.map { ($0.id, $0.lastError ?? "") })
            #expect(reasons[jobs[1].id]?.contains("attempt = \"lots\"") == true, "\(reasons)")
            #expect(reasons[jobs[2].id]?.contains("max_attempts = 0") == true, "\(reasons)")
            #expect(reasons[jobs[3].id]?.contains("state = \"limbo\"") == true, "\(reasons)")
            let again = try await onThread { try backend.fetch(queue: "q", limit: 10, lease: .seconds(60)).map(\.id) }
            #expect(Set(again) == Set([jobs[0].id, jobs[4].id]))
            try await onThread { try expectConsistent(server, queue: "q") }
        }
    }

    /// A done job whose state an edit made unknown is recorded in dead by prune, not dropped.
    @Test func pruneRecordsADoneJobInAnUnknownState() async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            let jobs = (0..<3).map { sampleJob("q", $0) }
            _ = try await onThread { () throws in
                _ = try backend.enqueue(jobs)
                let leased = try backend.fetch(queue: "q", limit: 10, lease: .seconds(60))
                _ = try backend.settle(leased.map { ($0.lease, .done(retention: .seconds(3600))) })
            }
            _ = try await redisCLI(server, ["HSET", "{jh:q}:job:\(jobs[1].id)", "state", "archived"])
            try await Task.sleep(for: .milliseconds(20))
            let pruned = try await onThread { try backend.prune(queue: "q", retention: .zero, limit: 100) }
            #expect(pruned == 2)
            let dead = try await onThread { try backend.job(queue: "q", id: jobs[1].id) }
            #expect(dead?.state == .dead)
            #expect(dead?.lastError?.contains("state = \"archived\"") == true, "\(String(describing: dead))")
            try await onThread { try expectConsistent(server, queue: "q") }
        }
    }

    /// The largest timeout a job may hold comes through as it is; stats and listings read hand-edited
    /// counters and times without failing.
    @Test func largestTimeoutAndEditedCountersAreRead() async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            let job = sampleJob("q", 1)
            let other = sampleJob("q", 2)
            _ = try await onThread { try backend.enqueue([job, other]) }
            _ = try await redisCLI(server, ["HSET", "{jh:q}:job:\(job.id)", "timeout_ms", "2147483647"])
            _ = try await redisCLI(server, ["HSET", "{jh:q}:stats", "processed", "1e400", "failed", "lots"])
            let leased = try await onThread { try backend.fetch(queue: "q", limit: 1, lease: .seconds(60)) }
            #expect(leased.first?.timeout == .milliseconds(2_147_483_647))
            _ = try await redisCLI(server, ["HSET", "{jh:q}:job:\(other.id)", "updated_at", "-1e400", "enqueued_at", "soon"])
            let stats = try await onThread { try backend.stats(queue: "q") }
            #expect(stats.processed == 0 && stats.failed == 0 && stats.running == 1 && stats.ready == 1)
            let listed = try await onThread { try backend.list(queue: "q", state: .ready, offset: 0, limit: 10) }
            #expect(listed.map(\.id) == [other.id])
            let settled = try await onThread { try backend.settle([(leased[0].lease, .done(retention: .seconds(60)))]) }
            #expect(settled == [true])
            #expect(try await onThread { try backend.stats(queue: "q").processed } == 1)
        }
    }
}
