import ArgumentParser
import Backend
import Foundation
import HostDomain

/// `host jobs`: look at jobs and act on dead ones, straight on the backend.
struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "Lists, shows and searches jobs; cancels pending ones; retries or discards dead ones; discards pending ones in bulk.",
        subcommands: [List.self, Show.self, Search.self, Cancel.self, Retry.self, Discard.self])

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

        func validate() throws {
            try target.check()
        }

        func run() throws {
            try target.apply(.retry)
        }
    }

    struct Discard: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deletes dead jobs for good, or ready or scheduled jobs in bulk.",
            discussion: """
                Dead jobs: host jobs discard ID, or host jobs discard --all [--queue Q] for every dead job.

                Jobs not run yet: host jobs discard --queue Q --state ready|scheduled [--older-than 1h] [--handler H] \
                deletes every ready (or scheduled) job of Q, of handler H, enqueued at least that long ago, with \
                its unique key; running jobs are never touched. It asks for confirmation at a terminal; give --yes \
                to skip that (without a terminal it refuses unless given --yes). It prints how many it discarded.
                """)

        @OptionGroup var target: DeadTarget
        @OptionGroup var pending: PendingTarget

        func validate() throws {
            guard let text = pending.state else {
                try target.check()
                guard !pending.filtersGiven else {
                    throw ValidationError("--older-than, --handler, --yes and --json go with --state ready|scheduled")
                }
                return
            }
            guard let state = JobState(rawValue: text), PendingSelection.states.contains(state) else {
                throw ValidationError(
                    "--state must be ready or scheduled, not \(text): running jobs are never discarded"
                        + (text == JobState.dead.rawValue ? "; for dead jobs give an id or --all" : ""))
            }
            guard target.id == nil, !target.all else { throw ValidationError("--state discards in bulk: give no job id and no --all") }
            guard target.queue != nil else { throw ValidationError("--state needs --queue: a bulk discard works on one queue") }
        }

        func run() throws {
            if let state = pending.pendingState, let queue = target.queue {
                try pending.discard(state, queue: queue, options: target.options)
            } else {
                try target.apply(.discard)
            }
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

        /// Not `validate()`: `discard --state` takes no id and no `--all`.
        func check() throws {
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
