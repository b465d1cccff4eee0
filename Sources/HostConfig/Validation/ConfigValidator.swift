import Scheduling

/// Checks that hold across sections: references resolve, timeouts fit their leases, cron specs parse.
public struct ConfigValidator: Sendable {
    public let config: HostConfiguration

    public init(config: HostConfiguration) { self.config = config }

    private var router: JobRouter { JobRouter(config) }

    /// Problems a config has on its own, before any plugin is loaded.
    public func diagnostics() -> [ConfigDiagnostic] {
        diagnostics(declaredBackends: config.backends.map(\.name), declaredQueues: config.queues.map(\.name))
    }

    /// - Parameters:
    ///   - declaredBackends: every backend name the file declares, including entries that did not parse.
    ///   - declaredQueues: the same for queues.
    func diagnostics(declaredBackends backendNames: [String], declaredQueues queueNames: [String]) -> [ConfigDiagnostic] {
        var found: [ConfigDiagnostic] = []
        func report(_ location: SourceLocation, _ path: String, _ message: String) {
            found.append(ConfigDiagnostic(location: location, keyPath: path, message: message))
        }

        for queue in config.queues where !queue.backend.isEmpty && !backendNames.contains(queue.backend) {
            report(queue.location(of: "backend"), "queues.\(queue.name).backend", unknown("backend", queue.backend, among: backendNames))
        }
        for queue in config.queues where queue.timeout >= queue.lease {
            let key = queue.fieldLocations["timeout"] == nil ? "lease" : "timeout"
            report(queue.location(of: key), "queues.\(queue.name).\(key)",
                "timeout \(queue.timeout.configText) must be shorter than the queue's lease \(queue.lease.configText), or another host would rescue jobs that are still running")
        }
        for route in config.routes {
            let path = "routes.\(quoted(route.pattern))"
            guard let queue = router.queue(named: route.queue) else {
                if !queueNames.contains(route.queue) {
                    report(route.location(of: "queue"), route.isShortForm ? path : "\(path).queue",
                        unknown("queue", route.queue, among: queueNames))
                }
                continue
            }
            if let timeout = route.timeout, timeout >= queue.lease {
                report(route.location(of: "timeout"), "\(path).timeout",
                    "timeout \(timeout.configText) must be shorter than the lease \(queue.lease.configText) of queue '\(queue.name)'")
            }
        }
        for schedule in config.schedules {
            let path = "schedules.\(schedule.name)"
            if case .cron(let expression) = schedule.trigger {
                do {
                    _ = try CronExpression(parsing: expression)
                } catch {
                    report(schedule.location(of: "cron"), "\(path).cron", "invalid cron '\(expression)': \(error)")
                }
            }
            if let queue = schedule.queue, !queueNames.contains(queue) {
                report(schedule.location(of: "queue"), "\(path).queue", unknown("queue", queue, among: queueNames))
            } else if schedule.queue == nil, !queueNames.contains(router.queueName(for: schedule)) {
                report(schedule.location(of: "handler"), "\(path).handler",
                    "no route sends '\(schedule.handler)' to a queue and there is no queue named '\(QueueConfig.defaultName)'; add a route or a 'queue:' here")
            }
        }
        return found
    }

    /// Problems that need the loaded plugins: every routed or scheduled handler must be registered,
    /// and a plugin's default timeout (used when no route sets one) must fit its queue's lease.
    /// - Parameters:
    ///   - registered: the handler names the loaded plugins offer.
    ///   - defaultTimeouts: the timeouts plugins suggest for their handlers.
    public func handlerDiagnostics(registered: Set<String>, defaultTimeouts: [String: Duration] = [:]) -> [ConfigDiagnostic] {
        var found: [ConfigDiagnostic] = []
        // Only where the plugin's default is the timeout that applies: a route's own is checked above.
        for (handler, timeout) in defaultTimeouts.sorted(by: { $0.key < $1.key }) where router.route(for: handler)?.timeout == nil {
            guard let queue = router.queue(for: handler), timeout >= queue.lease else { continue }
            found.append(.init(location: queue.location(of: "lease"), keyPath: "queues.\(queue.name).lease",
                message: "handler '\(handler)' asks for a \(timeout.configText) timeout (its plugin's default), not shorter than this queue's lease \(queue.lease.configText); raise the lease or set routes.\"\(handler)\".timeout"))
        }
        for route in config.routes {
            if route.isWildcard {
                if !registered.contains(where: route.matches) {
                    found.append(.init(location: route.location, keyPath: "routes.\(quoted(route.pattern))",
                        message: "no handler of the loaded plugins matches '\(route.pattern)'"))
                }
            } else if !registered.contains(route.pattern) {
                found.append(.init(location: route.location, keyPath: "routes.\(quoted(route.pattern))",
                    message: unregistered(route.pattern, registered)))
            }
        }
        for schedule in config.schedules where !registered.contains(schedule.handler) {
            found.append(.init(location: schedule.location(of: "handler"), keyPath: "schedules.\(schedule.name).handler",
                message: unregistered(schedule.handler, registered)))
        }
        return found
    }

    private func unregistered(_ handler: String, _ registered: Set<String>) -> String {
        var message = "no loaded plugin registers handler '\(handler)'"
        if let guess = suggestion(for: handler, among: registered.sorted()) { message += "; did you mean '\(guess)'?" }
        return message
    }

    private func unknown(_ what: String, _ name: String, among names: [String]) -> String {
        var message = "unknown \(what) '\(name)'"
        if let guess = suggestion(for: name, among: names) {
            message += "; did you mean '\(guess)'?"
        } else {
            message += names.isEmpty ? "; none are defined" : "; defined: \(names.joined(separator: ", "))"
        }
        return message
    }

    private func quoted(_ key: String) -> String { key.contains(".") ? "\"\(key)\"" : key }
}
