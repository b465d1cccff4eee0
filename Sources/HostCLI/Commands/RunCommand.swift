import ArgumentParser
import Foundation
import HostConfig
import Logging
import PluginHost
import Runtime
import ServiceLifecycle

/// `host run`: the host itself.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Runs the host: fetches jobs from every configured queue and runs them on their handlers.",
        discussion: """
            Loads the config and its plugins (refusing to start if any plugin or handler reference is bad, \
            as check-config would report), then runs each queue with its concurrency until SIGTERM or SIGINT. \
            On a signal it stops fetching, waits up to host.shutdown_timeout for running jobs, hands the rest \
            back to the backend without using an attempt, and exits 0. An unreachable backend is retried \
            with backoff; the host keeps running.
            """)

    @OptionGroup var options: ConfigOptions

    @Option(help: ArgumentHelp("Run only these queues (comma-separated).", valueName: "names"))
    var queues: String?

    func run() async throws {
        let path = options.resolvedPath()
        let config: HostConfiguration
        do {
            config = try ConfigLoader().load(path: path)
        } catch {
            for problem in error.diagnostics { printError("\(problem)") }
            printError("\(path): the host does not start with this config")
            throw invalidExitCode
        }
        let logger = HostLogging.bootstrap(config.host)
        let inspection = PluginInspection(config: config, logger: logger)
        var problems = inspection.diagnostics(config: config)
        if problems.isEmpty {
            problems = inspection.handlerDiagnostics(config: config)
        }
        guard problems.isEmpty else {
            for problem in ConfigError(problems).diagnostics { printError("\(problem)") }
            printError("\(path): the host does not start until these are fixed")
            throw invalidExitCode
        }
        let selected = queues.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        if let selected, let unknown = selected.first(where: { name in !config.queues.contains { $0.name == name } }) {
            printError("unknown queue '\(unknown)'; the config defines \(config.queues.map(\.name).joined(separator: ", "))")
            throw ExitCode.validationFailure
        }
        let (backends, unsupported) = Backends.make(config, logger: logger)
        for queue in config.queues where selected?.contains(queue.name) ?? true {
            if let reason = unsupported[queue.backend] {
                logger.error("queue not served: \(reason)", metadata: ["queue": "\(queue.name)", "backend": "\(queue.backend)"])
            }
        }
        let runtime = HostRuntime(
            config: config, backends: backends, registry: inspection.loader.registry, logger: logger, queues: selected)
        let group = ServiceGroup(
            services: [RuntimeService(runtime: runtime)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        try await group.run()
        inspection.loader.shutdown()
    }
}
