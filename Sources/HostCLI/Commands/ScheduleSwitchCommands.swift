import ArgumentParser
import Foundation
import HostDomain

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
        let actions = try operatorActions(options)
        // Every name is checked before anything changes: a typo must not leave half of them switched.
        let named = try perform { () throws(OperatorActions.Failure) in try actions.schedules(named: schedules) }
        try changeEach(named, json: json) { schedule throws(OperatorActions.Failure) in
            let queue = try actions.setDisabled(schedule: schedule.name, disabled)
            if !disabled && !schedule.enabled {
                printError("\(schedule.name): still silent: \(actions.config.file) says enabled: false for it")
            }
            return (
                Result(schedule: schedule.name, queue: queue, disabled: disabled, error: nil),
                "\(schedule.name): \(disabled ? "disabled; it fires nothing until `host schedules enable \(schedule.name)`" : "enabled")")
        } failed: { schedule, error in
            (Result(schedule: schedule.name, queue: actions.home(of: schedule).queue, disabled: nil, error: "\(error)"),
             "\(schedule.name): not \(disabled ? "disabled" : "enabled"): \(error)")
        }
    }

    /// One schedule's outcome; `disabled` is its switch now, absent when the change failed.
    struct Result: Encodable {
        let schedule: String
        let queue: String
        let disabled: Bool?
        let error: String?
    }
}
