import ArgumentParser
import Backend
import Foundation
import HostConfig

/// `host schedules disable NAME…`: switch schedules off without editing the config or restarting.
struct ScheduleDisableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disable",
        abstract: "Switches schedules off: they fire nothing until enabled again.",
        discussion: """
            The switch is kept in the backend of the queue the schedule's jobs go to, so it holds for \
            every host on that backend, at once and across restarts. Fire times that pass while a \
            schedule is off are never fired, not even when it is enabled again with catch_up: once \
            (catch-up is for downtime, not for a schedule switched off on purpose). Jobs it already \
            enqueued are not touched. Undo with: host schedules enable NAME
            """)

    @OptionGroup var target: ScheduleSwitchTarget

    func run() throws {
        try target.apply(disabled: true)
    }
}

/// `host schedules enable NAME…`: switch schedules back on.
struct ScheduleEnableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enable",
        abstract: "Switches schedules on again: they fire from their next fire time on.",
        discussion: """
            Undoes host schedules disable. A schedule with enabled: false in the config stays silent: \
            change the file for that. Enabling a schedule that is on changes nothing.
            """)

    @OptionGroup var target: ScheduleSwitchTarget

    func run() throws {
        try target.apply(disabled: false)
    }
}

/// Where a schedule's fires and switch are kept: the queue its jobs go to, and that queue's backend.
struct ScheduleTarget {
    let queue: String
    let backendName: String

    /// The queue the scheduler sends the schedule's jobs to: its own, else its handler's route, else
    /// `default`.
    init(_ schedule: ScheduleConfig, config: HostConfiguration) {
        queue = schedule.queue ?? config.route(for: schedule.handler)?.queue ?? QueueConfig.defaultName
        backendName = config.queues.first { [queue] in $0.name == queue }?.backend ?? ""
    }
}

/// The schedules an enable or disable names, and how it reports.
struct ScheduleSwitchTarget: ParsableArguments {
    @OptionGroup var options: ConfigOptions

    @Argument(help: "The schedules, as under `schedules:` in the config.")
    var schedules: [String]

    @Flag(help: "Print the result as JSON on stdout: [{\"schedule\", \"queue\", \"disabled\"}].")
    var json = false

    func validate() throws {
        guard !schedules.isEmpty else { throw ValidationError("name at least one schedule") }
    }

    func apply(disabled: Bool) throws {
        let config = try loadConfig(options)
        // Every name is checked before anything changes: a typo must not leave half of them switched.
        let unknown = schedules.filter { name in !config.schedules.contains { $0.name == name } }
        guard unknown.isEmpty else {
            let names = unknown.map { "'\($0)'" }.joined(separator: ", ")
            let known = config.schedules.isEmpty ? "has no schedules" : "has " + config.schedules.map(\.name).joined(separator: ", ")
            printError("no schedule\(unknown.count == 1 ? "" : "s") named \(names): \(config.file) \(known)")
            throw ExitCode.validationFailure
        }
        let backends = Backends.make(config, logger: CommandLogging.logger(verbose: false))
        var results: [Result] = []
        var failed = false
        for name in schedules {
            let schedule = config.schedules.first { $0.name == name }!
            let target = ScheduleTarget(schedule, config: config)
            do {
                guard let store = backends[target.backendName] as? any ScheduleStore else {
                    throw BackendError(.invalid, "queue '\(target.queue)' has no backend that keeps schedules")
                }
                try store.setDisabled(schedule: name, queue: target.queue, disabled)
                results.append(Result(schedule: name, queue: target.queue, disabled: disabled, error: nil))
                if !json { print("\(name): \(disabled ? "disabled; it fires nothing until `host schedules enable \(name)`" : "enabled")") }
                if !disabled && !schedule.enabled {
                    printError("\(name): still silent: \(config.file) says enabled: false for it")
                }
            } catch {
                failed = true
                results.append(Result(schedule: name, queue: target.queue, disabled: nil, error: "\(error)"))
                printError("\(name): not \(disabled ? "disabled" : "enabled"): \(error)")
            }
        }
        if json {
            try printJSON(results)
        }
        if failed { throw ExitCode(2) }
    }

    /// One schedule's outcome; `disabled` is its switch now, absent when the change failed.
    struct Result: Encodable {
        let schedule: String
        let queue: String
        let disabled: Bool?
        let error: String?
    }
}
