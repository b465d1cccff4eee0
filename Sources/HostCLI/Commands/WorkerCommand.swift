import ArgumentParser
import Foundation
import HostConfig
import HostDomain
import Supervisor

/// `host worker`: a worker process of `host run`. Not for people: the supervisor starts it with two
/// pipes open (descriptors 3 and 4) and hands it the config text on the first.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Runs handlers for a supervising `host run` (started by it; not for direct use).",
        shouldDisplay: false)

    @Option(help: "The config file the supervisor read (its text comes on descriptor 3).")
    var config: String

    @Option(help: ArgumentHelp("A queue this worker serves, with its handler slots.", valueName: "name=slots"))
    var queue: [String] = []

    @Flag(help: "Load the plugins, report what was found, and exit.")
    var survey = false

    @Option(help: ArgumentHelp("A plugin not to load.", valueName: "name"))
    var skip: [String] = []

    @Flag(help: "With --survey: log what the loader does.")
    var verbose = false

    @Option(help: "The supervisor's PID: the worker exits if its parent is another process.")
    var supervisor: Int32

    @Option(help: "What the logs call this worker.")
    var name = "worker"

    @Option(help: "Resident memory (bytes) past which the supervisor recycles this worker.")
    var memoryLimit: Int?

    @Option(help: "Handler calls after which the worker recycles itself.")
    var maxJobs: Int?

    /// The supervisor passes the format it resolved, so that `host run --log-format` and `auto` reach
    /// every worker's lines too.
    @OptionGroup var format: LogFormatOption

    func validate() throws {
        guard fcntl(3, F_GETFD) >= 0, fcntl(4, F_GETFD) >= 0 else {
            throw ValidationError("`host worker` is started by `host run`; run that instead")
        }
    }

    func run() throws {
        var slots: [String: Int] = [:]
        for entry in queue {
            let parts = entry.split(separator: "=")
            guard parts.count == 2, let count = Int(parts[1]), count > 0 else {
                throw ValidationError("--queue expects name=slots, got '\(entry)'")
            }
            slots[String(parts[0])] = count
        }
        var assignment = WorkerAssignment(
            configFile: config, slots: slots, surveyOnly: survey, supervisorPID: supervisor, memoryLimit: memoryLimit,
            maxJobs: maxJobs, skipped: skip)
        assignment.verbose = verbose
        assignment.name = name
        let format = self.format
        WorkerMain.run(
            assignment, logging: { HostLogging.bootstrap(format.apply(to: $0)) }, makeBackends: Backends.make,
            survey: ListReport.surveyJSON)
    }
}
