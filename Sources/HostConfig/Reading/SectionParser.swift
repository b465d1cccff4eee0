import Foundation
internal import Spelling
import Yams

/// Reads each top-level section into the model, filling in defaults. Problems are reported to the
/// reader and parsing goes on, so one run lists them all.
struct SectionParser {
    let reader: NodeReader
    let directory: URL

    static let sections = ["host", "backends", "plugins", "queues", "routes", "schedules", "admin", "alerts"]

    /// Names written in the file, including entries too broken to parse: references to them are not
    /// reported again as unknown.
    struct DeclaredNames {
        var backends: [String] = []
        var queues: [String] = []
    }

    func parse(_ root: Node) -> (HostConfiguration, DeclaredNames)? {
        guard let top = reader.fields(of: root, at: .root, allowed: Self.sections) else { return nil }
        let backendEntries = namedEntries(top, "backends")
        let queueEntries = namedEntries(top, "queues")
        let declared = DeclaredNames(backends: backendEntries.map(\.key), queues: queueEntries.map(\.key))
        let host = parseHost(top.entry("host"))
        let backends = backendEntries.compactMap(parseBackend)
        let plugins = namedEntries(top, "plugins").compactMap(parsePlugin)
        let queues = queueEntries.compactMap { parseQueue($0, declaredBackends: declared.backends) }
        let routes = namedEntries(top, "routes").compactMap { parseRoute($0, queues: queues) }
        let schedules = namedEntries(top, "schedules").compactMap(parseSchedule)
        let alerts = parseAlerts(top.entry("alerts"))
        if top.entry("queues") == nil {
            reader.report(root, KeyPath.root.appending("queues"), "no queues are defined: add at least one, e.g. queues: { default: { backend: main } }")
        }
        let config = HostConfiguration(
            file: reader.file, directory: directory, host: host, backends: backends, plugins: plugins,
            queues: queues, routes: routes, schedules: schedules, admin: parseAdmin(top.entry("admin")), alerts: alerts)
        return (config, declared)
    }

    private func namedEntries(_ top: Fields, _ section: String) -> [NodeReader.Entry] {
        guard let entry = top.entry(section) else { return [] }
        return reader.entries(of: entry.value, at: entry.path) ?? []
    }

    private func parseHost(_ entry: NodeReader.Entry?) -> HostSettings {
        var settings = HostSettings(
            name: ProcessInfo.processInfo.hostName, pluginPaths: [], shutdownTimeout: .seconds(30),
            logLevel: .info, logFormat: .auto, timeoutGrace: .seconds(5), crashLimit: 3)
        guard let entry,
            let fields = reader.fields(
                of: entry.value, at: entry.path, anchor: entry.keyNode,
                allowed: ["name", "plugin_paths", "shutdown_timeout", "log_level", "log_format", "timeout_grace", "crash_limit",
                    "plugin_load_timeout"])
        else { return settings }
        if let name = fields.string("name") { settings.name = name }
        if let paths = fields.stringList("plugin_paths") {
            settings.pluginPaths = paths.map { resolve($0) }
        }
        if let timeout = fields.duration("shutdown_timeout", minimum: .zero) { settings.shutdownTimeout = timeout }
        if let level = fields.choice("log_level", HostSettings.LogLevel.self) { settings.logLevel = level }
        if let format = fields.choice("log_format", HostSettings.LogFormat.self) { settings.logFormat = format }
        if let grace = fields.duration("timeout_grace", minimum: .milliseconds(100)) { settings.timeoutGrace = grace }
        if let limit = fields.int("crash_limit", minimum: 1, maximum: 100) { settings.crashLimit = limit }
        if let timeout = fields.duration("plugin_load_timeout", minimum: .milliseconds(100)) { settings.pluginLoadTimeout = timeout }
        return settings
    }

    private func parseAlerts(_ entry: NodeReader.Entry?) -> AlertSettings {
        var settings = AlertSettings()
        guard let entry,
            let fields = reader.fields(
                of: entry.value, at: entry.path, anchor: entry.keyNode,
                allowed: ["after_failures", "webhook_url_env", "webhook_timeout", "critical", "command", "command_timeout"])
        else { return settings }
        settings.location = reader.location(entry.keyNode)
        settings.fieldLocations = fields.valueLocations
        if let count = fields.int("after_failures", minimum: 1, maximum: 1000) { settings.afterFailures = count }
        if let timeout = fields.duration("webhook_timeout", minimum: .milliseconds(100)) { settings.webhookTimeout = timeout }
        if let timeout = fields.duration("command_timeout", minimum: .milliseconds(100)) { settings.commandTimeout = timeout }
        if let patterns = fields.stringList("critical") {
            for (index, pattern) in patterns.enumerated() {
                // A star only as a whole family (`noctua.*`) or as everything (`*`): a glob that
                // matched less would surprise whoever reads the list.
                let family = pattern.hasSuffix(".*") && pattern.count > 2 && !pattern.dropLast(2).contains("*")
                let valid = !pattern.isEmpty && (!pattern.contains("*") || pattern == "*" || family)
                if valid {
                    settings.critical.append(pattern)
                } else {
                    reader.report(
                        at: fields.location("critical"), entry.path.appending("critical").appending(index: index),
                        "'\(pattern)' is not a handler name or pattern; write a handler's name (noctua.plan), a family (noctua.*) or * for every handler")
                }
            }
        }
        if let command = fields.stringList("command") {
            if command.isEmpty || command[0].trimmingCharacters(in: .whitespaces).isEmpty {
                reader.report(
                    fields.entry("command")?.value, entry.path.appending("command"),
                    "expected the program to run and its arguments as a list, e.g. command: [/usr/local/bin/page-oncall, --team, ops]; the alert arrives as JSON on its stdin")
            } else {
                settings.command = command
            }
        }
        if let name = fields.string("webhook_url_env") {
            // The value is never echoed: someone who pasted the URL itself here has just put a secret in the file.
            let problem: String? =
                if name.contains("/") || name.contains(":") {
                    "expected the name of an environment variable that holds the webhook URL, not the URL itself; "
                        + "keep the URL (a secret) out of the config file, e.g. webhook_url_env: JOBHOST_ALERT_WEBHOOK"
                } else if !EnvironmentVariableName.isValid(name) {
                    "'\(name)' is not an environment variable name; use letters, digits and _, not starting with a digit"
                } else {
                    nil
                }
            if let problem {
                reader.report(fields.entry("webhook_url_env")?.value, entry.path.appending("webhook_url_env"), problem)
            } else {
                settings.webhookURLEnvironmentVariable = name
            }
        }
        return settings
    }

    /// Each key of a backend besides `type`, in the order hints list them, with the types it applies to.
    private static let backendKeys: [(key: String, kinds: [BackendConfig.Kind])] = [
        ("url", [.redis, .postgres]), ("key_prefix", [.redis]),
        ("schema", [.postgres]), ("pool_size", [.postgres]), ("auto_migrate", [.postgres]),
        ("connect_timeout", [.redis, .postgres]),
        ("path", [.sqlite]), ("synchronous", [.sqlite]), ("busy_timeout", [.sqlite]),
    ]

    private func parseBackend(_ entry: NodeReader.Entry) -> BackendConfig? {
        guard checkName(entry, what: "backend"),
            let fields = reader.fields(
                of: entry.value, at: entry.path, anchor: entry.keyNode,
                allowed: ["type"] + Self.backendKeys.map(\.key),
                section: "backend '\(entry.key)'")
        else { return nil }
        fields.require("type", hint: "redis, postgres or sqlite (a file on this machine, no server)")
        guard let kind = fields.choice("type", BackendConfig.Kind.self) else { return nil }
        for (key, kinds) in Self.backendKeys where fields.has(key) && !kinds.contains(kind) {
            let hint = kind == .sqlite && key == "url" ? "; a sqlite backend names its file with 'path'" : ""
            reader.report(
                fields.entry(key)?.keyNode, entry.path.appending(key),
                "'\(key)' applies to \(kinds.map(\.rawValue).joined(separator: " and ")) backends, not \(kind.rawValue)\(hint)")
        }
        var config = BackendConfig(
            name: entry.key, kind: kind, url: ConnectionString(""),
            keyPrefix: fields.string("key_prefix") ?? "jobhost",
            schema: fields.string("schema") ?? "jobhost",
            poolSize: fields.int("pool_size", minimum: 1, maximum: 100) ?? 4,
            autoMigrate: fields.bool("auto_migrate") ?? false,
            connectTimeout: fields.duration("connect_timeout") ?? .seconds(5),
            location: reader.location(entry.keyNode))
        if !config.schema.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLowercase || $0.isNumber)) }) {
            reader.report(fields.entry("schema")?.value, entry.path.appending("schema"), "use lower-case letters, digits and _ only, found '\(config.schema)'")
        }
        switch kind {
        case .redis, .postgres:
            fields.require("url")
            guard let url = fields.string("url") else { return nil }
            config.url = ConnectionString(url)
            if let problem = URLCheck.problem(with: url, for: kind) {
                reader.report(fields.entry("url")?.value, entry.path.appending("url"), "\(problem) (got \(config.url))")
            }
        case .sqlite:
            fields.require("path", hint: "the database file, e.g. path: /var/lib/jobhost/jobs.sqlite (relative to this file's directory)")
            guard let path = fields.string("path") else { return nil }
            if path.hasSuffix("/") {
                reader.report(fields.entry("path")?.value, entry.path.appending("path"), "'\(path)' names a directory; name the database file in it, e.g. \(path)jobhost.sqlite")
            } else if path == ":memory:" || path.hasPrefix("file:") {
                // An in-memory database is private to one connection: the host's workers and commands would not see it.
                reader.report(
                    fields.entry("path")?.value, entry.path.appending("path"),
                    "expected a file path, found '\(path)'; every process of the host opens the same file, so neither :memory: nor a file: URI works")
            }
            config.path = resolve(path).path
            config.synchronous = fields.choice("synchronous", BackendConfig.Synchronous.self) ?? .full
            config.busyTimeout = fields.duration("busy_timeout") ?? .seconds(5)
        }
        return config
    }

    private func parsePlugin(_ entry: NodeReader.Entry) -> PluginConfig? {
        guard checkName(entry, what: "plugin", allowUpperCase: true) else { return nil }
        guard let fields = reader.fields(
                of: entry.value, at: entry.path, anchor: entry.keyNode, allowed: ["path", "config"], section: "plugin '\(entry.key)'")
        else { return nil }
        if let config = fields.entry("config"), case .scalar = config.value, config.value.null == nil {
            reader.report(config.value, config.path, "expected a mapping (handed to the plugin's init as a JSON object), found \(reader.describe(config.value))")
        } else if let config = fields.entry("config"), case .sequence = config.value {
            reader.report(config.value, config.path, "expected a mapping (handed to the plugin's init as a JSON object), found a list")
        }
        return PluginConfig(
            name: entry.key,
            path: fields.string("path").map { resolve($0) },
            configJSON: reader.jsonText(fields.entry("config")?.value, at: entry.path.appending("config"), default: "{}"),
            location: reader.location(entry.keyNode),
            configLocation: fields.entry("config").map { reader.location($0.keyNode) },
            configKeyLocations: fields.entry("config").map { reader.keyLocations(in: $0.value) } ?? [:])
    }

    private func parseQueue(_ entry: NodeReader.Entry, declaredBackends backends: [String]) -> QueueConfig? {
        guard checkName(entry, what: "queue"),
            let fields = reader.fields(
                of: entry.value, at: entry.path, anchor: entry.keyNode,
                allowed: [
                    "backend", "concurrency", "weight", "timeout", "lease", "retry", "retention", "isolation", "workers",
                    "worker_memory_limit", "worker_max_jobs", "job_log", "dead_retention", "retry_position",
                ],
                section: "queues.\(entry.key)")
        else { return nil }
        var backend = fields.string("backend")
        if backend == nil {
            if backends.count == 1 {
                backend = backends[0]
            } else {
                fields.require("backend", hint: backends.isEmpty ? "no backends are defined" : "name one of \(backends.joined(separator: ", "))")
            }
        }
        if let weight = fields.entry("weight") {
            // Refused rather than ignored: a key that is accepted and does nothing misleads whoever tunes it.
            reader.report(weight.keyNode, weight.path,
                "'weight' is not supported: each queue has its own slots (`concurrency`) and workers, so a queue never waits behind another; give the queue that matters more `concurrency` (or `workers`), and remove 'weight'")
        }
        let timeout = fields.duration("timeout") ?? .seconds(300)
        return QueueConfig(
            name: entry.key,
            backend: backend ?? "",
            concurrency: fields.int("concurrency", minimum: 1, maximum: 10_000) ?? 10,
            timeout: timeout,
            lease: fields.duration("lease", minimum: .seconds(1)) ?? QueueConfig.defaultLease,
            retry: parseRetry(fields.entry("retry"), base: .standard) ?? .standard,
            retention: fields.duration("retention", minimum: .zero) ?? .seconds(86_400),
            deadRetention: parseDeadRetention(fields),
            retryPosition: fields.choice("retry_position", QueueConfig.RetryPosition.self) ?? .front,
            isolation: fields.choice("isolation", QueueConfig.Isolation.self) ?? .process,
            workers: fields.int("workers", minimum: 1, maximum: 64) ?? 1,
            workerMemoryLimit: fields.byteSize("worker_memory_limit", minimum: 64 << 20),
            workerMaxJobs: fields.int("worker_max_jobs", minimum: 1),
            jobLog: fields.choice("job_log", QueueConfig.JobLog.self) ?? .all,
            location: reader.location(entry.keyNode),
            fieldLocations: fields.valueLocations)
    }

    /// `dead_retention`: a duration longer than zero, or `forever` (nil). Zero is refused rather than
    /// read as either: for `retention` it means "delete at once", which nobody wants of dead jobs.
    private func parseDeadRetention(_ fields: Fields) -> Duration? {
        guard let entry = fields.entry("dead_retention") else { return QueueConfig.defaultDeadRetention }
        guard let text = reader.text(entry.value, at: entry.path, expecting: "a duration like 30d, or \(QueueConfig.keepDeadForever)") else {
            return QueueConfig.defaultDeadRetention
        }
        if text.trimmingWhitespace == QueueConfig.keepDeadForever { return nil }
        let allowed = "write a duration longer than zero (like 7d) after which dead jobs are deleted, or '\(QueueConfig.keepDeadForever)' to keep them until an operator acts"
        do {
            let value = try DurationParser.parse(text)
            guard value > .zero else {
                reader.report(entry.value, entry.path, "dead_retention \(text) would delete every dead job at once; \(allowed)")
                return QueueConfig.defaultDeadRetention
            }
            return value
        } catch {
            reader.report(entry.value, entry.path, "\(error.message); \(allowed)")
            return QueueConfig.defaultDeadRetention
        }
    }

    private func parseRetry(_ entry: NodeReader.Entry?, base: RetryPolicy) -> RetryPolicy? {
        guard let entry,
            let fields = reader.fields(
                of: entry.value, at: entry.path, anchor: entry.keyNode, allowed: ["max_attempts", "backoff", "base", "max", "jitter"])
        else { return nil }
        var policy = base
        if let attempts = fields.int("max_attempts", minimum: 1, maximum: 1000) { policy.maxAttempts = attempts }
        if let backoff = fields.choice("backoff", RetryPolicy.Backoff.self) { policy.backoff = backoff }
        if let delay = fields.duration("base", minimum: .zero) { policy.base = delay }
        if let delay = fields.duration("max", minimum: .zero) { policy.max = delay }
        if let jitter = fields.double("jitter", range: 0...1) { policy.jitter = jitter }
        if policy.base > policy.max {
            let blamed = fields.has("base") ? "base" : "max"
            reader.report(fields.entry(blamed)?.value ?? entry.value, entry.path.appending(blamed),
                "base delay \(policy.base.configText) is longer than max \(policy.max.configText)")
        }
        return policy
    }

    private func parseRoute(_ entry: NodeReader.Entry, queues: [QueueConfig]) -> RouteConfig? {
        guard HandlerName.isValidPattern(entry.key) else {
            reader.report(entry.keyNode, entry.path, "'\(entry.key)' is not a handler name or pattern; write family.action or family.* (lower-case letters, digits, _ and -)")
            return nil
        }
        if case .scalar = entry.value {
            guard let queue = reader.text(entry.value, at: entry.path, expecting: "a queue name") else { return nil }
            return RouteConfig(
                pattern: entry.key, queue: queue, timeout: nil, retry: nil, location: reader.location(entry.value),
                isShortForm: true)
        }
        guard let fields = reader.fields(
                of: entry.value, at: entry.path, anchor: entry.keyNode, allowed: ["queue", "timeout", "retry"], section: "route '\(entry.key)'")
        else { return nil }
        fields.require("queue")
        return RouteConfig(
            pattern: entry.key, queue: fields.string("queue") ?? "", timeout: fields.duration("timeout"),
            // A route's retry overrides only what it names; the rest comes from its queue's policy.
            retry: parseRetry(fields.entry("retry"), base: queues.first { $0.name == fields.string("queue") }?.retry ?? .standard),
            location: reader.location(entry.keyNode),
            fieldLocations: fields.valueLocations)
    }

    private func parseSchedule(_ entry: NodeReader.Entry) -> ScheduleConfig? {
        guard checkName(entry, what: "schedule"),
            let fields = reader.fields(
                of: entry.value, at: entry.path, anchor: entry.keyNode,
                allowed: ["cron", "every", "handler", "payload", "queue", "timezone", "catch_up", "enabled", "overlap"],
                section: "schedule '\(entry.key)'")
        else { return nil }
        fields.require("handler")
        let trigger: ScheduleConfig.Trigger?
        switch (fields.has("cron"), fields.has("every")) {
        case (true, true):
            reader.report(fields.entry("every")?.keyNode, entry.path.appending("every"), "give either 'cron' or 'every', not both")
            trigger = nil
        case (false, false):
            reader.report(entry.keyNode, entry.path, "needs 'cron' (e.g. \"0 3 * * *\") or 'every' (e.g. 30m)")
            trigger = nil
        case (true, false):
            trigger = fields.string("cron").map { .cron($0) }
        case (false, true):
            trigger = fields.duration("every", minimum: .seconds(1)).map { .every($0) }
        }
        var timeZone = TimeZone(identifier: "UTC")!
        if let name = fields.string("timezone") {
            if let zone = TimeZone(identifier: name) {
                timeZone = zone
            } else {
                let guess = suggestion(for: name, among: TimeZone.knownTimeZoneIdentifiers)
                reader.report(fields.entry("timezone")?.value, entry.path.appending("timezone"),
                    "unknown time zone '\(name)'; use an IANA name like Europe/Madrid\(guess.map { " (did you mean '\($0)'?)" } ?? "")")
            }
        }
        let handler = fields.string("handler")
        if let handler, !HandlerName.isValid(handler) {
            reader.report(fields.entry("handler")?.value, entry.path.appending("handler"), "'\(handler)' is not a handler name; write family.action")
        }
        guard let trigger, let handler else { return nil }
        return ScheduleConfig(
            name: entry.key, trigger: trigger, handler: handler,
            payloadJSON: reader.jsonText(fields.entry("payload")?.value, at: entry.path.appending("payload"), default: "{}"),
            queue: fields.string("queue"), timeZone: timeZone,
            catchUp: fields.choice("catch_up", ScheduleConfig.CatchUp.self) ?? .skip,
            enabled: fields.bool("enabled") ?? true,
            overlap: fields.choice("overlap", ScheduleConfig.Overlap.self) ?? .skip,
            location: reader.location(entry.keyNode),
            fieldLocations: fields.valueLocations)
    }

    /// Relative paths are relative to the config file's directory, not to wherever the host was started.
    private func resolve(_ path: String) -> URL {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : directory.appendingPathComponent(path)
        return url.standardizedFileURL
    }

    private func checkName(_ entry: NodeReader.Entry, what: String, allowUpperCase: Bool = false) -> Bool {
        let allowed = entry.key.allSatisfy {
            $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_" || $0 == "-" || (allowUpperCase && $0.isUppercase))
        }
        guard !entry.key.isEmpty, allowed else {
            reader.report(entry.keyNode, entry.path, "'\(entry.key)' is not a valid \(what) name; use \(allowUpperCase ? "" : "lower-case ")letters, digits, _ and -")
            return false
        }
        return true
    }
}

/// What handler names look like: `family.action`, lower-case.
public enum HandlerName {
    public static func isValid(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count >= 2 && parts.allSatisfy { part in
            !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_" || $0 == "-") }
        }
    }

    /// A handler name, or `family.*`.
    public static func isValidPattern(_ pattern: String) -> Bool {
        if pattern.hasSuffix(".*") { return isValid(String(pattern.dropLast(2)) + ".x") || isValidFamily(String(pattern.dropLast(2))) }
        return isValid(pattern)
    }

    private static func isValidFamily(_ family: String) -> Bool {
        !family.isEmpty && family.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_" || $0 == "-") }
    }
}

/// What a `*_env` key may name: a shell-style variable name.
enum EnvironmentVariableName {
    static func isValid(_ name: String) -> Bool {
        guard let first = name.first, !first.isNumber else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }
}

/// Checks a backend URL's shape before any connection is tried.
enum URLCheck {
    static func problem(with url: String, for kind: BackendConfig.Kind) -> String? {
        switch kind {
        case .sqlite:
            return nil
        case .redis:
            guard url.hasPrefix("redis://") else {
                return url.hasPrefix("rediss://")
                    ? "TLS (rediss://) is not supported yet; use redis:// on a trusted network or a TLS tunnel"
                    : "a redis url starts with redis://, e.g. redis://127.0.0.1:6379/0"
            }
            guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
                return "not a valid URL; expected redis://[user:password@]host[:port][/db]"
            }
            let database = components.path.drop { $0 == "/" }
            if !database.isEmpty, Int(database) == nil { return "the database after the host must be a number, e.g. /0" }
            return nil
        case .postgres:
            if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
                guard URLComponents(string: url) != nil else {
                    return "not a valid URL; expected postgres://[user[:password]@]host[:port]/database"
                }
                return nil
            }
            return url.contains("=") ? nil : "expected a postgres:// URL or a libpq keyword string like 'host=127.0.0.1 dbname=app'"
        }
    }
}
