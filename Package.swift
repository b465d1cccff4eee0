// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "jobhost",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "host", targets: ["host"]),
        .executable(name: "host-bench", targets: ["host-bench"]),
        .library(name: "PluginKit", targets: ["PluginKit"]),
        // Plugins: each one a shared library `lib<Name>.so` that the host loads by name.
        .library(name: "TestPlugin", type: .dynamic, targets: ["TestPlugin"]),
        .library(name: "Greeter", type: .dynamic, targets: ["Greeter"]),
        .library(name: "Echo", type: .dynamic, targets: ["Echo"]),
        // The reference plugins: the seed systems' job families.
        .library(name: "Noctua", type: .dynamic, targets: ["Noctua"]),
        .library(name: "Voxa", type: .dynamic, targets: ["Voxa"]),
        .library(name: "CompanyContext", type: .dynamic, targets: ["CompanyContext"]),
        .library(name: "Worlds", type: .dynamic, targets: ["Worlds"]),
        // The CRM's periodic tasks, over the CRM's SQLite file.
        .library(name: "CRM", type: .dynamic, targets: ["CRM"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The plugin ABI: one C header, the only contract between the host and its plugins.
        .target(name: "JobHostABI", path: "Sources/JobHostABI"),

        // What a Swift plugin imports.
        .target(name: "PluginKit", dependencies: ["JobHostABI", "Spelling"]),

        // "Did you mean": the one suggestion rule for misspelt keys, the host's and the plugins' alike.
        .target(name: "Spelling"),

        // YAML → validated, typed configuration.
        .target(name: "HostConfig", dependencies: ["Durations", "Yams", "Scheduling", "Spelling"]),

        // Duration units: one conversion to seconds, milliseconds and microseconds for the whole host.
        .target(name: "Durations"),

        // Threads the host owns and how they are paced, stopped and bridged to the service group.
        .target(name: "Threads", dependencies: ["Durations", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),

        // The backend protocol and job model; every backend conforms, every backend passes the conformance suite.
        .target(name: "Backend", dependencies: ["Durations"]),
        .target(name: "BackendConformance", dependencies: ["Backend", "Durations"]),

        // A fixed set of blocking connections that callers borrow one at a time: the clients' and the backends'.
        .target(name: "ConnectionPool"),

        // Redis, through hiredis (Debian: libhiredis-dev): the connection and the plugins' client, then the backend.
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis", providers: [.apt(["libhiredis-dev"])]),
        .target(name: "RedisClient", dependencies: ["CHiredis", "ConnectionPool", "Durations", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "RedisBackend", dependencies: ["Durations", "Backend", "ConnectionPool", "RedisClient", .product(name: "Logging", package: "swift-log")]),

        // PostgreSQL, through libpq (Debian: libpq-dev): the connection and the plugins' client, then the backend.
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "PostgresClient", dependencies: ["CLibPQ", "ConnectionPool", "Durations", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "PostgresBackend",
            dependencies: ["Backend", "ConnectionPool", "PostgresClient", .product(name: "Logging", package: "swift-log")]),

        // SQLite, through Debian's libsqlite3-dev: the embedded backend, one file on this machine, no server.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .target(
            name: "SQLiteBackend",
            dependencies: ["Backend", "ConnectionPool", "CSQLite", "Durations", .product(name: "Logging", package: "swift-log")]),

        // Cron and interval schedules.
        .target(name: "Scheduling"),

        // Finding, checking and loading plugin libraries; the handler registry.
        .target(
            name: "PluginHost",
            dependencies: ["JobHostABI", "HostConfig", .product(name: "Logging", package: "swift-log")]
        ),

        // The rules and actions every engine and front door shares: routing precedence (in HostConfig's
        // Router), submitting jobs, the operator's actions, the backends built from the config, and
        // what a finished job tells.
        .target(
            name: "HostDomain",
            dependencies: [
                "Threads", "Backend", "HostConfig", "RedisBackend", "PostgresBackend", "SQLiteBackend",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Fetch loops, worker slots on threads the runtime owns, timeouts, retries, leases, shutdown.
        .target(
            name: "Runtime",
            dependencies: [
                "Threads", "Durations", "Backend", "HostConfig", "HostDomain", "PluginHost",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // Worker processes: what must be C (prctl, the crash reporter that runs in signal handlers).
        .target(name: "CWorkerSupport", path: "Sources/CWorkerSupport"),

        // The host's log output: text or JSON lines on stderr, for `host run`, its workers and the commands.
        .target(name: "Logs", dependencies: ["HostConfig", .product(name: "Logging", package: "swift-log")]),

        // Handlers in supervised worker processes: hard timeouts, crash accounting, restarts.
        .target(
            name: "Supervisor",
            dependencies: [
                "Logs",
                "Threads", "Backend", "HostConfig", "HostDomain", "PluginHost", "Runtime", "CWorkerSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // Fires schedules: one job per fire time across every host sharing a backend.
        .target(
            name: "Scheduler",
            dependencies: [
                "Threads", "Backend", "HostConfig", "HostDomain", "Scheduling",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // Alerts when runs of a handler or schedule keep failing (counted by the backend), or a critical
        // handler's job dies: log lines, a Slack-compatible webhook, a command.
        .target(name: "Alerting", dependencies: ["BlockingHTTP", "Threads", "HostConfig", "Backend", "CWorkerSupport", .product(name: "Logging", package: "swift-log")]),

        // What operators see of a running host: metrics, health, alerts.
        .target(
            name: "Monitoring",
            dependencies: [
                "Threads", "Alerting", "Backend", "HostConfig", "HostDomain",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),

        // The admin HTTP server: health and readiness probes, Prometheus metrics, the JSON API, and the
        // web dashboard (its page, script and style compiled into the binary: nothing to install beside it).
        .target(
            name: "AdminHTTP",
            dependencies: [
                "Threads", "Backend", "HostConfig", "HostDomain", "Monitoring", "Scheduler",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [
                .embedInCode("Dashboard/Assets/dashboard.html"),
                .embedInCode("Dashboard/Assets/dashboard.js"),
                .embedInCode("Dashboard/Assets/dashboard.css"),
            ]
        ),

        // The `host` command line, kept in a library so each command stays a thin file.
        .target(
            name: "HostCLI",
            dependencies: [
                "Logs",
                "Threads", "HostConfig", "HostDomain", "PluginHost", "Backend", "PostgresBackend", "SQLiteBackend", "Runtime", "Scheduler", "Scheduling", "Supervisor",
                "Monitoring", "AdminHTTP", "Alerting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "host", dependencies: ["HostCLI"]),

        // `host-bench`: throughput, CPU, memory and latency of the real runtime on a private server; prints its figures.
        .executableTarget(
            name: "host-bench",
            dependencies: [
                "Threads", "Backend", "HostDomain", "RedisBackend", "PostgresBackend", "SQLiteBackend", "Runtime", "Supervisor", "PluginHost",
                "RedisClient", "PostgresClient", "CSQLite",
                "HostConfig", "JobHostTesting", "Monitoring", "Alerting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/HostBench"
        ),

        // Test harness: private Redis and PostgreSQL servers (or a SQLite file), temporary directories, child processes.
        .target(
            name: "JobHostTesting",
            dependencies: ["Backend", "RedisBackend", "PostgresBackend", "SQLiteBackend", .product(name: "Logging", package: "swift-log")]),

        // Plugins shipped in the repository.
        .target(name: "TestPlugin", dependencies: ["PluginKit"], path: "Plugins/TestPlugin"),
        .target(name: "Greeter", dependencies: ["PluginKit"], path: "Plugins/Greeter"),
        .target(name: "Echo", dependencies: ["JobHostABI"], path: "Plugins/Echo", publicHeadersPath: "."),
        // One HTTP exchange that blocks its thread: the AI client's and the alert webhook's.
        .target(name: "BlockingHTTP"),
        // An OpenAI-compatible chat-completions client the reference plugins share.
        .target(name: "AIClient", dependencies: ["BlockingHTTP"]),
        // What the reference plugins share: content plans and items in the application database.
        .target(
            name: "ContentStore",
            dependencies: ["PostgresClient", .product(name: "Logging", package: "swift-log")],
            path: "Plugins/Shared/ContentStore"),
        .target(name: "Noctua", dependencies: ["PluginKit", "AIClient", "ContentStore", "PostgresClient"], path: "Plugins/Noctua"),
        .target(name: "Voxa", dependencies: ["PluginKit", "AIClient", "ContentStore", "PostgresClient"], path: "Plugins/Voxa"),
        .target(
            name: "CompanyContext",
            dependencies: ["PluginKit", "AIClient", "PostgresClient", .product(name: "Logging", package: "swift-log")],
            path: "Plugins/CompanyContext"),
        .target(
            name: "Worlds",
            dependencies: ["PluginKit", "AIClient", "PostgresClient", "RedisClient", .product(name: "Logging", package: "swift-log")],
            path: "Plugins/Worlds"),
        .target(name: "CRM", dependencies: ["PluginKit", "CSQLite"], path: "Plugins/CRM"),

        .testTarget(name: "HostConfigTests", dependencies: ["HostConfig", "Spelling"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SchedulingTests", dependencies: ["Scheduling"]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler", "RedisBackend", "HostConfig", "JobHostTesting"]),
        .testTarget(name: "PluginHostTests", dependencies: ["PluginHost", "HostConfig", "JobHostTesting"]),
        .testTarget(name: "HostCLITests", dependencies: ["JobHostTesting", "Backend", "RedisBackend", "PostgresBackend", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "PluginFlowTests",
            dependencies: ["JobHostTesting", "Backend", "RedisBackend", "RedisClient", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "AlertingTests", dependencies: ["Alerting", "Backend", "SQLiteBackend", "HostConfig", "JobHostTesting", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "AIClientTests", dependencies: ["AIClient", "JobHostTesting"]),
        .testTarget(name: "SupervisorTests", dependencies: ["Supervisor", "Backend", "HostConfig", "HostDomain"]),
        .testTarget(name: "JobHostTestingTests", dependencies: ["JobHostTesting"]),
        .testTarget(name: "BackendTests", dependencies: ["Backend"]),
        .testTarget(
            name: "HostDomainTests",
            dependencies: ["HostDomain", "HostConfig", "Backend", "PostgresBackend", "JobHostTesting", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "HostDomain", "RedisBackend", "PluginHost", "HostConfig", "JobHostTesting"]),
        // The runner's held-jobs rules, without a server.
        .testTarget(name: "RuntimeStateTests", dependencies: ["Runtime", "Backend", "HostDomain"]),
        // Each maintenance chore against every backend, and the one place that wires them.
        .testTarget(
            name: "MaintenanceTests",
            dependencies: [
                "Runtime", "Backend", "HostConfig", "RedisBackend", "PostgresBackend", "SQLiteBackend", "JobHostTesting",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "RedisBackendTests", dependencies: ["RedisBackend", "BackendConformance", "JobHostTesting"]),
        .testTarget(name: "SQLiteBackendTests", dependencies: ["SQLiteBackend", "BackendConformance", "JobHostTesting"]),
        .testTarget(name: "PostgresBackendTests", dependencies: ["PostgresBackend", "PostgresClient", "BackendConformance", "JobHostTesting"]),
        .testTarget(
            name: "MonitoringTests",
            dependencies: [
                "Monitoring", "Alerting", "Backend", "HostConfig", "HostDomain", "RedisBackend", "JobHostTesting",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "PluginKitTests", dependencies: ["PluginKit", "JobHostABI"]),
        .testTarget(
            name: "AdminHTTPTests",
            dependencies: [
                "AdminHTTP", "Monitoring", "HostDomain", "Backend", "HostConfig", "JobHostTesting", "RedisBackend", "Scheduler",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
