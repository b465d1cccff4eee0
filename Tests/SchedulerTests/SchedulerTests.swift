import Backend
import Foundation
import HostConfig
import JobHostTesting
import Logging
import RedisBackend
import Scheduler
import Testing

/// Schedules on a real Redis: one job per fire time across schedulers, catch-up after downtime.
struct SchedulerTests {
    /// `tick` under test; `tock`, fired in the same passes, witnesses that a scheduler passed over a
    /// fire time when `tick` was switched off. Nothing runs their jobs, so fires that must all enqueue
    /// let runs overlap unless a test says otherwise.
    static func config(redis: RedisServer, catchUp: String = "skip", overlap: String = "allow") throws -> HostConfiguration {
        try ConfigLoader(environment: [:]).load(
            text: """
                backends:
                  main: { type: redis, url: "\(redis.url)", key_prefix: s }
                queues:
                  default: {}
                schedules:
                  tick: { every: 1s, handler: test.noop, catch_up: \(catchUp), payload: { from: tick }, overlap: \(overlap) }
                  tock: { every: 1s, handler: test.noop, overlap: allow }
                """, file: "test.yaml", directory: URL(fileURLWithPath: "/"))
    }

    static func backend(_ redis: RedisServer) -> RedisBackend {
        RedisBackend(url: redis.url, keyPrefix: "s", connectTimeout: .seconds(2), logger: quiet)
    }

    static let quiet: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    /// The fire times of the jobs schedule `name` enqueued, from their origins.
    static func fires(_ backend: RedisBackend, _ name: String = "tick") throws -> [(time: String, catchUp: Bool)] {
        try backend.list(queue: "default", state: .ready, offset: 0, limit: 10_000).compactMap { job in
            guard let origin = job.origin, origin.hasPrefix("schedule \(name) ") else { return nil }
            let rest = origin.dropFirst("schedule \(name) ".count)
            return (String(rest.prefix { $0 != " " }), rest.hasSuffix("(catch-up)"))
        }
    }

    static func date(_ text: String) -> Date? { try? Date(text, strategy: .iso8601) }

    /// The last fire time `tick` enqueued.
    static func lastFire(_ backend: RedisBackend) throws -> Date? {
        try fires(backend).compactMap { Self.date($0.time) }.max()
    }

    @Test func threeSchedulersRacingFireEachTimeOnce() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let config = try Self.config(redis: redis)
        let backend = Self.backend(redis)
        let schedulers = (0..<3).map { _ in Scheduler(config: config, backends: ["main": Self.backend(redis)], logger: Self.quiet, tick: .milliseconds(50)) }
        for scheduler in schedulers { scheduler.start() }
        try await waitUntil("four fire times claimed") { try Self.fires(backend).count >= 4 }
        for scheduler in schedulers { scheduler.stop() }
        let fires = try Self.fires(backend)
        let times = fires.map(\.time)
        #expect(Set(times).count == times.count, "a fire time enqueued twice: \(times.sorted())")
        // Every whole second from the first fire to the last fired once: none skipped, none twice.
        let seconds = times.compactMap { Self.date($0) }.map { Int($0.timeIntervalSince1970) }.sorted()
        #expect(seconds.count == times.count && seconds == Array(seconds[0]...seconds[seconds.count - 1]), "\(times.sorted())")
        #expect(fires.allSatisfy { !$0.catchUp })
        let job = try #require(try backend.list(queue: "default", state: .ready, offset: 0, limit: 10_000).first {
            $0.origin?.hasPrefix("schedule tick ") == true
        })
        #expect(job.handler == "test.noop" && job.payload == #"{"from":"tick"}"#)
    }

    @Test func catchUpOnceEnqueuesOneJobForAnOutage() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let config = try Self.config(redis: redis, catchUp: "once")
        let backend = Self.backend(redis)
        let first = Scheduler(config: config, backends: ["main": backend], logger: Self.quiet, tick: .milliseconds(50))
        first.start()
        try await waitUntil("two fire times claimed") { try Self.fires(backend).count >= 2 }
        first.stop()
        let beforeOutage = try Self.fires(backend).count
        // Every host down until at least three fire times have passed on the backend's clock.
        let lastBefore = try #require(try Self.lastFire(backend))
        try await waitUntil("three fire times passed unclaimed") { try backend.now() >= lastBefore.addingTimeInterval(3.5) }
        let second = Scheduler(config: config, backends: ["main": backend], logger: Self.quiet, tick: .milliseconds(50))
        second.runOnce()
        let afterRestart = try Self.fires(backend)
        second.stop()
        let catchUps = afterRestart.filter(\.catchUp)
        #expect(catchUps.count == 1, "\(afterRestart.map(\.time))")
        // The outage's three or more fire times collapse into the one catch-up (plus, at most, the fire time due right now).
        #expect(afterRestart.count - beforeOutage <= 2, "\(afterRestart.map(\.time))")
    }

    @Test func catchUpSkipEnqueuesNothingForAnOutage() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let config = try Self.config(redis: redis, catchUp: "skip")
        let backend = Self.backend(redis)
        let first = Scheduler(config: config, backends: ["main": backend], logger: Self.quiet, tick: .milliseconds(50))
        first.start()
        try await waitUntil("two fire times claimed") { try Self.fires(backend).count >= 2 }
        first.stop()
        let beforeOutage = try Self.fires(backend).count
        let lastBefore = try #require(try Self.lastFire(backend))
        try await waitUntil("three fire times passed unclaimed") { try backend.now() >= lastBefore.addingTimeInterval(3.5) }
        Scheduler(config: config, backends: ["main": backend], logger: Self.quiet).runOnce()
        let afterRestart = try Self.fires(backend)
        #expect(afterRestart.allSatisfy { !$0.catchUp })
        #expect(afterRestart.count - beforeOutage <= 1, "\(afterRestart.map(\.time))")
    }

    /// Switched off, a schedule fires nothing; switched on again it fires from then on, and neither
    /// the scheduler that ran through it nor one started afterwards (with `catch_up: once`) fires a
    /// time that fell while it was off.
    @Test func aSwitchedOffScheduleFiresNothingAndCatchesNothingUpWhenOnAgain() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let config = try Self.config(redis: redis, catchUp: "once")
        let backend = Self.backend(redis)
        let running = Scheduler(config: config, backends: ["main": Self.backend(redis)], logger: Self.quiet, tick: .milliseconds(50))
        running.start()
        try await waitUntil("a first fire") { try Self.fires(backend).count >= 1 }
        try backend.setDisabled(schedule: "tick", queue: "default", true)
        let offAt = try #require(try backend.scheduleSwitch(schedule: "tick", queue: "default").changedAt)
        let beforeOff = try Self.fires(backend).count
        // `tock` fires in the same passes: once it has fired three times since, `tick` was passed over three times.
        try await waitUntil("three fires of tock after tick was switched off") {
            try Self.fires(backend, "tock").compactMap { Self.date($0.time) }.filter { $0 > offAt }.count >= 3
        }
        #expect(try Self.fires(backend).count == beforeOff, "fires while switched off")

        try backend.setDisabled(schedule: "tick", queue: "default", false)
        let onAt = try #require(try backend.scheduleSwitch(schedule: "tick", queue: "default").changedAt)
        let fresh = Scheduler(config: config, backends: ["main": Self.backend(redis)], logger: Self.quiet, tick: .milliseconds(50))
        fresh.start()
        try await waitUntil("two fires after switching on again") {
            try Self.fires(backend).compactMap { Self.date($0.time) }.filter { $0 > onAt }.count >= 2
        }
        running.stop()
        fresh.stop()

        let fires = try Self.fires(backend)
        let times = fires.compactMap { Self.date($0.time) }
        #expect(times.count == fires.count)
        #expect(Set(fires.map(\.time)).count == fires.count, "a fire time enqueued twice: \(fires.map(\.time).sorted())")
        #expect(!times.contains { $0 > offAt && $0 <= onAt }, "fired while switched off: \(fires.map(\.time).sorted())")
        #expect(fires.allSatisfy { !$0.catchUp }, "a catch-up for the time switched off: \(fires)")
        #expect(times.filter { $0 > onAt }.count >= 2, "fires after switching on again: \(fires.map(\.time).sorted())")
    }

    @Test func aFireTimeAheadOfTheBackendClockIsRefused() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let backend = Self.backend(redis)
        let job = NewJob(queue: "default", handler: "test.noop", payload: Data("{}".utf8), maxAttempts: 1)
        let future = try backend.now().addingTimeInterval(60)
        #expect(throws: BackendError.self) { try backend.claimFire(schedule: "tick", at: future, job: job) }
        // A past fire time is claimed once; the same or an older one is not claimed again.
        let past = try backend.now().addingTimeInterval(-10)
        #expect(try backend.claimFire(schedule: "tick", at: past, job: job) == job.id)
        var other = job
        other.id = JobID.generate()
        #expect(try backend.claimFire(schedule: "tick", at: past, job: other) == nil)
        #expect(try backend.claimFire(schedule: "tick", at: past.addingTimeInterval(-5), job: other) == nil)
        #expect(try backend.lastFire(schedule: "tick", queue: "default")?.jobID == job.id)
        #expect(try backend.stats(queue: "default").ready == 1)
    }

    /// `overlap: skip` (the default) with nothing running the jobs: the first fire's job stays ready, so
    /// every later fire time is claimed and recorded skipped, naming it, and no second job appears.
    @Test func skipRecordsFiresWhileThePreviousRunIsReady() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let config = try Self.config(redis: redis, overlap: "skip")
        let backend = Self.backend(redis)
        let scheduler = Scheduler(config: config, backends: ["main": Self.backend(redis)], logger: Self.quiet, tick: .milliseconds(50))
        scheduler.start()
        try await waitUntil("three fires skipped") {
            try backend.recentFires(schedule: "tick", queue: "default", limit: 10).filter(\.skipped).count >= 3
        }
        scheduler.stop()
        let jobs = try Self.fires(backend)
        #expect(jobs.count == 1, "jobs of tick: \(jobs)")
        // The one run, found among the jobs: on a slow machine its fire may have left the last ten.
        let run = try #require(try backend.list(queue: "default", state: .ready, offset: 0, limit: 100).first {
            $0.origin?.hasPrefix("schedule tick ") == true
        })
        let fires = try backend.recentFires(schedule: "tick", queue: "default", limit: 10)
        #expect(fires.filter { !$0.skipped }.allSatisfy { $0.jobID == run.id }, "one run fired: \(fires)")
        #expect(fires.filter(\.skipped).allSatisfy { $0.jobID == run.id }, "skips name the live run: \(fires)")
    }

    /// `overlap: queue`: every fire enqueues, each job under the schedule's concurrency key, so only one
    /// of them runs at a time.
    @Test func queueEnqueuesEveryFireUnderTheSchedulesKey() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let config = try Self.config(redis: redis, overlap: "queue")
        let backend = Self.backend(redis)
        let scheduler = Scheduler(config: config, backends: ["main": Self.backend(redis)], logger: Self.quiet, tick: .milliseconds(50))
        scheduler.start()
        try await waitUntil("three fires of tick enqueued") { try Self.fires(backend).count >= 3 }
        scheduler.stop()
        #expect(try backend.recentFires(schedule: "tick", queue: "default", limit: 10).allSatisfy { !$0.skipped })
        var leased: [LeasedJob] = []
        while true {
            let batch = try backend.fetch(queue: "default", limit: 100, lease: .seconds(60))
            if batch.isEmpty { break }
            leased += batch
        }
        let ticks = leased.filter { String(decoding: $0.payload, as: UTF8.self).contains("tick") }
        #expect(ticks.count == 1, "tick jobs running at once: \(ticks.map(\.id))")
    }

}
