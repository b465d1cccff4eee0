import Backend
import Foundation
import HostConfig
import Logging
import PluginHost
import Supervisor

/// What loading the config's plugins found: each plugin loaded (with its handlers) or refused (with
/// the check that failed). Taken in a worker process, so that a plugin that crashes while loading is
/// reported by name, or in this process when its handlers will run here.
struct PluginInspection {
    let entries: [PluginEntry]
    let searchPaths: [String]
    /// Set when the plugins were loaded in this process: the handlers of thread-isolated queues run on it.
    let loader: PluginLoader?

    /// Loads the plugins here.
    static func inProcess(config: HostConfiguration, logger: Logger) -> PluginInspection {
        let loader = PluginLoader(config: config, logger: logger)
        let results = loader.load(config.plugins)
        return PluginInspection(entries: results.map(PluginEntry.init), searchPaths: loader.searchPaths.map(\.path), loader: loader)
    }

    /// Loads the plugins in a worker process. A plugin that ends that process is refused (check
    /// `crash`) and the survey runs again without it, so every other plugin is still reported.
    /// - Parameter verbose: the worker logs what the loader does, on stderr.
    static func inWorker(config: HostConfiguration, configText: String, verbose: Bool = false) throws -> PluginInspection {
        var crashed: [PluginEntry] = []
        while true {
            do {
                let json = try PluginSurvey.run(
                    executable: HostExecutable.path, configFile: config.file, configText: configText,
                    skipping: crashed.map(\.name), verbose: verbose)
                let report = try JSONDecoder().decode(ListReport.self, from: Data(json.utf8))
                let entries = config.plugins.compactMap { plugin in
                    crashed.first { $0.name == plugin.name } ?? report.plugins.first { $0.name == plugin.name }
                }
                return PluginInspection(entries: entries, searchPaths: report.searchPaths, loader: nil)
            } catch let failure as PluginSurvey.Failure {
                guard let plugin = failure.plugin, !crashed.contains(where: { $0.name == plugin }) else { throw failure }
                crashed.append(PluginEntry(refusal: PluginRefusal(
                    plugin: plugin, path: nil, check: .crashed,
                    reason: "the process loading it ended (\(failure.exit)); a constructor or init of the plugin crashed or exited")))
            }
        }
    }

    var loaded: [PluginEntry] { entries.filter { $0.status == "ok" } }
    var refused: [PluginEntry] { entries.filter { $0.status != "ok" } }

    /// Routed and scheduled handlers no plugin registers, and plugin timeouts that do not fit a lease.
    func handlerDiagnostics(config: HostConfiguration) -> [ConfigDiagnostic] {
        var timeouts: [String: Duration] = [:]
        var names: Set<String> = []
        for plugin in loaded {
            for handler in plugin.handlers {
                names.insert(handler.name)
                timeouts[handler.name] = handler.defaultTimeoutMs.map { .milliseconds($0) }
            }
        }
        return ConfigValidator(config: config).handlerDiagnostics(registered: names, defaultTimeouts: timeouts)
    }

    /// Each refusal as a diagnostic at the plugin's entry in the config.
    func diagnostics(config: HostConfiguration) -> [ConfigDiagnostic] {
        refused.map { entry in
            let location = config.plugins.first { $0.name == entry.name }?.location
                ?? SourceLocation(file: config.file, line: 1, column: 1)
            let file = entry.path.map { "\($0): " } ?? ""
            return ConfigDiagnostic(
                location: location, keyPath: "plugins.\(entry.name)",
                message: "\(file)\(entry.check ?? "load") check failed: \(entry.reason ?? "refused")")
        }
    }
}

/// The plugins as `host list-plugins --json` prints them, and as a worker reports its survey.
struct ListReport: Codable {
    let plugins: [PluginEntry]
    let searchPaths: [String]

    enum CodingKeys: String, CodingKey {
        case plugins, searchPaths = "search_paths"
    }

    /// As `list-plugins --json` prints it, on one line (the survey line a worker writes).
    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func surveyJSON(loader: PluginLoader, results: [PluginLoadResult]) -> String {
        ListReport(plugins: results.map(PluginEntry.init), searchPaths: loader.searchPaths.map(\.path)).json
    }
}

struct PluginEntry: Codable {
    struct Handler: Codable {
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

    init(_ result: PluginLoadResult) {
        switch result {
        case .loaded(let plugin):
            self.init(
                name: plugin.name, declaredName: plugin.declaredName, version: plugin.version, abi: plugin.abiVersion,
                description: plugin.description, path: plugin.path, status: "ok", check: nil, reason: nil,
                handlers: plugin.handlers.map {
                    .init(name: $0.name, description: $0.description, defaultTimeoutMs: $0.defaultTimeout?.inMilliseconds)
                })
        case .refused(let refusal):
            self.init(refusal: refusal)
        }
    }

    init(refusal: PluginRefusal) {
        self.init(
            name: refusal.plugin, declaredName: nil, version: nil, abi: nil, description: nil, path: refusal.path,
            status: "refused", check: refusal.check.rawValue, reason: refusal.reason, handlers: [])
    }

    init(
        name: String, declaredName: String?, version: String?, abi: String?, description: String?, path: String?, status: String,
        check: String?, reason: String?, handlers: [Handler]
    ) {
        self.name = name
        self.declaredName = declaredName
        self.version = version
        self.abi = abi
        self.description = description
        self.path = path
        self.status = status
        self.check = check
        self.reason = reason
        self.handlers = handlers
    }
}

/// The running host executable, which worker processes are started from.
enum HostExecutable {
    static var path: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
