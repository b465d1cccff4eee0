import ArgumentParser
import Backend
import Foundation
import HostConfig
import Supervisor

/// `host try`: one job on one handler, with no backend, for a plugin team trying its handler.
struct TryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "try",
        abstract: "Runs one job on a handler, without any backend, and shows how it went.",
        discussion: """
            Loads the plugin of the config that offers HANDLER and calls the handler once with the payload, in a \
            worker process of its own started as `host run` starts its workers: a handler that crashes, calls \
            exit() or ignores its cancel flag is reported, not fatal. Nothing is read from or written to a backend; \
            jobs the handler enqueues are checked as `host run` would check them, listed, and not enqueued.

            Prints the plugin, the job, each line the plugin logs (from init and from the handler, every level), \
            then the outcome: success, retry (with the error and the retry delay the handler asked for, if any), \
            discard (with the error), crash, timeout or refused; the handler's result, if it set one; and how long \
            the handler ran. At the timeout the handler's cancel flag goes up; host.timeout_grace later its \
            process is killed.

            Exit status: 0 success; 1 retry or discard; 2 a crash, a timeout, or a refusal (the config, the \
            payload, the plugin, or no plugin offering HANDLER).

            Examples:
              host try greeter.hello '{"name": "Ada"}'
              host try rust.sum @numbers.json --json
              echo '[1, 2, 3]' | host try rust.sum - --timeout 2s
            """)

    @Argument(help: "The handler to run, e.g. greeter.hello.")
    var handler: String

    @Argument(help: ArgumentHelp("The JSON payload, @file, or - for stdin.", valueName: "payload"))
    var payload: String = "{}"

    @OptionGroup var options: ConfigOptions

    @Option(help: ArgumentHelp(
        "When the handler is asked to stop, e.g. 30s. Default: the timeout host run would give the job (its route's, the plugin's, its queue's), else 30s.",
        valueName: "duration"))
    var timeout: String?

    @Option(help: "The attempt the handler is told this is.")
    var attempt = 1

    @Option(help: "The attempts the job has in all. Default: what host run would give it (its route's or queue's policy).")
    var maxAttempts: Int?

    @Option(help: "The job id the handler sees (its idempotency key). Default: a new one.")
    var jobID: String?

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    @Flag(name: .shortAndLong, help: "Log what the loader does, on stderr.")
    var verbose = false

    /// 2: a refusal or a crash, apart from the 1 of a handler's retry or discard.
    static let refusedExitCode = ExitCode(2)

    func validate() throws {
        guard attempt >= 1 else { throw ValidationError("--attempt must be at least 1") }
        if let maxAttempts, maxAttempts < 1 { throw ValidationError("--max-attempts must be at least 1") }
    }

    func run() throws {
        let path = options.resolvedPath()
        let config: HostConfiguration
        let configText: String
        do {
            config = try ConfigLoader().load(path: path)
            configText = try ConfigLoader.readText(path: path)
        } catch {
            for problem in error.diagnostics { printError("\(problem)") }
            printError("\(path): fix the config first (host check-config \(path))")
            throw Self.refusedExitCode
        }
        let body = try readPayload()
        if let problem = jsonProblem(body) { return try refuse(problem) }
        let timeout: Duration?
        do {
            timeout = try self.timeout.map { try Duration(configText: $0) }
        } catch {
            printError("--timeout: \(error)")
            throw ExitCode.validationFailure
        }

        // Which plugin offers the handler: a survey in a worker process, as list-plugins takes it.
        let inspection: PluginInspection
        do {
            inspection = try PluginInspection.inWorker(config: config, configText: configText, verbose: verbose)
        } catch {
            return try refuse("cannot load the plugins: \(error)")
        }
        guard let plugin = inspection.loaded.first(where: { $0.handlers.contains { $0.name == handler } }) else {
            return try refuse(noPluginOffers(inspection))
        }

        let router = JobRouter(config)
        let queue = router.queue(for: handler)
        let pluginDefault = plugin.handlers.first { $0.name == handler }?.defaultTimeoutMs.map { Duration.milliseconds($0) }
        let request = TrialRequest(
            plugin: plugin.name, handler: handler, payload: body, jobID: jobID ?? JobID.generate(),
            queue: router.queueName(for: handler), attempt: attempt,
            maxAttempts: maxAttempts ?? queue.map { router.maxAttempts(for: handler, queue: $0) } ?? max(attempt, 1),
            timeout: timeout ?? queue.map { router.timeout(for: handler, queue: $0, pluginDefault: pluginDefault) }
                ?? router.route(for: handler)?.timeout ?? pluginDefault ?? .seconds(30))

        var printer = TrialPrinter(request: request)
        let report = try HandlerTrial.run(
            executable: HostExecutable.path, configFile: config.file, configText: configText, request: request,
            grace: config.host.timeoutGrace, verbose: verbose
        ) { event in
            if !json { printer.show(event) }
        }
        if json {
            try printTrialJSON(request: request, report: report)
        } else {
            printer.finish(report)
        }
        let status = report.outcome.exitStatus
        if status != 0 { throw ExitCode(status) }
    }

    private func refuse(_ reason: String) throws {
        if json {
            try printTrialJSON(request: nil, report: HandlerTrial.Report(plugin: nil, outcome: .refused(reason)), handler: handler)
        } else {
            printError("try refused: \(reason)")
        }
        throw Self.refusedExitCode
    }

    /// Why no plugin can run the handler: the ones refused, or what the loaded ones offer.
    private func noPluginOffers(_ inspection: PluginInspection) -> String {
        var reason = "no loaded plugin offers handler '\(handler)'"
        if !inspection.refused.isEmpty {
            let refusals = inspection.refused.map { "plugin '\($0.name)': \($0.check ?? "load") check failed: \($0.reason ?? "refused")" }
            reason += "; refused: " + refusals.joined(separator: "; ")
        }
        let offered = inspection.loaded.flatMap { $0.handlers.map(\.name) }.sorted()
        reason += offered.isEmpty ? "; the config's plugins offer no handlers" : "; offered: " + offered.joined(separator: ", ")
        return reason
    }

    private func jsonProblem(_ body: Data) -> String? {
        guard (try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])) == nil else { return nil }
        let preview = String(decoding: body.prefix(60), as: UTF8.self)
        return "the payload is not valid JSON (\(preview.isEmpty ? "empty" : "starts with: \(preview)"))"
    }

    private func readPayload() throws -> Data {
        if payload == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        if payload.hasPrefix("@") {
            let file = String(payload.dropFirst())
            guard let data = FileManager.default.contents(atPath: file) else {
                try refuse("cannot read the payload file \(file)")
                return Data()
            }
            return data
        }
        return Data(payload.utf8)
    }
}

extension HandlerTrial.Outcome {
    /// 0 success; 1 a retry or discard (the handler decided); 2 a crash, timeout or refusal.
    var exitStatus: Int32 {
        switch self {
        case .success: 0
        case .retry, .discard: 1
        case .crashed, .timedOut, .refused: 2
        }
    }
}
