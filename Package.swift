// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "jobhost",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "host", targets: ["host"]),
        .library(name: "PluginKit", targets: ["PluginKit"]),
        // Plugins: each one a shared library `lib<Name>.so` that the host loads by name.
        .library(name: "TestPlugin", type: .dynamic, targets: ["TestPlugin"]),
        .library(name: "Greeter", type: .dynamic, targets: ["Greeter"]),
        .library(name: "Echo", type: .dynamic, targets: ["Echo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // The plugin ABI: one C header, the only contract between the host and its plugins.
        .target(name: "JobHostABI", path: "Sources/JobHostABI"),

        // What a Swift plugin imports.
        .target(name: "PluginKit", dependencies: ["JobHostABI"]),

        // YAML → validated, typed configuration.
        .target(name: "HostConfig", dependencies: ["Yams", "Scheduling"]),

        // Cron and interval schedules.
        .target(name: "Scheduling"),

        // Finding, checking and loading plugin libraries; the handler registry.
        .target(
            name: "PluginHost",
            dependencies: ["JobHostABI", "HostConfig", .product(name: "Logging", package: "swift-log")]
        ),

        // The `host` command line, kept in a library so each command stays a thin file.
        .target(
            name: "HostCLI",
            dependencies: [
                "HostConfig", "PluginHost",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "host", dependencies: ["HostCLI"]),

        // Test harness: private Redis and PostgreSQL servers, temporary directories, child processes.
        .target(name: "JobHostTesting"),

        // Plugins shipped in the repository.
        .target(name: "TestPlugin", dependencies: ["PluginKit"], path: "Plugins/TestPlugin"),
        .target(name: "Greeter", dependencies: ["PluginKit"], path: "Plugins/Greeter"),
        .target(name: "Echo", dependencies: ["JobHostABI"], path: "Plugins/Echo", publicHeadersPath: "."),

        .testTarget(name: "HostConfigTests", dependencies: ["HostConfig"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SchedulingTests", dependencies: ["Scheduling"]),
        .testTarget(name: "PluginHostTests", dependencies: ["PluginHost", "HostConfig", "JobHostTesting"]),
        .testTarget(name: "HostCLITests", dependencies: ["JobHostTesting"]),
        .testTarget(name: "JobHostTestingTests", dependencies: ["JobHostTesting"]),
    ],
    swiftLanguageModes: [.v6]
)
