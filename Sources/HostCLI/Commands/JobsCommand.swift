import ArgumentParser
import Backend
import Foundation
import HostDomain

/// `host jobs`: look at jobs and act on dead ones, straight on the backend.
struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "Lists jobs by state, shows one, and retries or discards dead ones.",
        subcommands: [List.self, Show.self, Retry.self, Discard.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lists jobs in one state, newest first.")

        @OptionGroup var options: ConfigOptions

        @Option(help: "ready, running, scheduled, done or dead.")
        var state: JobState = .dead

        @Option(help: "Only this queue (default: every queue).")
        var queue: String?

        @Option(help: "At most this many per queue.")
        var limit = 50

        @Flag(help: "Print the result as JSON on stdout.")
        var json = false

        func run() throws {
            let actions = try operatorActions(options)
            var jobs: [JobInfo] = []
            for name in queue.map({ [$0] }) ?? actions.config.queues.map(\.name) {
                jobs += try perform { () throws(OperatorActions.Failure) in try actions.list(queue: name, state: state, offset: 0, limit: limit) }
            }
            if json {
                try printJSON(jobs, snakeCaseKeys: true)
                return
            }
            guard !jobs.isEmpty else {
                print("No \(state.rawValue) jobs.")
                return
            }
            var table = TextTable(headers: ["ID", "QUEUE", "HANDLER", "ATTEMPT", "UPDATED", "LAST ERROR"])
            let formatter = ISO8601DateFormatter()
            for job in jobs {
                table.rows.append([
                    job.id, job.queue, job.handler, "\(job.attempt)/\(job.maxAttempts)",
                    job.updatedAt.map { formatter.string(from: $0) } ?? "-", String((job.lastError ?? "-").prefix(80)),
                ])
            }
            print(table.rendered)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Shows one job: its state, attempts, payload, last error and result, then a table of its last runs.",
            discussion: """
                Each run (the last 25 are kept with the job) shows its attempt number, how it ended (done, retry, dead, \
                timeout, crashed with the signal, lease_lost, released), the host and worker that ran it, when it was \
                leased, how long it ran and its error. --json prints the job as JSON, the runs under "attempts".
                """)

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The job's id.")
        var id: String

        @Option(help: "The job's queue (default: look in every queue).")
        var queue: String?

        @Flag(help: "Print the job as JSON on stdout (snake_case keys, ISO 8601 times), its runs under \"attempts\".")
        var json = false

        func run() throws {
            let actions = try operatorActions(options)
            let (job, _) = try perform { () throws(OperatorActions.Failure) in try actions.job(id: id, queue: queue) }
            if json {
                try printJSON(job, snakeCaseKeys: true)
            } else {
                print(JobReport.rendered(job))
            }
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Moves dead jobs back to ready with fresh attempts.",
            discussion: "host jobs retry ID, or host jobs retry --all [--queue Q] for every dead job.")

        @OptionGroup var target: DeadTarget

        func run() throws {
            try target.apply(.retry)
        }
    }

    struct Discard: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deletes dead jobs for good.",
            discussion: "host jobs discard ID, or host jobs discard --all [--queue Q] for every dead job.")

        @OptionGroup var target: DeadTarget

        func run() throws {
            try target.apply(.discard)
        }
    }

    /// One dead job by id, or all of them.
    struct DeadTarget: ParsableArguments {
        @OptionGroup var options: ConfigOptions

        @Argument(help: "The dead job's id.")
        var id: String?

        @Flag(help: "Every dead job (of --queue, or of every queue).")
        var all = false

        @Option(help: "Only this queue.")
        var queue: String?

        func validate() throws {
            guard (id == nil) != !all else { throw ValidationError("give a job id, or --all (not both)") }
        }

        func apply(_ action: DeadJobAction) throws {
            let actions = try operatorActions(options)
            if let id {
                try perform { () throws(OperatorActions.Failure) in try actions.apply(action, toDeadJob: id, queue: queue) }
                print("\(id): \(action.done)")
                return
            }
            var changed = 0
            var progress = ProgressLine()
            let names = try perform { () throws(OperatorActions.Failure) in try actions.queues(named: queue.map { [$0] } ?? []) }
            for name in queue == nil ? actions.config.queues.map(\.name) : names.map(\.name) {
                changed += try perform({ () throws(OperatorActions.Failure) in
                    try actions.applyToAllDead(action, queue: name) { handled, total in
                        progress.update("\(action.done) \(handled)/\(total) dead jobs of queue \(name)", final: handled == total)
                    }
                }, onFailure: { progress.clear() })  // the error goes on a line of its own
            }
            progress.clear()
            print("\(changed) dead \(changed == 1 ? "job" : "jobs") \(action.done)")
        }
    }
}

extension JobState: ExpressibleByArgument {}
