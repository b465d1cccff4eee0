import ArgumentParser
import Foundation
import HostConfig
import PluginHost

/// `host check-config`: everything `host run` would refuse, found before a restart.
struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Checks a config file and the plugins it names, reporting every problem.",
        discussion: """
            Reads the file, expands ${VAR} and ${VAR:-default}, checks every key and value, loads each plugin \
            and checks that every routed or scheduled handler is registered. Prints every problem as \
            file:line:column: key.path: message, then exits 1; prints a summary, then each backend with where \
            its jobs are (a URL with the password masked, or a SQLite file), and exits 0 when all is well.

            Run it before restarting a host: a config that fails here would fail at start.
            """)

    @Argument(help: ArgumentHelp("The config file (overrides --config).", valueName: "file"))
    var file: String?

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Check the file only; do not load plugins (handler names are then not checked).")
    var noPlugins = false

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    @Flag(name: .shortAndLong, help: "Log what the loader does, on stderr.")
    var verbose = false

    func run() throws {
        let path = file ?? options.resolvedPath()
        let config: HostConfiguration
        do {
            config = try ConfigLoader().load(path: path)
        } catch {
            try finish(path: path, problems: error.diagnostics, config: nil, plugins: nil)
            return
        }
        guard !noPlugins else {
            try finish(path: path, problems: [], config: config, plugins: nil)
            return
        }
        let inspection: PluginInspection
        do {
            inspection = try PluginInspection.inWorker(config: config, configText: ConfigLoader.readText(path: path), verbose: verbose)
        } catch {
            printError("cannot load the plugins: \(error)")
            throw invalidExitCode
        }
        var problems = inspection.diagnostics(config: config)
        if inspection.refused.isEmpty {
            problems += inspection.handlerDiagnostics(config: config)
        }
        try finish(path: path, problems: ConfigError(problems).diagnostics, config: config, plugins: inspection)
    }

    private func finish(path: String, problems: [ConfigDiagnostic], config: HostConfiguration?, plugins: PluginInspection?) throws {
        let handlerCount = plugins?.loaded.reduce(0) { $0 + $1.handlers.count }
        let summary = config.map { config in
            var parts = ["\(config.queues.count) \(plural(config.queues.count, "queue"))"]
            if let handlerCount {
                parts.append("\(config.plugins.count) \(plural(config.plugins.count, "plugin")) (\(handlerCount) \(plural(handlerCount, "handler")))")
            } else {
                parts.append("\(config.plugins.count) \(plural(config.plugins.count, "plugin")) (not loaded)")
            }
            parts.append("\(config.schedules.count) \(plural(config.schedules.count, "schedule"))")
            return parts.joined(separator: ", ")
        }
        if json {
            let report = CheckReport(
                file: path, ok: problems.isEmpty, summary: problems.isEmpty ? summary : nil,
                backends: problems.isEmpty ? config?.backends.map(CheckReport.Backend.init) : nil,
                errors: problems.map(CheckReport.Problem.init))
            try printJSON(report)
        } else if problems.isEmpty {
            print("OK: \(summary ?? path)")
            for backend in config?.backends ?? [] { print("backend \(backend.name): \(backend.kind.rawValue) \(backend.address)") }
            if let config { for warning in environmentWarnings(config) { printError("warning: \(warning)") } }
        } else {
            for problem in problems { printError("\(problem)") }
            printError("\(path): \(problems.count) \(plural(problems.count, "problem")) found; the host would refuse to start with this file")
        }
        if !problems.isEmpty { throw invalidExitCode }
    }
}

/// Variables the config names that are not set here. `host run` refuses to start without them; a
/// service manager may set them where this command does not run, so they only warn.
private func environmentWarnings(_ config: HostConfiguration) -> [String] {
    let environment = ProcessInfo.processInfo.environment
    let named = [("admin.token_env", config.admin?.tokenEnv), ("alerts.webhook_url_env", config.alerts.webhookURLEnvironmentVariable)]
    return named.compactMap { key, variable in
        guard let variable, (environment[variable] ?? "").isEmpty else { return nil }
        return "\(key) names \(variable), which is not set here; host run refuses to start without it"
    }
}

/// `host check-config --json`.
struct CheckReport: Encodable {
    struct Problem: Encodable {
        let file: String
        let line: Int
        let column: Int
        let keyPath: String
        let message: String

        init(_ diagnostic: ConfigDiagnostic) {
            file = diagnostic.location.file
            line = diagnostic.location.line
            column = diagnostic.location.column
            keyPath = diagnostic.keyPath
            message = diagnostic.message
        }

        enum CodingKeys: String, CodingKey {
            case file, line, column, keyPath = "key_path", message
        }
    }

    /// Where a backend's jobs are: its URL (password masked) or its SQLite file.
    struct Backend: Encodable {
        let name: String
        let type: String
        let address: String

        init(_ config: BackendConfig) {
            name = config.name
            type = config.kind.rawValue
            address = config.address
        }
    }

    let file: String
    let ok: Bool
    let summary: String?
    let backends: [Backend]?
    let errors: [Problem]
}

func plural(_ count: Int, _ word: String) -> String { count == 1 ? word : word + "s" }
