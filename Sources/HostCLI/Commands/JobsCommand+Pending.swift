import ArgumentParser
import Backend
import Foundation
import HostConfig
import HostDomain
#if canImport(Glibc)
import Glibc
#endif

extension JobsCommand {
    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancels a ready or scheduled job: deletes it before it runs, and frees its unique key.",
            discussion: """
                A running job is never cancelled: it runs to the end and settles as usual. A done job has \
                nothing left to cancel; a dead one is discarded instead (host jobs discard ID). Exit status: \
                0 cancelled; 1 running, done, dead or not found; 2 the backend failed.
                """)

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The job's id.")
        var id: String

        @Option(help: "The job's queue (default: look in every queue).")
        var queue: String?

        @Flag(help: ArgumentHelp(
            "Print the outcome as JSON on stdout.",
            discussion: #"{"id", "queue", "result"}: result is cancelled, running, done, dead or not_found; "error" says why not."#))
        var json = false

        struct Answer: Encodable {
            var id: String
            var queue: String?
            var result: String
            var error: String?
        }

        func run() throws {
            let actions = try operatorActions(options)
            let outcome = Result { () throws(OperatorActions.Failure) in try actions.cancel(job: id, queue: queue) }
            switch outcome {
            case .success(let job):
                if json { try printJSON(Answer(id: id, queue: job.queue, result: "cancelled")) } else { print("\(id): cancelled (queue \(job.queue))") }
            case .failure(let failure):
                let result: String? =
                    switch failure {
                    case .notPending(_, let state): state.rawValue
                    case .noSuchJob: "not_found"
                    default: nil
                    }
                if json, let result { try printJSON(Answer(id: id, queue: queue, result: result, error: "\(failure)")) }
                printError("\(failure)")
                throw failure.exitCode
            }
        }
    }

    struct Search: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Finds a queue's jobs by id, by handler, or by text in their payloads.",
            discussion: """
                A job matches when its id or its handler's name equals TEXT, or its payload (the JSON text as \
                stored) contains TEXT, letter case as given; % and _ are plain characters. Every state is \
                searched, newest enqueued first. On Redis only the newest 10,000 jobs of each state are read: \
                the output says when the search was cut short.
                """)

        @OptionGroup var options: ConfigOptions

        @Option(help: "The queue to search.")
        var queue: String

        @Argument(help: "An id, a handler's name, or text to find in payloads.")
        var text: String

        @Option(help: "At most this many jobs (1 to 500).")
        var limit = 50

        @Flag(help: ArgumentHelp(
            "Print the result as JSON on stdout.", discussion: #"{"queue", "query", "jobs": [...], "truncated"}, jobs as host jobs show prints them."#))
        var json = false

        func validate() throws {
            guard !text.isEmpty else { throw ValidationError("give the text to look for") }
            guard (1...500).contains(limit) else { throw ValidationError("--limit must be 1 to 500") }
        }

        struct Answer: Encodable {
            var queue: String
            var query: String
            var jobs: [JobInfo]
            var truncated: Bool
        }

        func run() throws {
            let actions = try operatorActions(options)
            let found = try perform { () throws(OperatorActions.Failure) in try actions.search(queue: queue, text: text, limit: limit) }
            if json {
                try printJSON(Answer(queue: queue, query: text, jobs: found.jobs, truncated: found.truncated), snakeCaseKeys: true)
                return
            }
            if found.jobs.isEmpty {
                print("No job of queue \(queue) matches \"\(text)\".")
            } else {
                var table = TextTable(headers: ["ID", "STATE", "HANDLER", "ENQUEUED", "PAYLOAD"])
                let formatter = ISO8601DateFormatter()
                for job in found.jobs {
                    table.rows.append([job.id, job.state.rawValue, job.handler, formatter.string(from: job.enqueuedAt), String(job.payload.prefix(60))])
                }
                print(table.rendered)
            }
            if found.truncated {
                print("The search was cut short: only the newest jobs of each state were read; older ones may match too.")
            }
        }
    }

    /// A bulk discard of pending jobs (`host jobs discard --state …`).
    struct PendingTarget: ParsableArguments {
        /// Text, not a ``JobState``: the help then lists the two states it takes, not all five.
        @Option(help: ArgumentHelp("Discard ready or scheduled jobs in bulk (with --queue), instead of dead ones.", valueName: "ready|scheduled"))
        var state: String?

        /// The state given, once ``JobsCommand/Discard/validate()`` checked it.
        var pendingState: JobState? { state.flatMap(JobState.init(rawValue:)) }

        @Option(help: ArgumentHelp("Only jobs enqueued at least this long ago: 30s, 5m, 1h, 2d.", valueName: "duration"))
        var olderThan: String?

        @Option(help: "Only jobs of this handler.")
        var handler: String?

        @Flag(help: "Do not ask for confirmation (needed when stdin is not a terminal).")
        var yes = false

        @Flag(help: ArgumentHelp("Print the result as JSON on stdout.", discussion: #"{"queue", "state", "discarded"}"#))
        var json = false

        var filtersGiven: Bool { olderThan != nil || handler != nil || yes || json }

        struct Answer: Encodable {
            var queue: String
            var state: JobState
            var discarded: Int
        }

        func discard(_ state: JobState, queue: String, options: ConfigOptions) throws {
            var age: Duration?
            if let olderThan {
                do {
                    age = try Duration(configText: olderThan)
                } catch {
                    printError("--older-than: \(error)")
                    throw ExitCode.validationFailure
                }
            }
            let selection = PendingSelection(state: state, olderThan: age, handler: handler)
            let actions = try operatorActions(options)
            let (entry, backend) = try perform { () throws(OperatorActions.Failure) in try actions.queue(named: queue) }
            if !yes {
                guard isatty(STDIN_FILENO) == 1 else {
                    printError("not discarding without confirmation: stdin is not a terminal; give --yes to discard")
                    throw ExitCode.validationFailure
                }
                let stats = try perform { () throws(OperatorActions.Failure) in
                    do throws(BackendError) { return try backend.stats(queue: entry.name) } catch { throw .backend(error) }
                }
                let count = state == .ready ? stats.ready : stats.scheduled
                var which = "every \(state.rawValue) job of queue \(queue)"
                if let handler { which += " of handler \(handler)" }
                if let olderThan { which += " enqueued \(olderThan) ago or earlier" }
                FileHandle.standardError.write(Data(
                    "Queue \(queue) has \(count) \(state.rawValue) \(count == 1 ? "job" : "jobs"). Discard \(which)? Running jobs are not touched. [y/N] ".utf8))
                guard let reply = readLine(), ["y", "yes"].contains(reply.trimmingCharacters(in: .whitespaces).lowercased()) else {
                    printError("nothing discarded")
                    throw ExitCode(1)
                }
            }
            var progress = ProgressLine()
            let discarded = try perform({ () throws(OperatorActions.Failure) in
                try actions.discardPending(queue: queue, selection) { total in
                    progress.update("discarded \(total) \(state.rawValue) jobs of queue \(queue)")
                }
            }, onFailure: { progress.clear() })
            progress.clear()
            if json {
                try printJSON(Answer(queue: queue, state: state, discarded: discarded))
            } else {
                print("\(discarded) \(state.rawValue) \(discarded == 1 ? "job" : "jobs") of queue \(queue) discarded")
            }
        }
    }
}
