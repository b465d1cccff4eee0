import Backend
import Foundation

/// What an operator's overview reads: each schedule's recent fires (every ``ScheduleStore``) and every
/// host record (every ``HostRegistry``).
extension BackendConformance {
    /// The last ``ScheduleFire/kept`` fires of a schedule come back newest first, each with its job; a
    /// refused fire adds nothing; schedules and queues each keep their own.
    public static func recentFiresKeepTheLastOnesNewestFirst(_ store: any JobBackend & ScheduleStore, queue: String) throws {
        try expectEqual(try store.recentFires(schedule: "tick", queue: queue, limit: 10), [], "recent fires of a schedule never fired")
        let start = try store.now().addingTimeInterval(-100)
        var fired: [ScheduleFire] = []
        for n in 0..<(ScheduleFire.kept + 3) {
            let job = sampleJob(queue, n)
            let time = start.addingTimeInterval(Double(n))
            try expectEqual(try store.claimFire(schedule: "tick", at: time, job: job), job.id, "fire \(n)")
            fired.append(ScheduleFire(fireTime: time, jobID: job.id))
        }
        try expectEqual(
            try store.claimFire(schedule: "tick", at: start.addingTimeInterval(1), job: sampleJob(queue, 99)), nil, "an earlier fire time")
        let newestFirst = Array(fired.reversed())
        let all = try store.recentFires(schedule: "tick", queue: queue, limit: 50)
        try expectEqual(all.map(\.jobID), newestFirst.prefix(ScheduleFire.kept).map(\.jobID), "recent fires' jobs, newest first")
        for (got, wanted) in zip(all, newestFirst) {
            try expect(
                abs(got.fireTime.timeIntervalSince(wanted.fireTime)) < 0.002,
                "fire time \(got.fireTime) of job \(got.jobID), expected \(wanted.fireTime)")
        }
        try expectEqual(try store.recentFires(schedule: "tick", queue: queue, limit: 3).map(\.jobID), newestFirst.prefix(3).map(\.jobID), "limit 3")
        try expectEqual(try store.lastFire(schedule: "tick", queue: queue)?.jobID, newestFirst[0].jobID, "the last fire")

        let other = sampleJob(queue, 200)
        try expectEqual(try store.claimFire(schedule: "tock", at: start, job: other), other.id, "a fire of another schedule")
        try expectEqual(try store.recentFires(schedule: "tock", queue: queue, limit: 10).map(\.jobID), [other.id], "the other schedule's fires")
        try expectEqual(try store.recentFires(schedule: "tick", queue: queue + "-other", limit: 10), [], "the same name in another queue")
        try expectEqual(try store.recentFires(schedule: "tick", queue: queue, limit: 50).count, ScheduleFire.kept, "fires kept after another schedule fired")
    }

    /// Every record is listed, stamped by the backend: `seenAt`, and `startedAt`, which a claim by the
    /// same instance keeps and a new instance resets; a released name is gone from the list.
    public static func hostRecordsListEveryName(_ registry: any HostRegistry, name base: String) throws {
        let ours = { () throws -> [HostRecord] in try registry.hostRecords().filter { $0.name.hasSuffix(base) } }
        try expectEqual(try ours(), [], "records before any claim")
        let before = Date()
        let first = hostRecord("a-\(base)", instance: "i1", pid: 100)
        let second = hostRecord("b-\(base)", instance: "i2", pid: 200)
        _ = try registry.claimHostName(first, staleAfter: .seconds(60), replacing: nil)
        _ = try registry.claimHostName(second, staleAfter: .seconds(60), replacing: nil)
        let listed = try ours()
        try expectEqual(listed.map(\.name), [first.name, second.name], "names listed")
        try expectEqual(listed.map(\.pid), [100, 200], "pids listed")
        try expectEqual(listed[0].machine, first.machine, "machine")
        let started = try require(listed[0].startedAt, "no startedAt in a listed record")
        let seen = try require(listed[0].seenAt, "no seenAt in a listed record")
        try expect(abs(started.timeIntervalSince(before)) < 60, "startedAt \(started) is far from the time of the claim, \(before)")
        try expect(abs(seen.timeIntervalSince(started)) < 1, "seenAt \(seen) of a fresh record is far from its startedAt \(started)")

        pause(.milliseconds(50))
        _ = try registry.claimHostName(first, staleAfter: .seconds(60), replacing: nil)
        try expect(try registry.refreshHostName(first.name, instance: first.instance), "refresh by the holder")
        let again = try require(try ours().first, "the record claimed again")
        try expectEqual(again.startedAt, started, "startedAt after the same instance claimed again")
        try expect(try require(again.seenAt, "no seenAt") > seen, "seenAt did not move on with the refresh")

        let successor = hostRecord(first.name, instance: "i3", pid: 300)
        try expect(try registry.claimHostName(successor, staleAfter: .seconds(60), replacing: "i1").claimed, "replacing the holder")
        let replaced = try require(try ours().first, "the replaced record")
        try expectEqual(replaced.instance, "i3", "instance after the replacement")
        try expect(try require(replaced.startedAt, "no startedAt") > started, "startedAt of a new instance is not later than the old one's")

        try registry.releaseHostName(second.name, instance: second.instance)
        try expectEqual(try ours().map(\.name), [first.name], "names after a release")
    }
}
