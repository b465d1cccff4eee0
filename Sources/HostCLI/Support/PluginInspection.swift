import Backend
import Foundation
import HostConfig
import HostDomain
import Logging
import PluginHost
import Supervisor

/// What loading the config's plugins found: each plugin loaded (with its handlers) or refused (with
/// the check that failed). Taken in a worker process, so that a plugin that crashes while loading is
/// reported by name.
struct PluginInspection {
    let entries: [PluginEntry]
    let searchPaths: [String]
    /// Loads the plugins in a worker process. A plugin that ends that process, or hangs a step of
    /// loading past `host.plugin_load_timeout`, is refused (checks `crash`, `exit`, `hang`) naming its
    /// file and the step, and every other plugin is still reported.
    /// - Parameter verbose: the worker logs what the loader does, on stderr.
    static func inWorker(config: HostConfiguration, configText: String, verbose: Bool = false) throws -> PluginInspection {
        let report = try PluginSurvey.run(executable: HostExecutable.path, config: config, configText: configText, verbose: verbose)
        return PluginInspection(entries: report.plugins, searchPaths: report.searchPaths)
    }

    var loaded: [PluginEntry] { entries.filter { $0.status == "ok" } }
    var refused: [PluginEntry] { entries.filter { $0.status != "ok" } }

    /// The handlers of the loaded plugins, as ``RoutePublisher`` publishes them.
    var publishedHandlers: [RoutePublisher.Handler] {
        loaded.flatMap(\.handlers).map { RoutePublisher.Handler(name: $0.name, defaultTimeout: $0.defaultTimeoutMs.map { .milliseconds($0) }) }
    }

    /// Routed and scheduled handlers no plugin registers.
    func handlerDiagnostics(config: HostConfiguration) -> [ConfigDiagnostic] {
        ConfigValidator(config: config).handlerDiagnostics(registered: Set(loaded.flatMap { $0.handlers.map(\.name) }))
    }

    /// Each refusal as diagnostics: the problems a plugin's `init` reported with its config block
    /// (`config.<key>: <message>` lines, see jobhost.h) at their keys, anything else at the plugin's entry.
    func diagnostics(config: HostConfiguration) -> [ConfigDiagnostic] {
        refused.flatMap { Self.diagnostics(of: $0, config: config) }
    }

    static func diagnostics(of entry: PluginEntry, config: HostConfiguration) -> [ConfigDiagnostic] {
        let plugin = config.plugins.first { $0.name == entry.name }
        let location = plugin?.location ?? SourceLocation(file: config.file, line: 1, column: 1)
        let file = entry.path.map { "\($0): " } ?? ""
        var reason = entry.reason ?? "refused"
        var placed: [ConfigDiagnostic] = []
        if entry.check == PluginRefusal.Check.initFailed.rawValue, let plugin {
            let found = plugin.diagnostics(forInitError: reason)
            placed = found.placed
            if found.otherLines.isEmpty && !placed.isEmpty { return placed }
            reason = found.otherLines.joined(separator: "; ")
        }
        return placed + [
            ConfigDiagnostic(
                location: location, keyPath: "plugins.\(entry.name)", message: "\(file)\(entry.check ?? "load") check failed: \(reason)")
        ]
    }
}

/// The running host executable, which worker processes are started from.
enum HostExecutable {
    static var path: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
