import Foundation
import JobHostTesting
import Testing

/// A mistake in a plugin's `config:` block is reported like a mistake in the host's own keys:
/// `file:line:column: plugins.<Name>.config.<key>: message`, by check-config, run and list-plugins.
/// The plugin finds it (its `init` writes `config.<key>: message` lines); the host places it.
struct PluginConfigCheckTests {
    static let root = BuildProducts.repositoryRoot

    func host(_ arguments: [String]) throws -> ChildProcess.Output {
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("JOBHOST_") }
        return try ChildProcess.run(BuildProducts.host.path, arguments, environment: environment, workingDirectory: Self.root.path, timeout: .seconds(60))
    }

    /// Writes a config holding one plugin entry whose `config:` block is `block` (lines indented six
    /// spaces, starting on line 6 of the file), runs `check-config` on it, and returns the problems printed.
    func check(plugin: String, block: [String], extraPlugin: String = "", in directory: TemporaryDirectory) throws -> (file: String, lines: [String]) {
        let file = directory.url.appendingPathComponent("host.yaml").path
        let yaml = """
            backends:
              main: { type: redis, url: "redis://127.0.0.1:6379/0" }
            plugins:
              \(plugin):
                config:
            \(block.map { "      " + $0 }.joined(separator: "\n"))
            \(extraPlugin)
            queues:
              default: {}
            """
        try yaml.write(toFile: file, atomically: false, encoding: .utf8)
        let output = try host(["check-config", file])
        #expect(output.status == 1, "\(output.stdout)\(output.stderr)")
        return (file, output.stderr.split(separator: "\n").map(String.init).dropLast())
    }

    static let database = "database_url: postgres://jobhost@127.0.0.1:5432/app"

    @Test(arguments: [
        // (plugin, its block, the problems check-config prints: line, column, key, message)
        ("Noctua", [database, "ai_timout_seconds: 45", "ai_temperature: warm"], [
            (7, 7, "ai_timout_seconds", "unknown key; did you mean 'ai_timeout_seconds'?"),
            (8, 7, "ai_temperature", "expected a number, found a string"),
        ]),
        ("Noctua", [database, "stuck_after: 30s"], [
            (7, 7, "stuck_after", "expected a duration of at least 1m such as 90m or 2h, found '30s'"),
        ]),
        ("Voxa", [database, "batch_sise: 5", #"batch_size: "seven""#], [
            (7, 7, "batch_sise", "unknown key; did you mean 'batch_size'?"),
            (8, 7, "batch_size", "expected an integer, found a string"),
        ]),
        ("CompanyContext", [database, "ai_modle: gpt-4o-mini", "ai_timeout_seconds: [45]"], [
            (7, 7, "ai_modle", "unknown key; did you mean 'ai_model'?"),
            (8, 7, "ai_timeout_seconds", "expected a number, found a list"),
        ]),
        ("Worlds", [database, "redis_url: redis://127.0.0.1:6379/0", "consolidate_keeep: 10", "redis_prefix: 5"], [
            (8, 7, "consolidate_keeep", "unknown key; did you mean 'consolidate_keep'?"),
            (9, 7, "redis_prefix", "expected a string, found an integer"),
        ]),
        ("Greeter", ["salutaion: Hi", "salutation: [Hi]"], [
            (6, 7, "salutaion", "unknown key; did you mean 'salutation'?"),
            (7, 7, "salutation", "expected a string, found a list"),
        ]),
    ] as [(String, [String], [(Int, Int, String, String)])])
    func aTypoAndAWrongTypeInAReferencePluginsConfigArePlacedAtTheirKeys(
        plugin: String, block: [String], expected: [(Int, Int, String, String)]
    ) throws {
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        let (file, lines) = try check(plugin: plugin, block: block, in: directory)
        #expect(lines == expected.map { "\(file):\($0.0):\($0.1): plugins.\(plugin).config.\($0.2): \($0.3)" })
    }

    @Test func aMissingRequiredKeyIsPlacedAtTheConfigKeyAndARuleOfThePluginAtItsKey() throws {
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        let missing = try check(plugin: "Noctua", block: ["ai_model: gpt-4o-mini"], in: directory)
        #expect(missing.lines == ["\(missing.file):5:5: plugins.Noctua.config.database_url: required key is missing"])
        let rule = try check(plugin: "Worlds", block: [Self.database, "redis_url: redis://127.0.0.1:6379/0", "redis_prefix: ''"], in: directory)
        #expect(rule.lines == ["\(rule.file):8:7: plugins.Worlds.config.redis_prefix: must not be empty"])
    }

    @Test func checkConfigJSONCarriesThePlacedPathLineAndColumn() throws {
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        let (file, _) = try check(plugin: "Voxa", block: [Self.database, "batch_sise: 5"], in: directory)
        struct Report: Decodable {
            struct Problem: Decodable, Equatable {
                let file: String
                let line: Int
                let column: Int
                let key_path: String
                let message: String
            }
            let ok: Bool
            let errors: [Problem]
        }
        let output = try host(["check-config", "--json", file])
        #expect(output.status == 1)
        let report = try JSONDecoder().decode(Report.self, from: Data(output.stdout.utf8))
        #expect(!report.ok)
        #expect(report.errors == [
            .init(file: file, line: 7, column: 7, key_path: "plugins.Voxa.config.batch_sise", message: "unknown key; did you mean 'batch_size'?")
        ])
    }

    @Test func runRefusesToStartAndListPluginsShowsThePlacedProblem() throws {
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        let (file, _) = try check(plugin: "Voxa", block: [Self.database, "batch_sise: 5"], extraPlugin: "  Echo: {}", in: directory)
        let placed = "\(file):7:7: plugins.Voxa.config.batch_sise: unknown key; did you mean 'batch_size'?"

        let run = try host(["run", "--config", file])
        #expect(run.status == 1)
        #expect(run.stderr.contains(placed + "\n"), "\(run.stderr)")
        #expect(run.stderr.contains("the host does not start until these are fixed"))

        let table = try host(["list-plugins", "--config", file])
        #expect(table.status == 1)
        #expect(table.stdout.contains("init: config.batch_sise: unknown key; did you mean 'batch_size'?"), "\(table.stdout)")
        #expect(table.stderr.contains(placed + "\n"), "\(table.stderr)")

        struct Report: Decodable {
            struct Plugin: Decodable {
                struct Problem: Decodable {
                    let line: Int
                    let column: Int
                    let key_path: String
                }
                let name: String
                let status: String
                let check: String?
                let errors: [Problem]?
            }
            let plugins: [Plugin]
        }
        let json = try host(["list-plugins", "--json", "--config", file])
        #expect(json.status == 1)
        let report = try JSONDecoder().decode(Report.self, from: Data(json.stdout.utf8))
        #expect(report.plugins.map(\.name) == ["Voxa", "Echo"])
        #expect(report.plugins[0].status == "refused" && report.plugins[0].check == "init")
        #expect(report.plugins[0].errors?.map { "\($0.line):\($0.column) \($0.key_path)" } == ["7:7 plugins.Voxa.config.batch_sise"])
        #expect(report.plugins[1].status == "ok" && report.plugins[1].errors == nil)
    }

    @Test func aCPluginsInitThatWritesTheDocumentedLinesIsPlacedToo() throws {
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        // Plain cc, no PluginKit: the convention is the header's, not Swift's.
        let source = directory.url.appendingPathComponent("strict.c")
        try """
            #include <stdio.h>
            #include <string.h>
            #include "jobhost.h"
            static int32_t run(const jh_host *h, jh_context *c, const jh_job *j, void *d) { (void)h; (void)c; (void)j; (void)d; return JH_SUCCESS; }
            static int32_t init(const jh_host *host, const char *json, size_t len, char *err, size_t cap) {
                (void)host; (void)len;
                if (strstr(json, "\\"fod\\"") == NULL) return JH_OK;
                snprintf(err, cap, "config.fod: unknown key; did you mean 'food'?\\nconfig.limits.size: expected an integer, found a string\\nconfig.colour: required key is missing");
                return JH_ERROR;
            }
            static const jh_handler_def handlers[] = { {.name = "strict.run", .description = "does nothing", .run = run} };
            static const jh_plugin_descriptor descriptor = {
                JH_DESCRIPTOR_HEADER, .name = "strict", .version = "1.0.0", .description = "checks its config in C",
                .handlers = handlers, .handler_count = 1, .init = init,
            };
            JH_EXPORT const jh_plugin_descriptor *jh_plugin_entry(void) { return &descriptor; }
            """.write(to: source, atomically: false, encoding: .utf8)
        let library = directory.url.appendingPathComponent("libStrict.so").path
        let compiled = try ChildProcess.run(
            "cc", ["-shared", "-fPIC", "-I", BuildProducts.abiIncludeDirectory.path, "-o", library, source.path], timeout: .seconds(60))
        try #require(compiled.status == 0, "\(compiled.stderr)")

        let file = directory.url.appendingPathComponent("host.yaml").path
        try """
            backends:
              main: { type: redis, url: "redis://127.0.0.1:6379/0" }
            plugins:
              Strict:
                path: libStrict.so
                config:
                  fod: bread
                  limits:
                    size: large
            queues:
              default: {}
            """.write(toFile: file, atomically: false, encoding: .utf8)
        let output = try host(["check-config", file])
        #expect(output.status == 1)
        #expect(output.stderr.split(separator: "\n").map(String.init) == [
            "\(file):6:5: plugins.Strict.config.colour: required key is missing",
            "\(file):7:7: plugins.Strict.config.fod: unknown key; did you mean 'food'?",
            "\(file):9:9: plugins.Strict.config.limits.size: expected an integer, found a string",
            "\(file): 3 problems found; the host would refuse to start with this file",
        ], "\(output.stderr)")
    }
}
