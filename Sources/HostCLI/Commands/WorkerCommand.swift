import ArgumentParser
import Foundation
import Supervisor

/// `host worker`: a worker process of `host run`. Not for people: the supervisor starts it with two
/// pipes open (descriptors 3 and 4) and hands it its assignment and the config text on the first.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Runs handlers for a supervising `host run` (started by it; not for direct use).",
        shouldDisplay: false)

    @Argument(help: "What `ps` shows of this worker: its name, or `survey`. The worker reads its assignment from its control pipe.")
    var label: String?

    func validate() throws {
        guard fcntl(3, F_GETFD) >= 0, fcntl(4, F_GETFD) >= 0 else {
            throw ValidationError("`host worker` is started by `host run`; run that instead")
        }
    }

    func run() throws {
        WorkerMain.run()
    }
}
