import HostConfig

/// Which plugins a worker process loads: those with a handler whose jobs its queues receive.
///
/// A plugin's code, data and the Swift runtime metadata it registers stay mapped for the life of a
/// process (plugins are never unloaded), so a worker that loads every plugin of the config pays for
/// all of them, in each worker. The survey says which handlers each plugin registers; the routes and
/// schedules say which queue each handler's jobs go to.
struct PluginPlacement: Sendable {
    /// Queue name → the plugins its workers load at start, in the config's order.
    let byQueue: [String: [String]]
    /// Handler → plugin, for every handler the survey found.
    let owners: [String: String]
    /// Plugins no queue of this host receives jobs for: no worker loads them at start.
    let unplaced: [String]

    /// - Parameters:
    ///   - survey: what the survey loaded; refused plugins are left out (no worker could load them).
    ///   - queues: the queues run in workers.
    init(config: HostConfiguration, survey: PluginSurveyReport, queues: [QueueConfig]) {
        let router = JobRouter(config)
        let loaded = config.plugins.compactMap { plugin in survey.plugins.first { $0.name == plugin.name && $0.status == "ok" } }
        var owners: [String: String] = [:]
        var receivers: [String: Set<String>] = [:]
        for plugin in loaded {
            for handler in plugin.handlers {
                owners[handler.name] = plugin.name
                receivers[plugin.name, default: []].insert(router.queueName(for: handler.name))
            }
        }
        // A schedule may name a queue of its own for its handler.
        for schedule in config.schedules {
            guard let plugin = owners[schedule.handler] else { continue }
            receivers[plugin, default: []].insert(router.queueName(for: schedule))
        }
        let served = Set(queues.map(\.name))
        byQueue = Dictionary(uniqueKeysWithValues: queues.map { queue in
            (queue.name, loaded.map(\.name).filter { receivers[$0]?.contains(queue.name) == true })
        })
        self.owners = owners
        unplaced = loaded.map(\.name).filter { receivers[$0, default: []].isDisjoint(with: served) }
    }

    /// Handler → plugin for the surveyed plugins a worker of `queue` does not load at start.
    func onDemand(for queue: String) -> [String: String] {
        let loaded = Set(byQueue[queue] ?? [])
        return owners.filter { !loaded.contains($0.value) }
    }
}
