import ArgumentParser
import Backend
import Foundation
import HostConfig
import Runtime
import Scheduler

/// `host schedules`: what fires when, and how the last fire went.
struct SchedulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedules",
        abstract: "Lists the schedules: spec, time zone, next three fire times, last fire and its job's outcome.",
        discussion: """
            Fire times are computed from the backend's clock (the one the scheduler uses), falling back to \
            this machine's when the backend cannot be reached. LAST shows the last recorded fire and the \
            state of the job it enqueued (ready, running, scheduled, done, dead, or pruned once its \
            retention passed).
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    func run() throws {
        let config = try loadConfig(options)
        let backends = Backends.make(config, logger: CommandLogging.logger(verbose: false))
        let scheduler = Scheduler(config: config, backends: backends, logger: CommandLogging.logger(verbose: false))
        var rows: [Row] = []
        var clocks: [String: Date] = [:]
        for schedule in config.schedules {
            let queueName = schedule.queue ?? config.route(for: schedule.handler)?.queue ?? QueueConfig.defaultName
            let backendName = config.queues.first { $0.name == queueName }?.backend ?? ""
            let backend = backends[backendName]
            let store = backend as? any ScheduleStore
            // The backend's clock, read once per backend; this machine's when the backend is unreachable.
            let backendClock = clocks[backendName] ?? (try? store?.now())
            clocks[backendName] = backendClock
            let now = backendClock ?? Date()
            var row = Row(
                name: schedule.name, spec: "\(schedule.trigger)", timeZone: schedule.timeZone.identifier, handler: schedule.handler,
                queue: queueName, enabled: schedule.enabled, catchUp: schedule.catchUp.rawValue,
                next: schedule.enabled ? (scheduler.upcoming(after: now, count: 3)[schedule.name] ?? []) : [])
            if backendClock == nil { row.error = "backend '\(backendName)' unreachable; next fire times use this machine's clock" }
            do {
                if backendClock != nil, let last = try store?.lastFire(schedule: schedule.name, queue: queueName) {
                    row.lastFire = last.fireTime
                    row.lastJob = last.jobID
                    row.lastOutcome = try backend?.job(queue: queueName, id: last.jobID)?.state.rawValue ?? "pruned"
                }
            } catch {
                row.error = "\(error)"
            }
            rows.append(row)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            if rows.contains(where: { $0.error != nil }) { throw ExitCode(2) }
            return
        }
        guard !rows.isEmpty else {
            print("No schedules in \(config.file).")
            return
        }
        let formatter = ISO8601DateFormatter()
        var table = TextTable(headers: ["NAME", "SPEC", "TIME ZONE", "HANDLER", "NEXT", "LAST"])
        for row in rows {
            let next = row.enabled ? row.next.map { formatter.string(from: $0) }.joined(separator: ", ") : "disabled"
            let last = row.error.map { "error: \($0)" }
                ?? row.lastFire.map { "\(formatter.string(from: $0)) \(row.lastOutcome ?? "")" } ?? "never"
            table.rows.append([row.name, row.spec, row.timeZone, row.handler, next, last])
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
        let enabled: Bool
        let catchUp: String
        let next: [Date]
        var lastFire: Date?
        var lastJob: String?
        var lastOutcome: String?
        var error: String?

        enum CodingKeys: String, CodingKey {
            case name, spec, timeZone = "time_zone", handler, queue, enabled, catchUp = "catch_up", next, lastFire = "last_fire"
            case lastJob = "last_job", lastOutcome = "last_outcome", error
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
        let config = try loadConfig(options)
        guard let entry = config.schedules.first(where: { $0.name == schedule }) else {
            printError("no schedule named '\(schedule)'; the config has: \(config.schedules.map(\.name).joined(separator: ", "))")
            throw ExitCode.validationFailure
        }
        let submitter = JobSubmitter(config: config, backends: Backends.make(config, logger: CommandLogging.logger(verbose: false)))
        do {
            print(try submitter.submit(.init(
                handler: entry.handler, payload: Data(entry.payloadJSON.utf8), queue: entry.queue,
                origin: "manual trigger of schedule \(entry.name)")))
        } catch let refusal as JobSubmitter.Refusal {
            printError("trigger refused: \(refusal)")
            throw invalidExitCode
        } catch {
            printError("trigger failed: \(error); nothing was enqueued")
            throw ExitCode(2)
        }
    }
}
