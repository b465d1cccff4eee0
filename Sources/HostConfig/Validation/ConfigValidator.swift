internal import Spelling
import Scheduling

/// Checks that hold across sections: references resolve, cron specs parse.
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
        for route in config.routes {
            let path = "routes.\(quoted(route.pattern))"
            if router.queue(named: route.queue) == nil, !queueNames.contains(route.queue) {
                report(route.location(of: "queue"), route.isShortForm ? path : "\(path).queue", unknown("queue", route.queue, among: queueNames))
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

    /// Problems that need the loaded plugins: every routed or scheduled handler must be registered.
    /// - Parameter registered: the handler names the loaded plugins offer.
    public func handlerDiagnostics(registered: Set<String>) -> [ConfigDiagnostic] {
        var found: [ConfigDiagnostic] = []
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
