import Foundation
import HostConfig
import Logging
import PluginHost

/// Loads the config's plugins the way `host run` does, for commands that only look at them.
struct PluginInspection {
    let loader: PluginLoader
    let results: [PluginLoadResult]

    init(config: HostConfiguration, logger: Logger) {
        loader = PluginLoader(config: config, logger: logger)
        results = loader.load(config.plugins)
    }

    var loaded: [LoadedPlugin] {
        results.compactMap { if case .loaded(let plugin) = $0 { plugin } else { nil } }
    }

    var refusals: [PluginRefusal] {
        results.compactMap { if case .refused(let refusal) = $0 { refusal } else { nil } }
    }

    /// Routed and scheduled handlers no plugin registers, and plugin timeouts that do not fit a lease.
    func handlerDiagnostics(config: HostConfiguration) -> [ConfigDiagnostic] {
        var timeouts: [String: Duration] = [:]
        for plugin in loaded {
            for handler in plugin.handlers { timeouts[handler.name] = handler.defaultTimeout }
        }
        return ConfigValidator(config: config).handlerDiagnostics(registered: loader.registry.names, defaultTimeouts: timeouts)
    }

    /// Each refusal as a diagnostic at the plugin's entry in the config.
    func diagnostics(config: HostConfiguration) -> [ConfigDiagnostic] {
        refusals.map { refusal in
            let location = config.plugins.first { $0.name == refusal.plugin }?.location
                ?? SourceLocation(file: config.file, line: 1, column: 1)
            let file = refusal.path.map { "\($0): " } ?? ""
            return ConfigDiagnostic(
                location: location, keyPath: "plugins.\(refusal.plugin)",
                message: "\(file)\(refusal.check.rawValue) check failed: \(refusal.reason)")
        }
    }
}
