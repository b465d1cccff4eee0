import ArgumentParser
import Backend
import Foundation
import HostConfig
import HostDomain
import Logs

/// `host enqueue`: add one job, the way any producer would.
struct EnqueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Enqueues one job and prints its id.",
        discussion: """
            The payload is JSON: given inline, read from a file with @path, or from standard input with -. \
            It defaults to {}. A payload that is not JSON is refused and nothing is enqueued. The job goes to \
            the queue the handler is routed to unless --queue says otherwise.

            --concurrency-key K caps how many jobs of the queue carrying K run at once, across every host \
            of the backend (--concurrency-limit, default 1); the others wait, keeping their place and \
            their attempts, while the queue's other jobs go past them.

            Examples:
              host enqueue greeter.hello '{"name": "Ada"}'
              host enqueue noctua.generate_strategy @brief.json --delay 10m
              echo '{"world_id": 7}' | host enqueue worlds.sync -
              host enqueue worlds.sync '{"world_id": 7}' --concurrency-key world:7
            """)

    @Argument(help: "The handler that runs the job, e.g. greeter.hello.")
    var handler: String

    @Argument(help: ArgumentHelp("The JSON payload, @file, or - for stdin.", valueName: "payload"))
    var payload: String = "{}"

    @OptionGroup var options: ConfigOptions

    @Option(help: "The queue; default: the handler's route.")
    var queue: String?

    @Option(help: ArgumentHelp("Run no earlier than this from now, e.g. 30s, 5m.", valueName: "duration"))
    var delay: String?

    @Option(help: "Runs before the job goes to the dead set; default: the route's or queue's policy.")
    var maxAttempts: Int?

    @Option(help: ArgumentHelp("Timeout of this job, overriding the queue's and handler's.", valueName: "duration"))
    var timeout: String?

    @Option(help: "While a job with this key is pending or running, another is not enqueued.")
    var uniqueKey: String?

    @Option(help: ArgumentHelp("At most --concurrency-limit jobs of the queue with this key run at once.", valueName: "key"))
    var concurrencyKey: String?

    @Option(help: ArgumentHelp("How many jobs with --concurrency-key may run at once (default 1).", valueName: "n"))
    var concurrencyLimit: Int?

    @Flag(help: "Print {\"id\": …, \"queue\": …} instead of the bare id.")
    var json = false

    func run() throws {
        let config = try loadConfig(options)
        let body = try readPayload()
        if concurrencyLimit != nil, concurrencyKey == nil {
            printError("enqueue refused: --concurrency-limit needs --concurrency-key; nothing was enqueued")
            throw invalidExitCode
        }
        let delay = try duration(self.delay, flag: "--delay") ?? .zero
        let timeout = try duration(self.timeout, flag: "--timeout")
        let submitter = JobSubmitter(config: config, backends: Backends.make(config, logger: CommandLogging.logger(verbose: false)))
        let request = JobSubmitter.Request(
            handler: handler, payload: body, queue: queue, delay: delay, maxAttempts: maxAttempts, timeout: timeout,
            uniqueKey: uniqueKey, concurrency: concurrencyKey.map { ConcurrencyLimit(key: $0, limit: concurrencyLimit ?? 1) })
        do {
            let (job, backend) = try submitter.prepare(request)
            guard let id = try backend.enqueue([job]).first else {
                throw BackendError(.server, "the backend returned no id for job \(job.id)")
            }
            if json {
                print(#"{"id": "\#(id)", "queue": "\#(job.queue)"}"#)
            } else {
                print(id)
            }
        } catch let refusal as JobSubmitter.Refusal {
            printError("enqueue refused: \(refusal)")
            throw invalidExitCode
        } catch {
            printError("enqueue failed: \(error); nothing was enqueued")
            throw ExitCode(2)
        }
    }

    private func readPayload() throws -> Data {
        if payload == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        if payload.hasPrefix("@") {
            let file = String(payload.dropFirst())
            guard let data = FileManager.default.contents(atPath: file) else {
                printError("cannot read the payload file \(file)")
                throw invalidExitCode
            }
            return data
        }
        return Data(payload.utf8)
    }

    private func duration(_ text: String?, flag: String) throws -> Duration? {
        guard let text else { return nil }
        do {
            return try Duration(configText: text)
        } catch {
            printError("\(flag): \(error)")
            throw ExitCode.validationFailure
        }
    }
}
