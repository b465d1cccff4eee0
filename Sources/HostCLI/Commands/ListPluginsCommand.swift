import ArgumentParser
import Backend
import Foundation
import HostConfig
import PluginHost

/// `host list-plugins`: which plugins load, what they offer, and why the others do not.
struct ListPluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-plugins",
        abstract: "Loads the plugins the config names and lists them with their handlers.",
        discussion: """
            Each plugin is looked for as lib<name>.so in $JOBHOST_PLUGIN_PATH, the config's host.plugin_paths, \
            then the directory of the host executable (where `swift build` puts the repository's plugins), \
            unless its entry has a 'path'. STATUS is ok, or the check that refused the plugin and why. \
            Exits 0 only if every configured plugin loads.
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    @Flag(help: "List each plugin's handlers below the table.")
    var handlers = false

    @Flag(name: .shortAndLong, help: "Log what the loader does, on stderr.")
    var verbose = false

    func run() throws {
        let config = try loadConfig(options)
        let inspection = PluginInspection(config: config, logger: CommandLogging.logger(verbose: verbose))
        if json {
            try printJSON(inspection)
        } else {
            printTable(inspection, config: config)
        }
        if !inspection.refusals.isEmpty { throw invalidExitCode }
    }

    private func printTable(_ inspection: PluginInspection, config: HostConfiguration) {
        guard !inspection.results.isEmpty else {
            print("No plugins are configured in \(config.file); add them under 'plugins:'.")
            return
        }
        var table = TextTable(headers: ["NAME", "VERSION", "ABI", "HANDLERS", "PATH", "STATUS"])
        for result in inspection.results {
            switch result {
            case .loaded(let plugin):
                table.rows.append([plugin.name, plugin.version, plugin.abiVersion, "\(plugin.handlers.count)", plugin.path, "ok"])
            case .refused(let refusal):
                table.rows.append([refusal.plugin, "-", "-", "-", refusal.path ?? "-", "\(refusal.check.rawValue): \(refusal.reason)"])
            }
        }
        print(table.rendered)
        if handlers {
            for plugin in inspection.loaded {
                print("\n\(plugin.name) \(plugin.version): \(plugin.description)")
                var list = TextTable(headers: ["  HANDLER", "TIMEOUT", "QUEUE", "DESCRIPTION"])
                for handler in plugin.handlers {
                    list.rows.append([
                        "  " + handler.name, handler.defaultTimeout?.configText ?? "-",
                        config.queue(for: handler.name)?.name ?? "(none)", handler.description,
                    ])
                }
                print(list.rendered)
            }
        }
        if !inspection.refusals.isEmpty {
            printError("\(inspection.refusals.count) of \(inspection.results.count) plugins refused; `host run` would not start")
        }
    }

    private func printJSON(_ inspection: PluginInspection) throws {
        let entries = inspection.results.map { result -> PluginEntry in
            switch result {
            case .loaded(let plugin):
                PluginEntry(
                    name: plugin.name, declaredName: plugin.declaredName, version: plugin.version, abi: plugin.abiVersion,
                    description: plugin.description, path: plugin.path, status: "ok", check: nil, reason: nil,
                    handlers: plugin.handlers.map {
                        .init(name: $0.name, description: $0.description, defaultTimeoutMs: $0.defaultTimeout?.inMilliseconds)
                    })
            case .refused(let refusal):
                PluginEntry(
                    name: refusal.plugin, declaredName: nil, version: nil, abi: nil, description: nil, path: refusal.path,
                    status: "refused", check: refusal.check.rawValue, reason: refusal.reason, handlers: [])
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(ListReport(plugins: entries, searchPaths: inspection.loader.searchPaths.map(\.path))), as: UTF8.self))
    }
}

/// `host list-plugins --json`.
struct ListReport: Encodable {
    let plugins: [PluginEntry]
    let searchPaths: [String]

    enum CodingKeys: String, CodingKey {
        case plugins, searchPaths = "search_paths"
    }
}

struct PluginEntry: Encodable {
    struct Handler: Encodable {
        let name: String
        let description: String
        let defaultTimeoutMs: Int64?

        enum CodingKeys: String, CodingKey {
            case name, description, defaultTimeoutMs = "default_timeout_ms"
        }
    }

    let name: String
    let declaredName: String?
    let version: String?
    let abi: String?
    let description: String?
    let path: String?
    let status: String
    let check: String?
    let reason: String?
    let handlers: [Handler]

    enum CodingKeys: String, CodingKey {
        case name, declaredName = "declared_name", version, abi, description, path, status, check, reason, handlers
    }
}
