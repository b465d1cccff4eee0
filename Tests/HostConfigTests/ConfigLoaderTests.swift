import Foundation
import Spelling
import Testing

@testable import HostConfig

struct ConfigLoaderTests {
    func load(_ yaml: String, environment: [String: String] = [:]) throws(ConfigError) -> HostConfiguration {
        try ConfigLoader(environment: environment).load(text: yaml, file: "test.yaml", directory: URL(fileURLWithPath: "/etc/jobhost"))
    }

    func problems(_ yaml: String, environment: [String: String] = [:]) -> [ConfigDiagnostic] {
        do {
            _ = try load(yaml, environment: environment)
            return []
        } catch {
            return error.diagnostics
        }
    }

    static let minimal = """
        backends:
          main: { type: redis, url: "redis://127.0.0.1:6379/0" }
        queues:
          default: {}
        """

    @Test func fillsDefaults() throws {
        let config = try load(Self.minimal)
        let queue = try #require(config.queues.first)
        #expect(queue.name == "default")
        #expect(queue.backend == "main")  // the only backend
        #expect(queue.concurrency == 10)
        #expect(queue.jobLog == .all)
        #expect(queue.timeout == .seconds(300))
        #expect(queue.lease == .seconds(10))  // short whatever the timeout: renewed while held
        #expect(queue.retry == .standard)
        #expect(config.host.shutdownTimeout == .seconds(30))
        #expect(config.backends[0].keyPrefix == "jobhost")
    }

    @Test func readsEverySection() throws {
        let config = try load("""
            host:
              name: worker-7
              plugin_paths: [plugins, /opt/jobhost/plugins]
              shutdown_timeout: 45s
              log_level: debug
              log_format: json
            backends:
              cache: { type: redis, url: "redis://:pw@127.0.0.1:6390/2", key_prefix: jh }
              db:
                type: postgres
                url: postgres://app:pw@127.0.0.1:5432/app
                schema: jobs
                pool_size: 8
                auto_migrate: true
            plugins:
              Noctua:
                config: { model: gpt-4o-mini, retries: 3, temperature: 0.7, strict: true, base: "${AI_URL:-http://127.0.0.1:9000}" }
              Local: { path: lib/libLocal.so }
            queues:
              default: { backend: cache }
              noctua:
                backend: db
                concurrency: 4
                job_log: failures
                timeout: 10m
                lease: 15m
                retention: 2d
                retry: { max_attempts: 3, backoff: fixed, base: 30s, max: 10m, jitter: 0 }
            routes:
              noctua.*: noctua
              noctua.generate_strategy: { queue: default, timeout: 1m, retry: { max_attempts: 2 } }
            schedules:
              nightly:
                cron: "0 3 * * *"
                timezone: Europe/Madrid
                handler: noctua.generate_strategy
                payload: { month: current, ids: [1, 2] }
                catch_up: once
                overlap: queue
              tick: { every: 30s, handler: noctua.tick, enabled: false }
            """)
        #expect(config.schedules.map(\.overlap) == [.queue, .skip], "overlap as written, skip by default")
        #expect(config.schedules.map { $0.concurrency?.key } == ["schedule:nightly", "schedule:tick"])
        #expect(config.host.name == "worker-7")
        #expect(config.host.pluginPaths.map(\.path) == ["/etc/jobhost/plugins", "/opt/jobhost/plugins"])
        #expect(config.host.shutdownTimeout == .seconds(45))
        #expect(config.host.logLevel == .debug)
        #expect(config.host.logFormat == .json)
        let db = try #require(config.backend(named: "db"))
        #expect(db.kind == .postgres && db.schema == "jobs" && db.poolSize == 8 && db.autoMigrate)
        #expect(config.backend(named: "cache")?.keyPrefix == "jh")
        let noctua = try #require(config.plugins.first)
        #expect(noctua.configJSON == #"{"base":"http://127.0.0.1:9000","model":"gpt-4o-mini","retries":3,"strict":true,"temperature":0.7}"#)
        #expect(config.plugins[1].path?.path == "/etc/jobhost/lib/libLocal.so")
        #expect(config.plugins[1].configJSON == "{}")
        let queue = try #require(config.queues.first { $0.name == "noctua" })
        #expect(queue.concurrency == 4 && queue.jobLog == .failures && queue.timeout == .seconds(600) && queue.lease == .seconds(900))
        #expect(queue.retention == .seconds(172_800))
        #expect(queue.retry == RetryPolicy(maxAttempts: 3, backoff: .fixed, base: .seconds(30), max: .seconds(600), jitter: 0))
        #expect(JobRouter(config).queue(for: "noctua.strategy_batch")?.name == "noctua")  // wildcard
        #expect(JobRouter(config).queue(for: "noctua.generate_strategy")?.name == "default")  // exact wins
        #expect(JobRouter(config).route(for: "noctua.generate_strategy")?.retry?.maxAttempts == 2)
        #expect(JobRouter(config).queue(for: "greeter.hello")?.name == "default")  // unrouted
        let nightly = try #require(config.schedules.first)
        #expect(nightly.trigger == .cron("0 3 * * *"))
        #expect(nightly.timeZone.identifier == "Europe/Madrid")
        #expect(nightly.catchUp == .once && nightly.enabled)
        #expect(nightly.payloadJSON == #"{"ids":[1,2],"month":"current"}"#)
        #expect(config.schedules[1].trigger == .every(.seconds(30)))
        #expect(config.schedules[1].enabled == false)
        #expect(config.schedules[1].payloadJSON == "{}")
    }

    @Test func readsASQLiteBackendWithItsPathRelativeToTheConfigFile() throws {
        let config = try load("""
            backends:
              local: { type: sqlite, path: ../var/jobs.sqlite }
              fast: { type: sqlite, path: "${JOBS_DIR:-/srv/jobhost}/fast.sqlite", synchronous: normal, busy_timeout: 250ms }
            queues:
              default: { backend: local }
              quick: { backend: fast }
            """)
        let local = try #require(config.backend(named: "local"))
        #expect(local.kind == .sqlite)
        #expect(local.path == "/etc/var/jobs.sqlite", "resolved against the config file's directory, /etc/jobhost")
        #expect(local.synchronous == .full && local.busyTimeout == .seconds(5))
        #expect(local.address == "/etc/var/jobs.sqlite" && local.url.revealed.isEmpty)
        let fast = try #require(config.backend(named: "fast"))
        #expect(fast.path == "/srv/jobhost/fast.sqlite" && fast.synchronous == .normal && fast.busyTimeout == .milliseconds(250))
    }

    @Test func aSQLiteBackendRefusesServerKeysAndServersRefuseSQLiteKeys() {
        let found = problems("""
            backends:
              local: { type: sqlite, path: jobs.sqlite, key_prefix: jh, schema: jobs, auto_migrate: true, connect_timeout: 1s }
              cache: { type: redis, url: "redis://127.0.0.1:6379", synchronous: full }
            queues:
              default: { backend: local }
            """)
        #expect(found.map(\.keyPath) == [
            "backends.local.key_prefix", "backends.local.schema", "backends.local.auto_migrate", "backends.local.connect_timeout",
            "backends.cache.synchronous",
        ])
        #expect(found[0].message == "'key_prefix' applies to redis backends, not sqlite")
        #expect(found[3].message == "'connect_timeout' applies to redis and postgres backends, not sqlite")
        #expect(found[4].message == "'synchronous' applies to sqlite backends, not redis")
    }

    @Test func aBackendWithoutATypeListsSQLiteAmongTheChoices() {
        let found = problems("""
            backends:
              main: { path: jobs.sqlite }
            queues:
              default: {}
            """)
        #expect(found.count == 1)
        #expect(found.first?.keyPath == "backends.main.type")
        #expect(found.first?.message.contains("redis, postgres or sqlite") == true, "\(found)")
    }

    @Test(arguments: [":memory:", "file:jobs.sqlite?mode=memory", "data/"])
    func aSQLitePathMustNameOneFile(path: String) {
        let found = problems("""
            backends:
              main: { type: sqlite, path: "\(path)" }
            queues:
              default: {}
            """)
        #expect(found.map(\.keyPath) == ["backends.main.path"], "\(found)")
        #expect(found.first?.location.line == 2)
    }

    @Test func expandsEnvironmentVariables() throws {
        let config = try load("""
            backends:
              main: { type: redis, url: "redis://${REDIS_HOST}:${REDIS_PORT:-6379}/0" }
            queues:
              default: { concurrency: "${WORKERS:-3}", timeout: "${TIMEOUT}" }
            plugins:
              P:
                config:
                  port: "${PORT:-8080}"
                  quoted: "$${NOT_A_VARIABLE}"
                  plain: ${PORT:-8080}
            """, environment: ["REDIS_HOST": "10.1.2.3", "TIMEOUT": "90s"])
        #expect(config.backends[0].url.revealed == "redis://10.1.2.3:6379/0")
        #expect(config.queues[0].concurrency == 3)
        #expect(config.queues[0].timeout == .seconds(90))
        // Quoted scalars stay strings; plain ones are typed after expansion.
        #expect(config.plugins[0].configJSON == #"{"plain":8080,"port":"8080","quoted":"${NOT_A_VARIABLE}"}"#)
    }

    @Test func anEmptyVariableTakesTheDefault() throws {
        let config = try load("""
            backends:
              main: { type: redis, url: "${URL:-redis://127.0.0.1:1}" }
            queues:
              default: {}
            """, environment: ["URL": ""])
        #expect(config.backends[0].url.revealed == "redis://127.0.0.1:1")
    }

    @Test func mergeKeysShareSettings() throws {
        let config = try load("""
            backends:
              main: { type: redis, url: "redis://127.0.0.1:6379" }
            queues:
              default: &ai
                concurrency: 3
                timeout: 2m
              voxa:
                <<: *ai
                concurrency: 7
            """)
        let voxa = try #require(config.queues.first { $0.name == "voxa" })
        #expect(voxa.concurrency == 7)  // explicit keys win over merged ones
        #expect(voxa.timeout == .seconds(120))
    }

    @Test func anEmptyPluginConfigIsAnEmptyObject() throws {
        let config = try load("""
            backends:
              main: { type: redis, url: "redis://127.0.0.1:6379" }
            plugins:
              Greeter:
                config:
                  # salutation: Hi
              Echo: { config: ~ }
            queues:
              default: {}
            """)
        #expect(config.plugins.map(\.configJSON) == ["{}", "{}"])
    }

    @Test func theFirstMergeSourceWins() throws {
        let config = try load("""
            backends:
              main: { type: redis, url: "redis://127.0.0.1:6379" }
            queues:
              fast: &fast { concurrency: 8, job_log: none }
              slow: &slow { concurrency: 1, timeout: 1h }
              mixed:
                <<: [*fast, *slow]
            """)
        let mixed = try #require(config.queues.first { $0.name == "mixed" })
        #expect(mixed.concurrency == 8 && mixed.jobLog == .none && mixed.timeout == .seconds(3600))
    }

    @Test func aQueueWeightIsRefusedWithWhatToDoInstead() {
        let found = problems("""
            backends:
              main: { type: redis, url: "redis://127.0.0.1:6379" }
            queues:
              critical:
                concurrency: 4
                weight: 2
            """)
        let weight = found.first { $0.keyPath == "queues.critical.weight" }
        #expect(found.count == 1)
        #expect(weight?.location.line == 6)
        #expect(weight?.message.contains("concurrency") == true)
    }

    @Test func aRouteRetryOverridesOnlyWhatItNames() throws {
        let config = try load("""
            backends:
              main: { type: redis, url: "redis://127.0.0.1:6379" }
            queues:
              ai: { retry: { base: 30s, max: 10m, max_attempts: 3 } }
            routes:
              noctua.batch: { queue: ai, retry: { max_attempts: 2 } }
            """)
        #expect(JobRouter(config).route(for: "noctua.batch")?.retry == RetryPolicy(maxAttempts: 2, backoff: .exponential, base: .seconds(30), max: .seconds(600), jitter: 0.2))
    }

    @Test func reportsEveryProblemNotJustTheFirst() {
        let found = problems("""
            backends:
              main: { type: redis, url: "redis://127.0.0.1:6379" }
            queues:
              default: { concurrency: 0, job_log: loud, timeout: soon, retry: { max_attempts: 0 } }
            """)
        #expect(found.map(\.keyPath) == [
            "queues.default.concurrency", "queues.default.job_log", "queues.default.timeout", "queues.default.retry.max_attempts",
        ])
        #expect(found.allSatisfy { $0.location.line == 4 })
    }

    @Test func aLeaseMayBeShorterThanEveryTimeoutUnderIt() throws {
        let config = try load("""
            backends:
              main: { type: redis, url: "redis://127.0.0.1:6379" }
            queues:
              worlds: { timeout: 1m, lease: 5s }
              other: { timeout: 30m }
            routes:
              worlds.consolidate_memory: { queue: worlds, timeout: 25m }
            """)
        #expect(config.queues.map(\.lease) == [.seconds(5), QueueConfig.defaultLease])
        #expect(ConfigValidator(config: config).diagnostics().isEmpty)
    }

    @Test func handlerReferencesAreCheckedAgainstLoadedPlugins() throws {
        let config = try load("""
            backends:
              main: { type: redis, url: "redis://127.0.0.1:6379" }
            queues:
              default: {}
            routes:
              greeter.hello: default
              echo.*: default
              noctua.*: default
            schedules:
              tick: { every: 1m, handler: greeter.helo }
            """)
        let found = ConfigValidator(config: config).handlerDiagnostics(registered: ["greeter.hello", "echo.log"])
        #expect(found.map(\.keyPath) == [#"routes."noctua.*""#, "schedules.tick.handler"])
        #expect(found[0].message == "no handler of the loaded plugins matches 'noctua.*'")
        #expect(found[1].message == "no loaded plugin registers handler 'greeter.helo'; did you mean 'greeter.hello'?")
        #expect(found[1].location.line == 10)
    }

    @Test func alertsDefaultWhenAbsent() throws {
        let alerts = try load(Self.minimal).alerts
        #expect(alerts.afterFailures == 3)
        #expect(alerts.webhookURLEnvironmentVariable == nil)
        #expect(alerts.webhookTimeout == .seconds(5))
        #expect(alerts.location == nil)
        #expect(alerts.critical.isEmpty && alerts.command == nil && alerts.commandTimeout == .seconds(10))
    }

    @Test func readsCriticalHandlersAndTheAlertCommand() throws {
        let alerts = try load(Self.minimal + """

            alerts:
              critical: [noctua.*, worlds.cleanup]
              command: [/usr/local/bin/page-oncall, --team, "ops team"]
              command_timeout: 3s
            """).alerts
        #expect(alerts.critical == ["noctua.*", "worlds.cleanup"])
        #expect(alerts.command == ["/usr/local/bin/page-oncall", "--team", "ops team"])
        #expect(alerts.commandTimeout == .seconds(3))
    }

    @Test func readsTheAlertsSection() throws {
        let alerts = try load(Self.minimal + """

            alerts:
              after_failures: ${ALERT_AFTER:-5}
              webhook_url_env: JOBHOST_ALERT_WEBHOOK
              webhook_timeout: 1500ms
            """).alerts
        #expect(alerts.afterFailures == 5)
        #expect(alerts.webhookURLEnvironmentVariable == "JOBHOST_ALERT_WEBHOOK")
        #expect(alerts.webhookTimeout == .milliseconds(1500))
        #expect(alerts.location?.line == 5)
        #expect(alerts.location(of: "webhook_url_env")?.line == 7)
    }

    @Test func aWebhookURLWrittenInPlaceOfTheVariableIsNeverEchoed() {
        let found = problems(Self.minimal + """

            alerts:
              webhook_url_env: "https://hooks.slack.com/services/T000/B000/canary-webhook-secret"
            """)
        #expect(found.count == 1)
        #expect(found.first?.keyPath == "alerts.webhook_url_env")
        #expect(found.first?.location.line == 6)
        #expect(!found.description.contains("canary-webhook-secret"))
        #expect(!found.description.contains("hooks.slack.com"))
    }

    @Test func aSecretURLPrintsOnlyItsSchemeAndHost() throws {
        let url = SecretURL(try #require(URL(string: "https://hooks.slack.com:8443/services/T000/B000/canary?x=1")))
        #expect(url.description == "https://hooks.slack.com:8443/***")
        #expect("\(url)" == "https://hooks.slack.com:8443/***")
    }

    @Test func aMissingFileSaysSo() {
        do {
            _ = try ConfigLoader(environment: [:]).load(path: "/nonexistent/host.yaml")
            Issue.record("loaded")
        } catch {
            #expect(error.diagnostics.count == 1)
            #expect(error.description.hasPrefix("/nonexistent/host.yaml:1:1: "))
            #expect(error.description.contains("doesn’t exist") || error.description.contains("No such file"))
        }
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shipped config needs no server: one SQLite file under .build/, the two small plugins.
    @Test func theExampleConfigLoadsAndNeedsNoServer() throws {
        let config = try ConfigLoader(environment: [:]).load(path: Self.repository.appendingPathComponent("config/host.yaml").path)
        #expect(config.backends.map(\.kind) == [.sqlite])
        #expect(config.backends[0].path == Self.repository.appendingPathComponent(".build/jobhost.sqlite").path)
        #expect(config.plugins.map(\.name) == ["Echo", "Greeter"])
        #expect(config.queues.map(\.name) == ["default"])
        #expect(config.schedules.map(\.name) == ["heartbeat"])
        #expect(JobRouter(config).route(for: "greeter.hello")?.queue == "default" && JobRouter(config).route(for: "echo.log")?.queue == "default")
        #expect(config.admin != nil)
    }

    /// The reference deployment: Redis and PostgreSQL, the seed systems' plugins and their schedules.
    @Test func theReferenceConfigLoads() throws {
        let config = try ConfigLoader(environment: [:]).load(path: Self.repository.appendingPathComponent("config/reference.yaml").path)
        #expect(config.queues.map(\.name) == ["default", "noctua", "voxa", "company-context", "worlds"])
        #expect(config.plugins.map(\.name) == ["Echo", "Greeter", "Noctua", "Voxa", "CompanyContext", "Worlds"])
        #expect(config.schedules.filter { $0.name.hasPrefix("worlds-") }.count == 5, "the worlds family's five schedules are live")
        #expect(config.backends.map(\.kind) == [.redis, .postgres])
    }
}

struct DurationTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("30s", .seconds(30)), ("5m", .seconds(300)), ("1h", .seconds(3600)),
        ("2d", .seconds(172_800)), ("1h30m", .seconds(5400)), ("1.5s", .milliseconds(1500)), ("0s", .zero),
    ])
    func parses(text: String, expected: Duration) throws {
        #expect(try DurationParser.parse(text) == expected)
    }

    @Test(arguments: ["30", "", "5 minutes", "5min", "fast", "1h30", "-1s", "200000000000d", "99999999999999999999s"])
    func refuses(text: String) {
        #expect(throws: DurationParser.Failure.self) { try DurationParser.parse(text) }
    }

    @Test func printsTheShortestSpelling() {
        #expect(Duration.seconds(90).configText == "1m30s")
        #expect(Duration.milliseconds(250).configText == "250ms")
        #expect(Duration.seconds(86_400).configText == "1d")
    }
}

struct RedactionTests {
    @Test(arguments: [
        ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("postgres://app:s3cret@db:5432/app?sslmode=require", "postgres://app:***@db:5432/app?sslmode=require"),
        ("postgres://app@db/app", "postgres://app@db/app"),
        ("host=db dbname=app password=s3cret user=app", "host=db dbname=app password=*** user=app"),
        ("host=db password='with space'", "host=db password='***'"),
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
        ("redis://:a@h", "redis://:***@h"),
        ("redis://:pa/ss?x#y@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("user=password_ro password=s3cret dbname=app", "user=password_ro password=*** dbname=app"),
        ("postgres://db/app?sslmode=require&password=s3cret", "postgres://db/app?sslmode=require&password=***"),
    ])
    func masksPasswords(url: String, shown: String) {
        #expect(ConnectionString(url).description == shown)
        #expect("\(ConnectionString(url))" == shown)
    }
}

struct SuggestionTests {
    @Test func findsTheIntendedWord() {
        #expect(suggestion(for: "concurency", among: ["backend", "concurrency", "weight"]) == "concurrency")
        #expect(suggestion(for: "tiemout", among: ["timeout", "lease"]) == "timeout")
        #expect(suggestion(for: "colour", among: ["timeout", "lease"]) == nil)
    }
}
