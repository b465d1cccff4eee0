import ArgumentParser
import Foundation
import HostDomain

/// `host queues pause Q…`: hosts stop starting the queue's jobs, without a restart.
struct QueuePauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pauses queues: no host starts any more of their jobs until they are resumed.",
        discussion: """
            The pause is kept in the queue's backend, so it holds for every host on that backend and \
            across restarts. Hosts stop fetching the queue's jobs from their next fetch, within about a \
            second. Jobs already fetched run to the end and are settled as usual; jobs whose host died are \
            still rescued; producers can still enqueue: the jobs wait as ready. \
            Undo with: host queues resume QUEUE
            """)

    @OptionGroup var target: QueueSwitchTarget

    func run() throws {
        try target.apply(paused: true)
    }
}

/// `host queues resume Q…`: hosts start the queue's jobs again.
struct QueueResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Resumes paused queues: hosts start their jobs again at once.",
        discussion: "Resuming a queue that is not paused changes nothing.")

    @OptionGroup var target: QueueSwitchTarget

    func run() throws {
        try target.apply(paused: false)
    }
}

/// The queues a pause or resume names, and how it reports.
struct QueueSwitchTarget: ParsableArguments {
    @OptionGroup var options: ConfigOptions

    @Argument(help: "The queues, as under `queues:` in the config.")
    var queues: [String]

    @Flag(help: "Print the result as JSON on stdout: [{\"queue\", \"backend\", \"paused\"}].")
    var json = false

    func validate() throws {
        guard !queues.isEmpty else { throw ValidationError("name at least one queue") }
    }

    func apply(paused: Bool) throws {
        let actions = try operatorActions(options)
        // Every name is checked before anything changes: a typo must not leave half the queues switched.
        let named = try perform { () throws(OperatorActions.Failure) in try actions.queues(named: queues) }
        try changeEach(named, json: json) { queue throws(OperatorActions.Failure) in
            try actions.setPaused(queue: queue.name, paused)
            return (
                Result(queue: queue.name, backend: queue.backend, paused: paused, error: nil),
                paused ? "\(queue.name): paused; hosts start none of its jobs until `host queues resume \(queue.name)`" : "\(queue.name): resumed")
        } failed: { queue, error in
            (Result(queue: queue.name, backend: queue.backend, paused: nil, error: "\(error)"),
             "\(queue.name): not \(paused ? "paused" : "resumed"): \(error)")
        }
    }

    /// One queue's outcome; `paused` is its state now, absent when the change failed.
    struct Result: Encodable {
        let queue: String
        let backend: String
        let paused: Bool?
        let error: String?
    }
}
