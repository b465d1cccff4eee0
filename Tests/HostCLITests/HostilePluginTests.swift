import Foundation
import Glibc
import JobHostTesting
import Testing

/// The hostile-plugin corpus through the `host` commands an operator runs: plugins that hang, crash or
/// exit in their constructor, their entry function or their `init`, symlinks to what is no plugin,
/// names no table should print. Each is refused naming the file, the step and the reason, within
/// `host.plugin_load_timeout` (1s here), and the good plugin beside them still loads.
///
/// The commands run with a bound of minutes: one that never returned would fail here, not hang.
struct HostilePluginTests {
    /// A directory holding the plugins and a config naming them, removed by `remove()`.
    struct Corpus {
        let directory: TemporaryDirectory
        var plugins: URL { directory.url.appendingPathComponent("plugins") }
        var config: String { directory.url.appendingPathComponent("host.yaml").path }

        init() throws {
            directory = try TemporaryDirectory.create()
            try FileManager.default.createDirectory(at: plugins, withIntermediateDirectories: false)
            try CPluginSource(name: "good", handlerNames: ["good.run"]).build(as: "Good", in: plugins)
        }

        func remove() { try? directory.remove() }

        /// The file of plugin `name`, as the host names it (links in the temporary directory's path resolved).
        func file(_ name: String) -> String {
            plugins.appendingPathComponent("lib\(name).so").resolvingSymlinksInPath().path
        }

        /// The plugin's file before its links are followed (what a refusal about the link names).
        func link(_ name: String) -> String { plugins.appendingPathComponent("lib\(name).so").path }

        func writeConfig(plugins names: [String]) throws {
            try """
                host: { plugin_load_timeout: 1s, plugin_paths: [plugins] }
                backends: { main: { type: sqlite, path: jobs.sqlite } }
                plugins:
                \(names.map { "  \($0): {}" }.joined(separator: "\n"))
                queues: { default: {} }
                """.write(toFile: config, atomically: true, encoding: .utf8)
        }

        func host(_ arguments: [String]) throws -> ChildProcess.Output {
            let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("JOBHOST_") }
            return try ChildProcess.run(
                BuildProducts.host.path, arguments + ["--config", config], environment: environment, workingDirectory: directory.path,
                timeout: .seconds(300))
        }
    }

    struct ListReport: Decodable {
        struct Plugin: Decodable {
            let name: String
            let path: String?
            let status: String
            let check: String?
            let reason: String?
        }
        let plugins: [Plugin]
    }

    /// What a refusal of a misbehaving step must say.
    struct Expected {
        let check: String
        let reasonPrefix: String
        let path: String
    }

    static func subject(_ step: CPluginSource.Step) -> String {
        switch step {
        case .constructor: "a constructor of the library (run by dlopen)"
        case .entry: "the entry function"
        case .`init`: "init"
        }
    }

    static func expected(_ misdeed: CPluginSource.Misdeed, in step: CPluginSource.Step, file: String) -> Expected {
        switch misdeed {
        case .hang: Expected(check: "hang", reasonPrefix: "\(subject(step)) did not return within 1s", path: file)
        case .segfault: Expected(check: "crash", reasonPrefix: "\(subject(step)) crashed the loading process (SIGSEGV)", path: file)
        case .exit3: Expected(check: "exit", reasonPrefix: "\(subject(step)) exited the process (exit status 3)", path: file)
        case .exit0: Expected(check: "exit", reasonPrefix: "\(subject(step)) exited the process (exit status 0)", path: file)
        }
    }

    /// `HangInInit`, `SegfaultInConstructor`, …
    static func pluginName(_ misdeed: CPluginSource.Misdeed, _ step: CPluginSource.Step) -> String {
        misdeed.rawValue.prefix(1).uppercased() + misdeed.rawValue.dropFirst() + "In" + step.rawValue.prefix(1).uppercased() + step.rawValue.dropFirst()
    }

    @discardableResult
    static func build(_ misdeed: CPluginSource.Misdeed, in step: CPluginSource.Step, corpus: Corpus) throws -> String {
        let name = pluginName(misdeed, step)
        try CPluginSource.misbehaving(misdeed, in: step, name: name.lowercased()).build(as: name, in: corpus.plugins)
        return name
    }

    static func expectList(
        _ output: ChildProcess.Output, _ expected: [String: Expected], sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) throws {
        #expect(output.status == 1, "\(output.stderr)", sourceLocation: sourceLocation)
        let report = try JSONDecoder().decode(ListReport.self, from: Data(output.stdout.utf8))
        let byName = Dictionary(uniqueKeysWithValues: report.plugins.map { ($0.name, $0) })
        #expect(byName["Good"]?.status == "ok", "the good plugin loads beside the bad: \(String(describing: byName["Good"]))", sourceLocation: sourceLocation)
        for (name, want) in expected.sorted(by: { $0.key < $1.key }) {
            guard let entry = byName[name] else {
                Issue.record("\(name) is not listed", sourceLocation: sourceLocation)
                continue
            }
            #expect(entry.status == "refused", "\(name)", sourceLocation: sourceLocation)
            #expect(entry.check == want.check, "\(name): \(entry.check ?? "-"): \(entry.reason ?? "-")", sourceLocation: sourceLocation)
            #expect(entry.reason?.hasPrefix(want.reasonPrefix) == true, "\(name): \(entry.reason ?? "-")", sourceLocation: sourceLocation)
            #expect(entry.path == want.path, "\(name) names its file: \(entry.path ?? "-")", sourceLocation: sourceLocation)
        }
    }

    // MARK: list-plugins, the whole corpus

    @Test func listPluginsRefusesEachMisbehavingStepNamingTheFileAndTheStep() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        var expected: [String: Expected] = [:]
        for step in CPluginSource.Step.allCases {
            for misdeed in CPluginSource.Misdeed.allCases {
                let name = try Self.build(misdeed, in: step, corpus: corpus)
                expected[name] = Self.expected(misdeed, in: step, file: corpus.file(name))
            }
        }
        try corpus.writeConfig(plugins: ["Good"] + expected.keys.sorted())
        try Self.expectList(try corpus.host(["list-plugins", "--json"]), expected)
    }

    @Test func listPluginsRefusesLinksToWhatIsNoPluginAndNamesNoTableCanPrint() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let manager = FileManager.default
        try manager.createSymbolicLink(atPath: corpus.link("ZeroLink"), withDestinationPath: "/dev/zero")
        try manager.createSymbolicLink(atPath: corpus.link("NullLink"), withDestinationPath: "/dev/null")
        try manager.createSymbolicLink(atPath: corpus.link("LoopLink"), withDestinationPath: "libLoopBack.so")
        try manager.createSymbolicLink(atPath: corpus.link("LoopBack"), withDestinationPath: "libLoopLink.so")
        try manager.createSymbolicLink(atPath: corpus.link("DanglingLink"), withDestinationPath: "libGone.so")
        try CPluginSource(name: #"bad\nname"#, handlerNames: ["ctl.run"]).build(as: "ControlName", in: corpus.plugins)
        try CPluginSource(name: "ctl", handlerNames: [#"ctl.bad\tname"#]).build(as: "ControlHandler", in: corpus.plugins)
        try CPluginSource(name: "long", handlerNames: ["long." + String(repeating: "x", count: 300)]).build(as: "LongHandler", in: corpus.plugins)
        let expected: [String: Expected] = [
            "ZeroLink": Expected(
                check: "regular file", reasonPrefix: "not a regular file: \(corpus.link("ZeroLink")) is a symlink to /dev/zero, a character device",
                path: corpus.link("ZeroLink")),
            "NullLink": Expected(
                check: "regular file", reasonPrefix: "not a regular file: \(corpus.link("NullLink")) is a symlink to /dev/null, a character device",
                path: corpus.link("NullLink")),
            "LoopLink": Expected(
                check: "regular file", reasonPrefix: "not a regular file: \(corpus.link("LoopLink")) is a symlink loop", path: corpus.link("LoopLink")),
            "DanglingLink": Expected(
                check: "not found", reasonPrefix: "\(corpus.link("DanglingLink")) is a symlink to \(corpus.link("Gone")), which does not exist",
                path: corpus.link("DanglingLink")),
            "ControlName": Expected(
                check: "descriptor", reasonPrefix: "the descriptor's name contains a control character (U+000A)", path: corpus.file("ControlName")),
            "ControlHandler": Expected(
                check: "handler name", reasonPrefix: "the name of handler #1 contains a control character (U+0009)",
                path: corpus.file("ControlHandler")),
            "LongHandler": Expected(
                check: "handler name", reasonPrefix: "the name of handler #1 is 305 bytes, longer than the 255 bytes", path: corpus.file("LongHandler")),
        ]
        try corpus.writeConfig(plugins: ["Good"] + expected.keys.sorted())
        try Self.expectList(try corpus.host(["list-plugins", "--json"]), expected)
        let table = try corpus.host(["list-plugins"])
        #expect(table.status == 1)
        #expect(!table.stdout.contains("chmod"), "no mode advice for a device: \(table.stdout)")
        #expect(table.stdout.split(separator: "\n").count == 2 + expected.count, "one line a plugin: \(table.stdout)")
    }

    @Test(.enabled(if: cxxCompilerIsInstalled, "no C++ compiler (c++) is installed; scripts/install-deps --test installs g++"))
    func anUncaughtCPlusPlusExceptionIsACrashWithItsSignal() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let thrower = try compileCXXObject(
            source: #"""
                #include <stdexcept>
                extern "C" void jobhost_test_throw(void) { throw std::runtime_error("thrown while loading"); }
                """#, name: "thrower", in: corpus.plugins)
        let prelude = "extern void jobhost_test_throw(void);"
        let link = [thrower.path, "-lstdc++"]
        try CPluginSource(name: "throwsininit", handlerNames: ["throwsininit.run"], initBody: "jobhost_test_throw(); return JH_OK;", prelude: prelude)
            .build(as: "ThrowsInInit", in: corpus.plugins, extraFlags: link)
        try CPluginSource(name: "throwsinconstructor", handlerNames: ["throwsinconstructor.run"], constructorBody: "jobhost_test_throw();", prelude: prelude)
            .build(as: "ThrowsInConstructor", in: corpus.plugins, extraFlags: link)
        try corpus.writeConfig(plugins: ["Good", "ThrowsInInit", "ThrowsInConstructor"])
        let output = try corpus.host(["list-plugins", "--json"])
        try Self.expectList(output, [
            "ThrowsInInit": Expected(check: "crash", reasonPrefix: "init crashed the loading process (SIGABRT", path: corpus.file("ThrowsInInit")),
            "ThrowsInConstructor": Expected(
                check: "crash", reasonPrefix: "a constructor of the library (run by dlopen) crashed the loading process (SIGABRT",
                path: corpus.file("ThrowsInConstructor")),
        ])
        // The C++ runtime's own words reach the operator too.
        #expect(output.stderr.contains("thrown while loading"), "\(output.stderr)")
    }

    // MARK: check-config and host run: one bad step each

    /// A hang in a constructor, a crash in the entry function, `exit(0)` in init, a link to a device.
    static func onePerStep(_ corpus: Corpus) throws -> [String: Expected] {
        var expected: [String: Expected] = [:]
        for (misdeed, step) in [(CPluginSource.Misdeed.hang, CPluginSource.Step.constructor), (.segfault, .entry), (.exit0, .`init`)] {
            let name = try build(misdeed, in: step, corpus: corpus)
            expected[name] = Self.expected(misdeed, in: step, file: corpus.file(name))
        }
        try FileManager.default.createSymbolicLink(atPath: corpus.link("ZeroLink"), withDestinationPath: "/dev/zero")
        expected["ZeroLink"] = Expected(
            check: "regular file", reasonPrefix: "not a regular file: \(corpus.link("ZeroLink")) is a symlink to /dev/zero, a character device",
            path: corpus.link("ZeroLink"))
        try corpus.writeConfig(plugins: ["Good"] + expected.keys.sorted())
        return expected
    }

    static func expectDiagnostics(
        _ output: ChildProcess.Output, _ expected: [String: Expected], sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        #expect(output.status == 1, sourceLocation: sourceLocation)
        for (name, want) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(
                output.stderr.contains("plugins.\(name): \(want.path): \(want.check) check failed: \(want.reasonPrefix)"),
                "\(name):\n\(output.stderr)", sourceLocation: sourceLocation)
        }
        #expect(!output.stderr.contains("plugins.Good"), "\(output.stderr)", sourceLocation: sourceLocation)
    }

    @Test func checkConfigRefusesAPluginPerBadStepAtItsEntry() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let expected = try Self.onePerStep(corpus)
        let output = try corpus.host(["check-config"])
        Self.expectDiagnostics(output, expected)
        // At the plugin's entry in the file: the plugins start on line 4.
        let names = ["Good"] + expected.keys.sorted()
        for (index, name) in names.enumerated() where name != "Good" {
            #expect(output.stderr.contains("\(corpus.config):\(4 + index):3: plugins.\(name): "), "\(name): \(output.stderr)")
        }
        #expect(output.stderr.contains("\(expected.count) problems found"))
    }

    @Test func hostRunRefusesToStartInsteadOfHanging() throws {
        let corpus = try Corpus()
        defer { corpus.remove() }
        let expected = try Self.onePerStep(corpus)
        let output = try corpus.host(["run"])
        Self.expectDiagnostics(output, expected)
        #expect(output.stderr.contains("the host does not start until these are fixed"), "\(output.stderr)")
    }

    // MARK: host run's workers

    /// The survey loaded it in time, but a worker's own load hangs (an init that waits on a server
    /// which stopped answering in between): the supervisor kills that worker instead of leaving its
    /// queue stalled with nothing said, and the host still shuts down when asked.
    @Test func aWorkerStuckLoadingAPluginIsKilledNotWaitedOn() async throws {
        let harness = try await HostHarness(.sqlite)
        let plugins = harness.directory.url.appendingPathComponent("plugins")
        try FileManager.default.createDirectory(at: plugins, withIntermediateDirectories: false)
        let marker = harness.directory.url.appendingPathComponent("loaded-once").path
        // The first load (the survey's) returns; every later one hangs.
        try CPluginSource(
            name: "second", handlerNames: ["second.run"],
            initBody: #"if (access("\#(marker)", F_OK) == 0) { for (;;) pause(); } FILE *f = fopen("\#(marker)", "w"); if (f) fclose(f); return JH_OK;"#
        ).build(as: "SecondLoadHangs", in: plugins)
        try harness.writeConfig(
            host: "plugin_load_timeout: 1s, shutdown_timeout: 1s, timeout_grace: 500ms, plugin_paths: [plugins]",
            plugins: "  SecondLoadHangs: {}", queues: "  default: {}")
        let host = try harness.startHost()
        try await harness.waitUntil("the worker stuck loading is killed, by name") {
            host.log.contains("killing a worker stuck loading a plugin: plugin 'SecondLoadHangs'")
                && host.log.contains("hang check failed: init did not return within 1s")
        }
        try await harness.waitUntil("a new worker started after the one killed") {
            host.log.components(separatedBy: "worker started").count - 1 >= 2
        }
        host.send(SIGTERM)
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0, "\(harness.logTails())")
    }
}
