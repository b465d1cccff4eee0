import ArgumentParser
import Backend
import Foundation
import HostConfig
import HostDomain
import Logs

/// `host routes`: the routes running hosts published to the backends, for producers that enqueue
/// without a queue, beside what this config says.
struct RoutesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routes",
        abstract: "Shows the routes hosts published to each backend, which SQL and plain-Redis enqueues without a queue use.",
        discussion: """
            Every running host publishes, for each handler of its plugins, the queue its jobs go to, the \
            attempts a new job gets there and its timeout, at start and every minute; the last host to \
            write a handler's route wins. A producer that enqueues without a queue (jobhost.enqueue on \
            PostgreSQL, FCALL jobhost_enqueue on Redis, the enqueue view on SQLite) gets that route; a \
            handler without one is refused.

            PUBLISHED BY and AGE say which host wrote the route last and when. A route no host has \
            refreshed for three minutes is STALE: no running host serves the handler any more (or every \
            host serving it is down); it stays, so producers' jobs still land where they did. CONFIG \
            compares it with this config's routing of the handler: same, or what this config would \
            publish instead (a host with an older or newer config wrote last).
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    /// A route not refreshed for this long is one no running host publishes.
    static let staleAfter = RoutePublisher.refreshEvery * 3

    func run() throws {
        let config = try loadConfig(options)
        let backends = Backends.make(config, logger: CommandLogging.logger(verbose: false))
        let router = JobRouter(config)
        var rows: [Row] = []
        var failures: [(backend: String, error: String)] = []
        for entry in config.backends {
            guard let store = backends[entry.name] as? any RouteStore else { continue }
            do {
                let now = Date()
                for route in try store.publishedRoutes() {
                    let configQueue = router.queue(for: route.entry.handler)
                    rows.append(Row(
                        backend: entry.name, route: route, ageMs: max(0, Int64(now.timeIntervalSince(route.publishedAt) * 1000)),
                        configQueue: configQueue?.name,
                        configMaxAttempts: configQueue.map { router.maxAttempts(for: route.entry.handler, queue: $0) }))
                }
            } catch {
                failures.append((entry.name, "\(error)"))
            }
        }
        if json {
            try printJSON(Output(routes: rows, errors: failures.map { ["backend": $0.backend, "error": $0.error] }))
        } else {
            var table = TextTable(headers: ["BACKEND", "HANDLER", "QUEUE", "ATTEMPTS", "TIMEOUT", "PUBLISHED BY", "AGE", "STATUS", "CONFIG"])
            for row in rows {
                let route = row.route.entry
                table.rows.append([
                    row.backend, route.handler, route.queue, "\(route.maxAttempts)", route.timeout.configText, row.route.publishedBy,
                    Duration.seconds(row.ageMs / 1000).configText, row.stale ? "stale" : "fresh", row.configText,
                ])
            }
            if rows.isEmpty {
                print("no routes published yet: a host publishes its routes when it starts (host run)")
            } else {
                print(table.rendered)
            }
            for failure in failures { printError("backend '\(failure.backend)': \(failure.error)") }
        }
        if !failures.isEmpty { throw ExitCode(2) }
    }

    struct Row: Encodable {
        let backend: String
        let route: PublishedRoute
        let ageMs: Int64
        let configQueue: String?
        let configMaxAttempts: Int?

        var stale: Bool { ageMs > RoutesCommand.staleAfter.inMilliseconds }
        var matchesConfig: Bool { configQueue == route.entry.queue && configMaxAttempts == route.entry.maxAttempts }

        var configText: String {
            if matchesConfig { return "same" }
            guard let configQueue, let configMaxAttempts else { return "no queue in this config" }
            return "queue \(configQueue), \(configMaxAttempts) attempts"
        }

        enum CodingKeys: String, CodingKey {
            case backend, handler, queue, maxAttempts = "max_attempts", timeoutMs = "timeout_ms", publishedBy = "published_by",
                publishedAt = "published_at", ageMs = "age_ms", stale, matchesConfig = "matches_config", configQueue = "config_queue",
                configMaxAttempts = "config_max_attempts"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(backend, forKey: .backend)
            try container.encode(route.entry.handler, forKey: .handler)
            try container.encode(route.entry.queue, forKey: .queue)
            try container.encode(route.entry.maxAttempts, forKey: .maxAttempts)
            try container.encode(route.entry.timeout.inMilliseconds, forKey: .timeoutMs)
            try container.encode(route.publishedBy, forKey: .publishedBy)
            try container.encode(route.publishedAt, forKey: .publishedAt)
            try container.encode(ageMs, forKey: .ageMs)
            try container.encode(stale, forKey: .stale)
            try container.encode(matchesConfig, forKey: .matchesConfig)
            try container.encodeIfPresent(configQueue, forKey: .configQueue)
            try container.encodeIfPresent(configMaxAttempts, forKey: .configMaxAttempts)
        }
    }

    struct Output: Encodable {
        let routes: [Row]
        let errors: [[String: String]]
    }
}
