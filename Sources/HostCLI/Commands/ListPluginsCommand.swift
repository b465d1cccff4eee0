import ArgumentParser
import Backend
import Foundation
import HostConfig
import PluginHost
import Supervisor

/// `host list-plugins`: which plugins load, what they offer, and why the others do not.
struct ListPluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-plugins",
        abstract: "Loads the plugins the config names and lists them with their handlers.",
        discussion: """
            Each plugin is looked for as lib<name>.so in $JOBHOST_PLUGIN_PATH, the config's host.plugin_paths, \
            then the directory of the host executable (where `swift build` puts the repository's plugins), \
            unless its entry has a 'path'. STATUS is ok, or the check that refused the plugin and why. \
            The plugins are loaded in a worker process: one whose constructor, entry function or init crashes, \
            exits or does not return within host.plugin_load_timeout is refused naming that step, and the \
            others are still listed. Exits 0 only if every configured plugin loads.
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    @Flag(help: "List each plugin's handlers below the table.")
    var handlers = false

    @Flag(name: .shortAndLong, help: "Log what the loader does, on stderr.")
    var verbose = false

    func run() throws {
        let path = options.resolvedPath()
        let config = try loadConfig(options)
        let inspection: PluginInspection
        do {
            // In a worker process: a plugin that crashes while loading is listed as refused, not fatal here.
            inspection = try PluginInspection.inWorker(config: config, configText: ConfigLoader.readText(path: path), verbose: verbose)
        } catch {
            printError("cannot load the plugins: \(error)")
            throw invalidExitCode
        }
        if json {
            try printJSON(ListReport(
                plugins: inspection.entries.map { entry in
                    ListedPlugin(
                        entry: entry,
                        errors: entry.status == "ok" ? nil : PluginInspection.diagnostics(of: entry, config: config).map(CheckReport.Problem.init))
                },
                searchPaths: inspection.searchPaths))
        } else {
            printTable(inspection, config: config)
        }
        if !inspection.refused.isEmpty { throw invalidExitCode }
    }

    private func printTable(_ inspection: PluginInspection, config: HostConfiguration) {
        guard !inspection.entries.isEmpty else {
            print("No plugins are configured in \(config.file); add them under 'plugins:'.")
            return
        }
        var table = TextTable(headers: ["NAME", "VERSION", "ABI", "HANDLERS", "PATH", "STATUS"])
        for entry in inspection.entries {
            if entry.status == "ok" {
                table.rows.append([entry.name, entry.version ?? "-", entry.abi ?? "-", "\(entry.handlers.count)", entry.path ?? "-", "ok"])
            } else {
                let reason = (entry.reason ?? "refused").split(separator: "\n").joined(separator: "; ")
                table.rows.append([entry.name, "-", "-", "-", entry.path ?? "-", "\(entry.check ?? "load"): \(reason)"])
            }
        }
        print(table.rendered)
        if handlers {
            for plugin in inspection.loaded {
                print("\n\(plugin.name) \(plugin.version ?? ""): \(plugin.description ?? "")")
                var list = TextTable(headers: ["  HANDLER", "TIMEOUT", "QUEUE", "DESCRIPTION"])
                for handler in plugin.handlers {
                    list.rows.append([
                        "  " + handler.name, handler.defaultTimeoutMs.map { Duration.milliseconds($0).configText } ?? "-",
                        JobRouter(config).queue(for: handler.name)?.name ?? "(none)", handler.description,
                    ])
                }
                print(list.rendered)
            }
        }
        if !inspection.refused.isEmpty {
            // Where in the config each refusal points, a config problem at its key, as check-config prints it.
            for problem in ConfigError(inspection.diagnostics(config: config)).diagnostics { printError("\(problem)") }
            printError("\(inspection.refused.count) of \(inspection.entries.count) plugins refused; `host run` would not start")
        }
    }
}

/// `host list-plugins --json`: the survey's entries, each refused one with its problems placed in the
/// config as `host check-config --json` gives them.
private struct ListReport: Encodable {
    let plugins: [ListedPlugin]
    let searchPaths: [String]

    enum CodingKeys: String, CodingKey {
        case plugins, searchPaths = "search_paths"
    }
}

private struct ListedPlugin: Encodable {
    let entry: PluginEntry
    let errors: [CheckReport.Problem]?

    enum CodingKeys: String, CodingKey {
        case errors
    }

    func encode(to encoder: any Encoder) throws {
        // The entry's own keys and `errors` side by side in one object.
        try entry.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(errors, forKey: .errors)
    }
}
