import Backend
import Foundation
import HostConfig
import HostDomain
import Logging
import Scheduling
import Synchronization
import Threads

/// Fires the config's schedules. Every host may run one: a fire enqueues its job only by claiming
/// the fire time in the backend (``ScheduleStore/claimFire(schedule:at:job:)``), where fire times
/// only move forward, so each fire time gives one job however many hosts race for it, and a host that
/// was paused cannot fire again what the others already did. Time is the backend's clock.
///
/// An operator may switch a schedule off in the backend (`host schedules disable`,
/// ``ScheduleStore/setDisabled(schedule:queue:_:)``): the backend then refuses its fire times, in the
/// same atomic step that would record them, and this scheduler moves past them as it does past fire
/// times another host claimed. Fire times that passed while it was off are never fired, not even
/// as a catch-up once it is on again: switching a schedule off is a decision, not an outage.
/// `catch_up` still applies to downtime after it is switched on.
public final class Scheduler: Sendable {
    /// One schedule, resolved: its trigger, its job, and the store that records its fires.
    struct Plan: Sendable {
        let config: ScheduleConfig
        let trigger: ScheduleTrigger
        let job: NewJob
        let backendName: String
        let store: any ScheduleStore
    }

    private let plans: [Plan]
    private let logger: Logger
    private let tick: Duration
    private let grace: Duration
    private let events: (any ScheduleEventSink)?
    private let progress = Mutex(Progress())

    private struct Progress {
        /// The last fire time each schedule has dealt with on this host.
        var cursors: [String: Date] = [:]
        /// The backend's time of each schedule's last successful pass on this host.
        var lastPass: [String: Date] = [:]
        /// Consecutive failed passes per backend, to log an outage once rather than every tick.
        var failures: [String: Int] = [:]
        /// Schedules last seen switched off, to log each switch once.
        var switchedOff: Set<String> = []
    }

    /// A gap between passes longer than this is downtime (this host was stopped or paused, or its
    /// backend unreachable): fire times missed in it follow the schedule's `catch_up`.
    private static let outage = Duration.seconds(5)
    private let ticker = Ticker()
    private let finished = Completion()

    /// - Parameters:
    ///   - tick: how often due fire times are looked for.
    ///   - grace: after downtime, a fire time that passed more than this long ago is missed: skipped,
    ///     or run once, as the schedule's `catch_up` says. While the host runs normally every fire time
    ///     is fired, however late the pass that sees it.
    ///   - events: told of every pass and fire (metrics, alerts).
    public init(
        config: HostConfiguration, backends: [String: any JobBackend], logger: Logger, tick: Duration = .milliseconds(200),
        grace: Duration = .seconds(1), events: (any ScheduleEventSink)? = nil
    ) {
        var logger = logger
        logger[metadataKey: "component"] = "scheduler"
        self.logger = logger
        self.tick = tick
        self.grace = grace
        self.events = events
        let submitter = JobSubmitter(config: config, backends: backends)
        var plans: [Plan] = []
        for schedule in config.schedules where schedule.enabled {
            do {
                let (job, _) = try submitter.prepare(.init(
                    handler: schedule.handler, payload: Data(schedule.payloadJSON.utf8), queue: schedule.queue))
                guard let queue = JobRouter(config).queue(named: job.queue), let store = backends[queue.backend] as? any ScheduleStore
                else {
                    logger.error("schedule not fired: its backend cannot record fires", metadata: ["schedule": "\(schedule.name)"])
                    continue
                }
                plans.append(Plan(
                    config: schedule, trigger: try Self.trigger(schedule), job: job, backendName: queue.backend, store: store))
            } catch {
                logger.error("schedule not fired: \(error)", metadata: ["schedule": "\(schedule.name)"])
            }
        }
        self.plans = plans
    }

    static func trigger(_ schedule: ScheduleConfig) throws -> ScheduleTrigger {
        switch schedule.trigger {
        case .cron(let text): .cron(try CronExpression(parsing: text), schedule.timeZone)
        case .every(let interval): .every(interval)
        }
    }

    public func start() {
        guard !plans.isEmpty else {
            finished.finish()
            return
        }
        startThread(name: "jobhost.scheduler") { [self] in
            ticker.repeatEvery(tick) { runOnce() }
            finished.finish()
        }
        logger.info("scheduler running", metadata: ["schedules": "\(plans.map(\.config.name).joined(separator: ", "))"])
    }

    public func stop() {
        ticker.stop()
        finished.wait(until: .now + .seconds(5))
    }

    /// One pass: fires every schedule's due fire times. Blocks on backend calls; tests call it directly.
    /// - Returns: the ids of the jobs this pass enqueued.
    @discardableResult
    public func runOnce() -> [String] {
        // One clock reading per backend and pass; a backend that fails is skipped for the rest of it.
        var clocks: [String: Result<Date, BackendError>] = [:]
        var fired: [String] = []
        for plan in plans {
            let clock = clocks[plan.backendName] ?? Result { () throws(BackendError) in try plan.store.now() }
            clocks[plan.backendName] = clock
            do {
                fired += try fire(plan, now: clock.get())
                progress.withLock { $0.failures[plan.backendName] = 0 }
                events?.passed(schedule: plan.config.name, error: nil)
            } catch {
                events?.passed(schedule: plan.config.name, error: "\(error)")
                let failures = progress.withLock { progress -> Int in
                    progress.failures[plan.backendName, default: 0] += 1
                    return progress.failures[plan.backendName]!
                }
                if [1, 50, 500].contains(failures) || failures % 5000 == 0 {
                    logger.warning("cannot fire; will try again", metadata: [
                        "schedule": "\(plan.config.name)", "backend": "\(plan.backendName)", "error": "\(error)", "failures": "\(failures)",
                    ])
                }
            }
        }
        return fired
    }

    private func fire(_ plan: Plan, now: Date) throws -> [String] {
        let name = plan.config.name
        let (known, lastPass) = progress.withLock { ($0.cursors[name], $0.lastPass[name]) }
        var cursor: Date
        if let known {
            cursor = known
        } else {
            // The first pass of this host: continue after the last fire any host recorded; a schedule
            // never fired before starts now, with nothing to catch up.
            cursor = try plan.store.lastFire(schedule: name, queue: plan.job.queue)?.fireTime ?? now
        }
        var fired: [String] = []
        defer {
            progress.withLock {
                $0.cursors[name] = cursor
                $0.lastPass[name] = now
            }
        }

        let resuming = lastPass.map { now.timeIntervalSince($0) > Self.outage.seconds } ?? true
        if resuming, let missed = plan.trigger.previousFire(atOrBefore: now.addingTimeInterval(-grace.seconds)), missed > cursor {
            switch plan.config.catchUp {
            case .once:
                if let id = try claim(plan, missed, catchUp: true, now: now) { fired.append(id) }
            case .skip:
                logger.notice("missed fire times skipped", metadata: ["schedule": "\(name)", "through": "\(iso(missed))"])
            }
            cursor = missed
        }
        for fireTime in plan.trigger.fireTimes(after: cursor, through: now, limit: 100) {
            if let id = try claim(plan, fireTime, catchUp: false, now: now) { fired.append(id) }
            cursor = fireTime
        }
        return fired
    }

    private func claim(_ plan: Plan, _ fireTime: Date, catchUp: Bool, now: Date) throws -> String? {
        var job = plan.job
        job.id = JobID.generate()
        job.origin = "schedule \(plan.config.name) \(iso(fireTime))\(catchUp ? " (catch-up)" : "")"
        // `skip` and `queue` jobs both carry the schedule's key: a manual trigger's job (which carries it
        // too) never runs beside a fired one. `skip` enqueues nothing while the last fire's run is live.
        job.concurrency = plan.config.concurrency.map { ConcurrencyLimit(key: $0.key, limit: $0.limit) }
        let overlap: FireOverlap = plan.config.overlap == .skip ? .skip : .allow
        let claim = try plan.store.claimFire(schedule: plan.config.name, at: fireTime, job: job, overlap: overlap)
        if case .skipped(let previous) = claim {
            logger.notice("fire skipped: the previous run is still pending or running (overlap: skip)", metadata: [
                "schedule": "\(plan.config.name)", "fire_time": "\(iso(fireTime))", "running.job.id": "\(previous)",
                "catch_up": "\(catchUp)",
            ])
            events?.skipped(schedule: plan.config.name, at: fireTime)
            noteSwitch(plan, off: false)
            return nil
        }
        let id = claim.firedJobID
        if let id {
            logger.info("fired", metadata: [
                "schedule": "\(plan.config.name)", "fire_time": "\(iso(fireTime))", "job.id": "\(id)", "catch_up": "\(catchUp)",
            ])
            events?.fired(schedule: plan.config.name, at: fireTime, lag: .seconds(max(0, now.timeIntervalSince(fireTime))))
            noteSwitch(plan, off: false)
        } else {
            // Another host fired it, or the schedule is switched off: only the log tells them apart.
            noteSwitch(plan, off: try plan.store.scheduleSwitch(schedule: plan.config.name, queue: plan.job.queue).disabled)
        }
        return id
    }

    /// Logs when a schedule is first seen switched off, and on again.
    private func noteSwitch(_ plan: Plan, off: Bool) {
        let name = plan.config.name
        let changed = progress.withLock { progress in
            off ? progress.switchedOff.insert(name).inserted : progress.switchedOff.remove(name) != nil
        }
        guard changed else { return }
        if off {
            logger.notice("schedule switched off: its fire times are skipped until `host schedules enable \(name)`", metadata: ["schedule": "\(name)"])
        } else {
            logger.notice("schedule switched on again: fires from here on", metadata: ["schedule": "\(name)"])
        }
    }

    /// The next `count` fire times of each enabled schedule after `date`, for `host schedules`.
    public func upcoming(after date: Date, count: Int) -> [String: [Date]] {
        var result: [String: [Date]] = [:]
        for plan in plans {
            var times: [Date] = []
            var from = date
            while times.count < count, let next = plan.trigger.nextFire(after: from) {
                times.append(next)
                from = next
            }
            result[plan.config.name] = times
        }
        return result
    }
}

func iso(_ date: Date) -> String {
    ISO8601DateFormatter().string(from: date)
}
