import ArgumentParser
import Backend
import Foundation
import HostConfig

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
            let (config, backends) = try open(options)
            var jobs: [JobInfo] = []
            for entry in try queues(config, named: queue) {
                jobs += try call { try backend(entry, backends).list(queue: entry.name, state: state, offset: 0, limit: limit) }
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
        static let configuration = CommandConfiguration(abstract: "Shows one job as JSON: state, attempts, crashes, payload, last error, origin.")

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The job's id.")
        var id: String

        @Option(help: "The job's queue (default: look in every queue).")
        var queue: String?

        func run() throws {
            let (config, backends) = try open(options)
            for entry in try queues(config, named: queue) {
                if let job = try call({ try backend(entry, backends).job(queue: entry.name, id: id) }) {
                    try printJSON(job, snakeCaseKeys: true)
                    return
                }
            }
            printError("no job \(id) in \(queue.map { "queue \($0)" } ?? "any queue")")
            throw invalidExitCode
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
            let (config, backends) = try open(options)
            var changed = 0
            var progress = ProgressLine()
            for entry in try queues(config, named: queue) {
                let store = try backend(entry, backends)
                if let id {
                    if try call({ try store.apply(action, queue: entry.name, id: id) }) {
                        print("\(id): \(action.done)")
                        return
                    }
                    continue
                }
                changed += try call { () throws -> Int in
                    do {
                        return try store.applyToAllDead(action, queue: entry.name) { handled, total in
                            progress.update("\(action.done) \(handled)/\(total) dead jobs of queue \(entry.name)", final: handled == total)
                        }
                    } catch {
                        progress.clear()  // the error goes on a line of its own
                        throw error
                    }
                }
            }
            progress.clear()
            if let id {
                printError("no dead job \(id) in \(queue.map { "queue \($0)" } ?? "any queue")")
                throw invalidExitCode
            }
            print("\(changed) dead \(changed == 1 ? "job" : "jobs") \(action.done)")
        }
    }
}

private func open(_ options: ConfigOptions) throws -> (HostConfiguration, [String: any JobBackend]) {
    let config = try loadConfig(options)
    return (config, Backends.make(config, logger: CommandLogging.logger(verbose: false)))
}

private func queues(_ config: HostConfiguration, named name: String?) throws -> [QueueConfig] {
    guard let name else { return config.queues }
    guard let queue = config.queues.first(where: { $0.name == name }) else {
        printError("unknown queue '\(name)'; the config defines \(config.queues.map(\.name).joined(separator: ", "))")
        throw ExitCode.validationFailure
    }
    return [queue]
}

private func backend(_ queue: QueueConfig, _ backends: [String: any JobBackend]) throws -> any JobBackend {
    guard let backend = backends[queue.backend] else {
        printError("queue \(queue.name): backend '\(queue.backend)' is not configured")
        throw invalidExitCode
    }
    return backend
}

/// A backend call whose failure ends the command with the backend's reason.
private func call<Result>(_ body: () throws -> Result) throws -> Result {
    do {
        return try body()
    } catch let error as BackendError {
        printError("backend: \(error)")
        throw ExitCode(2)
    }
}

extension JobState: ExpressibleByArgument {}
