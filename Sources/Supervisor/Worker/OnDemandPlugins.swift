import HostConfig
import Logging
import PluginHost
import Synchronization

/// The plugins a worker left out at start, loaded when a job of one of their handlers reaches its
/// queue anyway: a producer may name any queue for any handler, and such a job runs as it would on a
/// worker that loaded everything, instead of failing as an unknown handler.
///
/// The survey already loaded each of these plugins in a process of its own, so loading one here is
/// no riskier than a worker's start.
final class OnDemandPlugins: Sendable {
    private let loader: PluginLoader
    /// Handler → the config of the plugin that registers it.
    private let owners: [String: PluginConfig]
    private let logger: Logger
    /// Plugins already tried; held while one loads, so two slots never load the same plugin.
    private let tried = Mutex(Set<String>())

    init(loader: PluginLoader, owners: [String: String], config: HostConfiguration, logger: Logger) {
        self.loader = loader
        let plugins = Dictionary(config.plugins.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.owners = owners.compactMapValues { plugins[$0] }
        self.logger = logger
    }

    /// The handler named, once its plugin is loaded; nil when no surveyed plugin registers it.
    func handler(_ name: String) -> RegisteredHandler? {
        guard let plugin = owners[name] else { return nil }
        return tried.withLock { tried in
            if tried.insert(plugin.name).inserted {
                logger.info(
                    "loading a plugin this worker's queues are not routed to: a job of its handler reached them",
                    metadata: ["plugin": "\(plugin.name)", "job.handler": "\(name)"])
                loader.load(plugin)
            }
            return loader.registry[name]
        }
    }
}
