import Foundation

/// A validated host configuration: everything `host.yaml` says, with defaults filled in.
public struct HostConfiguration: Sendable {
    /// The file it was read from (as given) and that file's directory, against which relative paths resolve.
    public var file: String
    public var directory: URL
    public var host: HostSettings
    /// By name, in file order.
    public var backends: [BackendConfig]
    public var plugins: [PluginConfig]
    public var queues: [QueueConfig]
    public var routes: [RouteConfig]
    public var schedules: [ScheduleConfig]
    /// nil: no admin server.
    public var admin: AdminSettings? = nil
    /// The `alerts:` block; its defaults when the file has none.
    public var alerts = AlertSettings()

    public func backend(named name: String) -> BackendConfig? { backends.first { $0.name == name } }
}

/// The `host:` block.
public struct HostSettings: Sendable {
    /// Shown in logs and used to tell hosts apart on a shared backend.
    public var name: String
    /// Where plugins are looked for, in order, after `JOBHOST_PLUGIN_PATH` and before the host's own directory.
    public var pluginPaths: [URL]
    /// How long `SIGTERM` waits for running jobs before handing them back.
    public var shutdownTimeout: Duration
    public var logLevel: LogLevel
    public var logFormat: LogFormat
    /// How long a handler may run past its deadline, cancel flag up, before the worker running it is
    /// killed (threads: before it is written off).
    public var timeoutGrace: Duration
    /// Crashes of its worker after which a job is dead as a poison job, whatever attempts it has left.
    public var crashLimit: Int
    /// How long each step of loading a plugin that runs its code (its constructors, its entry
    /// function, its `init`) may take before the plugin is refused as hanging.
    public var pluginLoadTimeout: Duration = .seconds(5)

    public enum LogLevel: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    public enum LogFormat: String, Sendable, CaseIterable {
        /// Text on a terminal, JSON lines otherwise.
        case auto, text, json
    }
}

/// The `alerts:` block: when failed runs of a handler or schedule raise an alert, and where it goes.
public struct AlertSettings: Sendable, Equatable {
    /// Failed runs in a row of one handler or schedule (jobs that ended dead, retries not counted)
    /// that raise an alert; also failures in a row of the scheduler to enqueue a schedule's job.
    public var afterFailures: Int
    /// Handler names, `family.*` patterns or `*`: every job of theirs that ends dead alerts at once.
    public var critical: [String] = []
    /// A program and its arguments run for every alert, the alert as JSON on stdin; nil: none.
    public var command: [String]?
    /// How long one run of ``command`` may take before it is stopped.
    public var commandTimeout: Duration = .seconds(10)
    /// The environment variable holding the webhook URL (a secret, so never written in the file
    /// itself); nil: alerts are only logged.
    public var webhookURLEnvironmentVariable: String?
    /// How long one webhook POST may take.
    public var webhookTimeout: Duration
    /// Where the block was written; nil when the file has none.
    public var location: SourceLocation?
    /// Where each key of the block was written, for errors about it.
    public var fieldLocations: [String: SourceLocation]

    public init(
        afterFailures: Int = 3, webhookURLEnvironmentVariable: String? = nil, webhookTimeout: Duration = .seconds(5),
        location: SourceLocation? = nil, fieldLocations: [String: SourceLocation] = [:]
    ) {
        self.afterFailures = afterFailures
        self.webhookURLEnvironmentVariable = webhookURLEnvironmentVariable
        self.webhookTimeout = webhookTimeout
        self.location = location
        self.fieldLocations = fieldLocations
    }

    /// Where `field` was written, else the block, else nil.
    public func location(of field: String) -> SourceLocation? { fieldLocations[field] ?? location }
}

/// One entry of `backends:`.
public struct BackendConfig: Sendable {
    public var name: String
    public var kind: Kind
    /// Redis: `redis://[user:password@]host[:port][/db]`; PostgreSQL: a `postgres://` URL or a libpq
    /// keyword string. Prints with the password masked. Empty for SQLite, which has a ``path``.
    public var url: ConnectionString
    /// Redis: every key starts with it.
    public var keyPrefix: String
    /// PostgreSQL: the schema that holds the job tables.
    public var schema: String
    /// PostgreSQL: connections the backend keeps open.
    public var poolSize: Int
    /// PostgreSQL: apply pending migrations when `host run` starts.
    public var autoMigrate: Bool
    /// How long to wait for a connection before giving up (and retrying with backoff).
    public var connectTimeout: Duration
    public var location: SourceLocation
    /// SQLite: the database file, absolute (a relative `path:` is resolved against the config file's
    /// directory, so the file is the same whichever directory the host starts in).
    public var path: String = ""
    /// SQLite: how hard each commit is made to stick.
    public var synchronous: Synchronous = .full
    /// SQLite: how long a write waits for another process's write before the call fails (and is retried).
    public var busyTimeout: Duration = .seconds(5)

    /// Where the jobs are, fit for messages and listings: the URL with its password masked, or the
    /// SQLite file's path.
    public var address: String { kind == .sqlite ? path : url.description }

    public enum Kind: String, Sendable, CaseIterable {
        case redis, postgres
        /// A file on this machine, through SQLite: no server to run.
        case sqlite
    }

    /// SQLite's `PRAGMA synchronous`, as the config names it.
    public enum Synchronous: String, Sendable, CaseIterable {
        /// Every commit is synced to disk before it returns: nothing acknowledged is lost, even to a power loss.
        case full
        /// Synced at checkpoints only: a crash of the host loses nothing, a power loss may lose the last commits.
        case normal
    }
}

/// One entry of `plugins:`.
public struct PluginConfig: Sendable {
    /// The name the library is found by: `lib<name>.so`.
    public var name: String
    /// An explicit library path (resolved against the config file's directory), instead of a search.
    public var path: URL?
    /// The plugin's own `config:` block as a JSON object, handed to its `init`.
    public var configJSON: String
    /// Where the entry's name was written.
    public var location: SourceLocation
    /// Where its `config:` key was written, when it has one.
    public var configLocation: SourceLocation?
    /// Where each key and list item inside `config:` was written, so that a problem the plugin's
    /// `init` reports with one (`config.batch_size: …`) is shown there.
    public var configKeyLocations: [PluginConfigPath: SourceLocation]

    public init(
        name: String, path: URL? = nil, configJSON: String = "{}", location: SourceLocation, configLocation: SourceLocation? = nil,
        configKeyLocations: [PluginConfigPath: SourceLocation] = [:]
    ) {
        self.name = name
        self.path = path
        self.configJSON = configJSON
        self.location = location
        self.configLocation = configLocation
        self.configKeyLocations = configKeyLocations
    }
}

/// One entry of `queues:`.
public struct QueueConfig: Sendable {
    /// Handlers with no route run on the queue with this name.
    public static let defaultName = "default"
    /// Short, so the jobs of a host that died run again within seconds; renewed while held.
    public static let defaultLease = Duration.seconds(10)

    public var name: String
    public var backend: String
    /// Jobs of this queue that run at once on one host.
    public var concurrency: Int
    /// How long a job may run before it is asked to stop.
    public var timeout: Duration
    /// How long a fetched job stays reserved without a renewal before another host may rescue it. The
    /// holder renews it every third of this while it holds the job, however long the handler runs, so
    /// it is short whatever the timeout: it is how long the jobs of a host that died wait.
    public var lease: Duration
    public var retry: RetryPolicy
    /// How long finished jobs are kept before they are pruned.
    public var retention: Duration
    /// How long dead jobs are kept (from the time they died) before they are pruned; nil: until an
    /// operator acts (`dead_retention: forever`).
    public var deadRetention: Duration? = QueueConfig.defaultDeadRetention
    /// Where a job retried after a failed attempt joins the line of ready jobs.
    public var retryPosition: RetryPosition = .front
    /// Where its handlers run.
    public var isolation: Isolation
    /// Worker processes serving the queue (process isolation); its concurrency is split among them.
    public var workers: Int
    /// A worker whose resident memory passes this is recycled (jobs finished or handed back first);
    /// allocations past twice this fail in the worker, crashing the job that made them.
    public var workerMemoryLimit: Int?
    /// A worker is recycled after finishing this many jobs.
    public var workerMaxJobs: Int?
    /// Which finished jobs get a log line.
    public var jobLog: JobLog = .all
    public var location: SourceLocation
    /// Where each key of the entry was written, for errors about it.
    public var fieldLocations: [String: SourceLocation] = [:]

    /// Where `field` was written, or the entry itself when it was not.
    public func location(of field: String) -> SourceLocation { fieldLocations[field] ?? location }

    public enum JobLog: String, Sendable, CaseIterable {
        /// `job done` for every success, `job failed …` for every failure.
        case all
        /// Only the `job failed …` lines: for queues so busy that a line per success is noise.
        case failures
        /// No line per job (alerts, metrics and the dashboard still see every outcome).
        case none
    }

    /// 30 days: long enough to see, after a holiday, what died and why; short enough that a queue whose
    /// jobs keep dying does not grow without end.
    public static let defaultDeadRetention = Duration.seconds(30 * 86_400)
    /// How `dead_retention` says "never prune".
    public static let keepDeadForever = "forever"

    /// `retry_position`: see ``QueueConfig/retryPosition``.
    public enum RetryPosition: String, Sendable, CaseIterable {
        /// Ahead of the jobs already waiting (see docs/redis.md, docs/postgres.md, docs/sqlite.md).
        case front
        /// Behind every job already ready when the retry becomes due: fresh work first.
        case back
    }

    public enum Isolation: String, Sendable, CaseIterable {
        /// In worker processes the host supervises: a crash or a hang costs only the jobs of that worker.
        case process
        /// On threads of the host process itself: a little faster, but a crashing plugin takes the host down.
        case thread
    }
}

/// How failed attempts are retried.
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var backoff: Backoff
    /// The delay after the first failure.
    public var base: Duration
    /// No delay is longer than this.
    public var max: Duration
    /// The share of each delay that is randomised (0 to 1), so retries of many jobs spread out.
    public var jitter: Double

    public enum Backoff: String, Sendable, CaseIterable {
        /// base, 2·base, 4·base, … up to max.
        case exponential
        /// base every time.
        case fixed
    }

    public init(maxAttempts: Int, backoff: Backoff, base: Duration, max: Duration, jitter: Double) {
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.base = base
        self.max = max
        self.jitter = jitter
    }

    public static let standard = RetryPolicy(
        maxAttempts: 10, backoff: .exponential, base: .seconds(1), max: .seconds(3600), jitter: 0.2)
}

/// One entry of `routes:`: handlers (an exact name or `family.*`) and the queue their jobs go to.
public struct RouteConfig: Sendable {
    public var pattern: String
    public var queue: String
    /// Overrides the queue's timeout for these handlers.
    public var timeout: Duration?
    /// Overrides the queue's retry policy for these handlers.
    public var retry: RetryPolicy?
    public var location: SourceLocation
    /// Where each key of the entry was written, for errors about it.
    public var fieldLocations: [String: SourceLocation] = [:]
    /// Written as `handler: queue` rather than a mapping.
    public var isShortForm = false

    /// Where `field` was written, or the route itself when it was not.
    public func location(of field: String) -> SourceLocation { fieldLocations[field] ?? location }

    public var isWildcard: Bool { pattern.hasSuffix(".*") }
    /// For `family.*`: `family.`.
    public var prefix: String { isWildcard ? String(pattern.dropLast()) : pattern }

    public func matches(_ handler: String) -> Bool {
        isWildcard ? handler.hasPrefix(prefix) : handler == pattern
    }
}

/// One entry of `schedules:`.
public struct ScheduleConfig: Sendable {
    public var name: String
    public var trigger: Trigger
    public var handler: String
    /// The job's payload as JSON text.
    public var payloadJSON: String
    /// nil: the queue the handler is routed to.
    public var queue: String?
    public var timeZone: TimeZone
    public var catchUp: CatchUp
    public var enabled: Bool
    /// What a fire time does while the schedule's previous run is still pending or running.
    public var overlap: Overlap = .skip
    public var location: SourceLocation
    /// Where each key of the entry was written, for errors about it.
    public var fieldLocations: [String: SourceLocation] = [:]

    /// Where `field` was written, or the schedule itself when it was not.
    public func location(of field: String) -> SourceLocation { fieldLocations[field] ?? location }

    /// The concurrency key the schedule's jobs carry (fired and triggered alike): `schedule:<name>`,
    /// limit 1, unless its runs may overlap.
    public var concurrency: (key: String, limit: Int)? {
        overlap == .allow ? nil : ("schedule:\(name)", 1)
    }

    public enum Trigger: Sendable, Equatable, CustomStringConvertible {
        case cron(String)
        case every(Duration)

        public var description: String {
            switch self {
            case .cron(let expression): "cron \(expression)"
            case .every(let interval): "every \(interval.configText)"
            }
        }
    }

    /// `overlap:`: what a fire time does while the job of the schedule's previous fire is still ready,
    /// scheduled or running.
    public enum Overlap: String, Sendable, CaseIterable {
        /// Nothing is enqueued; the fire is recorded as skipped (the default).
        case skip
        /// Enqueued anyway: runs may overlap.
        case allow
        /// Enqueued under the concurrency key `schedule:<name>`, limit 1: it runs once the runs before
        /// it ended.
        case queue
    }

    public enum CatchUp: String, Sendable, CaseIterable {
        /// Fire times missed while no host ran are skipped.
        case skip
        /// After downtime, one job for the most recent missed fire time.
        case once
    }
}
