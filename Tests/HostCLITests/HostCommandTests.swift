import Foundation
import JobHostTesting
import Testing

/// The `host` executable as an operator runs it: exit codes, stdout/stderr, `--json`.
struct HostCommandTests {
    static let root = BuildProducts.repositoryRoot
    static let exampleConfig = root.appendingPathComponent("config/host.yaml").path
    static let referenceConfig = root.appendingPathComponent("config/reference.yaml").path
    static let corpus = root.appendingPathComponent("Tests/HostConfigTests/Fixtures/bad")

    func host(_ arguments: [String], environment: [String: String] = [:]) throws -> ChildProcess.Output {
        var merged = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("JOBHOST_") }
        merged.merge(environment) { $1 }
        return try ChildProcess.run(BuildProducts.host.path, arguments, environment: merged, workingDirectory: Self.root.path, timeout: .seconds(60))
    }

    struct ListReport: Decodable {
        struct Plugin: Decodable {
            let name: String
            let version: String?
            let abi: String?
            let path: String?
            let status: String
            let check: String?
            let reason: String?
            let handlers: [Handler]
        }
        struct Handler: Decodable {
            let name: String
            let default_timeout_ms: Int?
        }
        let plugins: [Plugin]
        let search_paths: [String]
    }

    @Test func listPluginsShowsTheExampleConfigsPluginsAsOK() throws {
        let output = try host(["list-plugins", "--json"])
        #expect(output.status == 0, "\(output.stderr)")
        let report = try JSONDecoder().decode(ListReport.self, from: Data(output.stdout.utf8))
        #expect(report.plugins.map(\.name) == ["Echo", "Greeter"])
        #expect(report.plugins.allSatisfy { $0.status == "ok" && $0.abi == "1.1" && $0.version == "1.0.0" })
        #expect(report.plugins[0].handlers.map(\.name) == ["echo.log"])
        #expect(report.plugins[1].handlers.first?.default_timeout_ms == 5000)
        #expect(report.plugins[1].path == BuildProducts.plugin("Greeter").resolvingSymlinksInPath().path)
        #expect(report.search_paths.last == BuildProducts.binDirectory.path)
    }

    @Test func listPluginsShowsTheReferenceConfigsPluginsAsOK() throws {
        let output = try host(["list-plugins", "--json", "--config", Self.referenceConfig])
        #expect(output.status == 0, "\(output.stderr)")
        let report = try JSONDecoder().decode(ListReport.self, from: Data(output.stdout.utf8))
        #expect(report.plugins.map(\.name) == ["Echo", "Greeter", "Noctua", "Voxa", "CompanyContext", "Worlds"])
        #expect(report.plugins.allSatisfy { $0.status == "ok" && $0.abi == "1.1" && $0.version == "1.0.0" })
    }

    @Test func listPluginsTableHasTheDocumentedColumns() throws {
        let output = try host(["list-plugins", "--handlers"])
        #expect(output.status == 0)
        let lines = output.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.split(separator: " ", omittingEmptySubsequences: true) == ["NAME", "VERSION", "ABI", "HANDLERS", "PATH", "STATUS"])
        #expect(lines[1].hasPrefix("Echo ") && lines[1].hasSuffix(" ok"))
        #expect(output.stdout.contains("greeter.hello  5s       default"))
    }

    @Test func listPluginsExitsNonZeroWhenOnePluginIsRefused() throws {
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        try "not a library".write(to: directory.url.appendingPathComponent("libBroken.so"), atomically: true, encoding: .utf8)
        let config = directory.url.appendingPathComponent("host.yaml")
        try """
            backends: { main: { type: redis, url: "redis://127.0.0.1:6379" } }
            plugins: { Echo: {}, Broken: { path: libBroken.so } }
            queues: { default: {} }
            """.write(to: config, atomically: true, encoding: .utf8)
        let output = try host(["list-plugins", "--json", "--config", config.path])
        #expect(output.status == 1)
        let report = try JSONDecoder().decode(ListReport.self, from: Data(output.stdout.utf8))
        #expect(report.plugins.map(\.status) == ["ok", "refused"])
        #expect(report.plugins[1].check == "ELF")
        #expect(report.plugins[1].reason?.contains(#"not an ELF file (it starts with "not a library")"#) == true)
        let table = try host(["list-plugins", "--config", config.path])
        #expect(table.status == 1)
        #expect(table.stdout.contains("ELF: not an ELF file"))
        #expect(table.stderr.contains("1 of 2 plugins refused"))
    }

    @Test func checkConfigAcceptsTheExample() throws {
        let output = try host(["check-config"])
        #expect(output.status == 0, "\(output.stderr)")
        let file = Self.root.appendingPathComponent(".build/jobhost.sqlite").path
        #expect(output.stdout == "OK: 1 queue, 2 plugins (2 handlers), 1 schedule\nbackend main: sqlite \(file)\n", "\(output.stdout)")
        // The example's admin token comes from the environment: without it, a warning, not a failure.
        #expect(output.stderr.contains("warning: admin.token_env names JOBHOST_ADMIN_TOKEN, which is not set here"), "\(output.stderr)")
        let withToken = try host(["check-config", "--no-plugins"], environment: ["JOBHOST_ADMIN_TOKEN": "a-token-of-sixteen-chars"])
        #expect(withToken.status == 0 && !withToken.stderr.contains("warning"), "\(withToken.stderr)")
    }

    @Test func checkConfigAcceptsTheReferenceConfigAndShowsWhereItsJobsAre() throws {
        let output = try host(["check-config", Self.referenceConfig], environment: ["REDIS_URL": "", "DATABASE_URL": ""])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout == """
            OK: 5 queues, 6 plugins (14 handlers), 8 schedules
            backend main: redis redis://127.0.0.1:6379/0
            backend app-db: postgres postgres://jobhost@127.0.0.1:5432/app

            """, "\(output.stdout)")
        struct Report: Decodable {
            struct Backend: Decodable, Equatable {
                let name: String
                let type: String
                let address: String
            }
            let ok: Bool
            let backends: [Backend]
        }
        let json = try host(["check-config", "--json", "--no-plugins", Self.exampleConfig])
        let report = try JSONDecoder().decode(Report.self, from: Data(json.stdout.utf8))
        #expect(report.ok && report.backends == [.init(name: "main", type: "sqlite", address: Self.root.appendingPathComponent(".build/jobhost.sqlite").path)])
    }

    @Test func checkConfigReportsThreePlantedMistakesWithTheirLines() throws {
        let file = Self.corpus.appendingPathComponent("three-mistakes.yaml").path
        let output = try host(["check-config", file])
        #expect(output.status == 1)
        #expect(output.stdout.isEmpty)
        let lines = output.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(output.stderr)")
        #expect(lines[0].hasPrefix("\(file):8:5: queues.default.concurency: unknown key 'concurency'"))
        #expect(lines[1].hasPrefix("\(file):13:13: routes.\"noctua.*\": unknown queue 'noctau'"))
        #expect(lines[2].hasPrefix("\(file):17:11: schedules.cleanup.cron: invalid cron '61 * * * *': minute field \"61\""))
        #expect(lines[3] == "\(file): 3 problems found; the host would refuse to start with this file")
    }

    @Test func checkConfigJSONListsEveryProblem() throws {
        struct Report: Decodable {
            struct Problem: Decodable {
                let line: Int
                let key_path: String
            }
            let ok: Bool
            let errors: [Problem]
        }
        let output = try host(["check-config", "--json", Self.corpus.appendingPathComponent("three-mistakes.yaml").path])
        #expect(output.status == 1)
        let report = try JSONDecoder().decode(Report.self, from: Data(output.stdout.utf8))
        #expect(!report.ok)
        #expect(report.errors.map(\.line) == [8, 13, 17])
        #expect(report.errors.map(\.key_path) == ["queues.default.concurency", #"routes."noctua.*""#, "schedules.cleanup.cron"])
    }

    @Test func checkConfigFindsHandlersNoPluginRegisters() throws {
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        let config = directory.url.appendingPathComponent("host.yaml")
        try """
            backends: { main: { type: redis, url: "redis://127.0.0.1:6379" } }
            plugins: { Greeter: {} }
            queues: { default: {} }
            schedules:
              hello: { every: 1m, handler: greeter.helo }
            """.write(to: config, atomically: true, encoding: .utf8)
        let output = try host(["check-config", config.path])
        #expect(output.status == 1)
        #expect(output.stderr.contains("\(config.path):5:32: schedules.hello.handler: no loaded plugin registers handler 'greeter.helo'; did you mean 'greeter.hello'?"))
        // Without plugins, the file itself is fine.
        let fileOnly = try host(["check-config", "--no-plugins", config.path])
        #expect(fileOnly.status == 0)
        #expect(fileOnly.stdout == "OK: 1 queue, 1 plugin (not loaded), 1 schedule\nbackend main: redis redis://127.0.0.1:6379\n")
    }

    @Test func theConfigPathComesFromTheEnvironmentWhenNotGiven() throws {
        let file = Self.corpus.appendingPathComponent("unknown-key.yaml").path
        let output = try host(["check-config"], environment: ["JOBHOST_CONFIG": file])
        #expect(output.status == 1)
        #expect(output.stderr.contains("\(file):6:5:"))
        let flagWins = try host(["check-config", "--config", Self.exampleConfig], environment: ["JOBHOST_CONFIG": file])
        #expect(flagWins.status == 0)
    }

    @Test func aMissingConfigFileIsAClearError() throws {
        let output = try host(["check-config", "/nonexistent/host.yaml"])
        #expect(output.status == 1)
        #expect(output.stderr.hasPrefix("/nonexistent/host.yaml:1:1: "))
    }

    @Test func secretsNeverReachTheOutput() throws {
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        let config = directory.url.appendingPathComponent("host.yaml")
        try """
            backends:
              main: { type: redis, url: "redis://:${REDIS_PASSWORD}@127.0.0.1:6379/x" }
              db: { type: postgres, url: "host=127.0.0.1 password=canary-pg-0042 dbname=\\"" }
            queues: { default: { backend: main } }
            """.write(to: config, atomically: true, encoding: .utf8)
        let output = try host(["check-config", config.path], environment: ["REDIS_PASSWORD": "canary-redis-0042"])
        #expect(output.status == 1)
        #expect(output.stderr.contains("the database after the host must be a number"))
        #expect(!output.stderr.contains("canary"), "\(output.stderr)")
        #expect(!output.stdout.contains("canary"))
    }

    @Test func helpExplainsEachCommand() throws {
        let root = try host(["--help"])
        #expect(root.status == 0)
        #expect(root.stdout.contains("check-config") && root.stdout.contains("list-plugins"))
        let check = try host(["check-config", "--help"])
        #expect(check.stdout.contains("file:line:column: key.path: message"))
        #expect(check.stdout.contains("JOBHOST_CONFIG"))
        let list = try host(["list-plugins", "--help"])
        #expect(list.stdout.contains("JOBHOST_PLUGIN_PATH"))
    }
}

/// The README's plugin examples are the files the build compiles and the tests load, word for word.
struct ReadmeExampleTests {
    @Test(arguments: ["Plugins/Greeter/Greeter.swift", "Plugins/Echo/echo.c"])
    func theExampleIsTheBuiltFile(path: String) throws {
        let root = BuildProducts.repositoryRoot
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let marker = "<!-- example: \(path) -->\n"
        let start = try #require(readme.range(of: marker), "README has no example marked \(path)")
        let afterFence = try #require(readme[start.upperBound...].firstIndex(of: "\n"))
        let body = readme[readme.index(after: afterFence)...]
        let end = try #require(body.range(of: "```\n"))
        let file = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
        #expect(String(body[..<end.lowerBound]) == file)
    }
}
