import ArgumentParser
import Backend
import Foundation
import HostConfig
import HostDomain
import Logs
import Scheduler

/// `host schedules`: what fires when, and how the last fire went; switching schedules off and on.
struct SchedulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedules",
        abstract: "Lists the schedules; switches them off and on.",
        discussion: """
            Without a subcommand, lists the schedules (host schedules list). A schedule switched off \
            (host schedules disable) fires nothing until it is switched on again; the switch is kept in \
            the backend, for every host.
            """,
        subcommands: [List.self, ScheduleDisableCommand.self, ScheduleEnableCommand.self],
        defaultSubcommand: List.self)
}

extension SchedulesCommand {
    /// `host schedules [list]`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lists the schedules: state, spec, time zone, next three fire times, last fire and its job's outcome.",
            discussion: """
                STATE is enabled; disabled since a time (switched off with host schedules disable, kept in the \
                backend); or disabled in config (enabled: false in the file: host schedules enable cannot \
                override that). Fire times are computed from the backend's clock (the one the scheduler \
                uses), falling back to this machine's when the backend cannot be reached. LAST shows the last \
                recorded fire and the state of the job it enqueued (ready, running, scheduled, done, dead, or \
                pruned once its retention passed), or skipped when the fire enqueued nothing because the \
                previous run was still pending or running (overlap: skip), and how many of the last 10 fires \
                were skipped. --json adds overlap and recent_runs: the last 10 fires, newest first, each with \
                fire_time, job_id (for a skipped fire: the run that was still live), state (one of the job \
                states, pruned or skipped), and finished_at and last_error when there are some.
                """)

        @OptionGroup var options: ConfigOptions

        @Flag(help: "Print the result as JSON on stdout.")
        var json = false

        func run() throws {
            let actions = try operatorActions(options)
            let config = actions.config
            let scheduler = Scheduler(config: config, backends: actions.backends, logger: CommandLogging.logger(verbose: false))
            var rows: [Row] = []
            var clocks: [String: Date] = [:]
            for schedule in config.schedules {
                let target = actions.home(of: schedule)
                let backend = target.backend
                let store = target.store
                // The backend's clock, read once per backend; this machine's when the backend is unreachable.
                let backendClock = clocks[target.backendName] ?? (try? store?.now())
                clocks[target.backendName] = backendClock
                let now = backendClock ?? Date()
                var row = Row(
                    name: schedule.name, spec: "\(schedule.trigger)", timeZone: schedule.timeZone.identifier, handler: schedule.handler,
                    queue: target.queue, enabled: schedule.enabled, catchUp: schedule.catchUp.rawValue, overlap: schedule.overlap.rawValue)
                if backendClock == nil { row.error = "backend '\(target.backendName)' unreachable; next fire times use this machine's clock" }
                do {
                    if backendClock != nil, let store {
                        let switched = try store.scheduleSwitch(schedule: schedule.name, queue: target.queue)
                        row.disabled = switched.disabled
                        row.disabledSince = switched.disabled ? switched.changedAt : nil
                        if let last = try store.lastFire(schedule: schedule.name, queue: target.queue) {
                            row.lastFire = last.fireTime
                            row.lastJob = last.jobID
                            row.lastOutcome = try backend?.job(queue: target.queue, id: last.jobID)?.state.rawValue ?? "pruned"
                        }
                        row.recentRuns = actions.recentRuns(of: schedule)
                        if let newest = row.recentRuns?.first, newest.state == .skipped, newest.fireTime == row.lastFire {
                            row.lastOutcome = "skipped"
                        }
                    }
                } catch {
                    row.error = "\(error)"
                }
                if row.active { row.next = scheduler.upcoming(after: now, count: 3)[schedule.name] ?? [] }
                rows.append(row)
            }
            if json {
                try printJSON(rows, snakeCaseKeys: true)
                if rows.contains(where: { $0.error != nil }) { throw ExitCode(2) }
                return
            }
            guard !rows.isEmpty else {
                print("No schedules in \(config.file).")
                return
            }
            let formatter = ISO8601DateFormatter()
            var table = TextTable(headers: ["NAME", "STATE", "SPEC", "TIME ZONE", "HANDLER", "NEXT", "LAST"])
            for row in rows {
                let state = !row.enabled ? "disabled in config"
                    : row.disabled == true ? "disabled since \(row.disabledSince.map { formatter.string(from: $0) } ?? "?")" : "enabled"
                let next = row.active ? row.next.map { formatter.string(from: $0) }.joined(separator: ", ") : "-"
                let skips = row.recentRuns?.filter { $0.state == .skipped }.count ?? 0
                let last = row.error.map { "error: \($0)" }
                    ?? row.lastFire.map {
                        "\(formatter.string(from: $0)) \(row.lastOutcome ?? "")" + (skips > 0 ? " (\(skips) of the last \(row.recentRuns?.count ?? 0) fires skipped)" : "")
                    } ?? "never"
                table.rows.append([row.name, state, row.spec, row.timeZone, row.handler, next, last])
            }
            print(table.rendered)
            if rows.contains(where: { $0.error != nil }) { throw ExitCode(2) }
        }

        struct Row: Encodable {
            let name: String
            let spec: String
            let timeZone: String
            let handler: String
            let queue: String
            /// The config's `enabled`.
            let enabled: Bool
            let catchUp: String
            let overlap: String
            var next: [Date] = []
            /// The backend's switch (`host schedules disable`); nil when it could not be read.
            var disabled: Bool?
            var disabledSince: Date?
            var lastFire: Date?
            var lastJob: String?
            var lastOutcome: String?
            /// The last fires, newest first, with their jobs' states; nil when they could not be read.
            var recentRuns: [OperatorActions.ScheduleRun]?
            var error: String?

            /// Whether the scheduler fires it: enabled in the config and not switched off.
            var active: Bool { enabled && disabled != true }

            enum CodingKeys: String, CodingKey {
                case name, spec, timeZone = "time_zone", handler, queue, enabled, disabled, disabledSince = "disabled_since", active
                case catchUp = "catch_up", overlap, next, lastFire = "last_fire", lastJob = "last_job", lastOutcome = "last_outcome", recentRuns = "recent_runs", error
            }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(name, forKey: .name)
                try container.encode(spec, forKey: .spec)
                try container.encode(timeZone, forKey: .timeZone)
                try container.encode(handler, forKey: .handler)
                try container.encode(queue, forKey: .queue)
                try container.encode(enabled, forKey: .enabled)
                try container.encodeIfPresent(disabled, forKey: .disabled)
                try container.encodeIfPresent(disabledSince, forKey: .disabledSince)
                try container.encode(active, forKey: .active)
                try container.encode(catchUp, forKey: .catchUp)
                try container.encode(overlap, forKey: .overlap)
                try container.encode(next, forKey: .next)
                try container.encodeIfPresent(lastFire, forKey: .lastFire)
                try container.encodeIfPresent(lastJob, forKey: .lastJob)
                try container.encodeIfPresent(lastOutcome, forKey: .lastOutcome)
                try container.encodeIfPresent(recentRuns, forKey: .recentRuns)
                try container.encodeIfPresent(error, forKey: .error)
            }
        }
    }
}

/// `host trigger`: run a schedule's job now, outside its timetable.
struct TriggerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trigger",
        abstract: "Enqueues one job of a schedule now, marked as a manual trigger; prints its id.",
        discussion: "The schedule's own timetable is not touched: its next fire still happens when due.")

    @Argument(help: "The schedule's name, as under `schedules:` in the config.")
    var schedule: String

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let actions = try operatorActions(options)
        print(try perform { () throws(OperatorActions.Failure) in try actions.trigger(schedule: schedule) })
    }
}
