import Foundation
import HostConfig
import Testing

/// A plugin's `init` names the keys of its config block it refuses (`config.batch_size: …`, the form
/// jobhost.h documents); the host reports each at that key's line and column, as it does its own keys.
struct PluginConfigPlacementTests {
    static let yaml = """
        backends:
          main: { type: redis, url: "redis://127.0.0.1:6379/0" }
        plugins:
          Noctua:
            config: &content
              database_url: postgres://db/app
              ai_model: gpt-4o-mini
          Voxa:
            config:
              <<: *content
              batch_sise: 5
              ai:
                model: m
                targets:
                  - url: http://a
                  - { url: http://b, weight: 3 }
              "odd.key": 1
          Bare: {}
        queues:
          default: {}
        """

    static func plugin(_ name: String) throws -> PluginConfig {
        let config = try ConfigLoader(environment: [:]).load(text: yaml, file: "host.yaml", directory: URL(fileURLWithPath: "/etc/jobhost"))
        return try #require(config.plugins.first { $0.name == name })
    }

    static func at(_ line: Int, _ column: Int) -> HostConfig.SourceLocation { SourceLocation(file: "host.yaml", line: line, column: column) }

    @Test func eachKeyOfTheBlockIsFoundWhereItWasWritten() throws {
        let voxa = try Self.plugin("Voxa")
        #expect(voxa.configLocation == Self.at(9, 5))
        #expect(voxa.location(of: PluginConfigPath([.key("batch_sise")])) == Self.at(11, 7))
        #expect(voxa.location(of: PluginConfigPath([.key("ai"), .key("model")])) == Self.at(13, 9))
        #expect(voxa.location(of: PluginConfigPath([.key("ai"), .key("targets"), .index(1)])) == Self.at(16, 13), "a list item at its value")
        #expect(voxa.location(of: PluginConfigPath([.key("ai"), .key("targets"), .index(1), .key("weight")])) == Self.at(16, 30))
        #expect(voxa.location(of: PluginConfigPath([.key("odd.key")])) == Self.at(17, 7))
        #expect(voxa.location(of: PluginConfigPath([.key("database_url")])) == Self.at(6, 7), "a merged key where the anchor wrote it")
    }

    @Test func aKeyThatIsNotWrittenIsPlacedAtTheNearestKeyAboveIt() throws {
        let voxa = try Self.plugin("Voxa")
        #expect(voxa.location(of: PluginConfigPath([.key("ai"), .key("temperature")])) == Self.at(12, 7))
        #expect(voxa.location(of: PluginConfigPath([.key("redis_url")])) == Self.at(9, 5), "at config: when nothing above it is written")
        #expect(voxa.location(of: .root) == Self.at(9, 5))
        let bare = try Self.plugin("Bare")
        #expect(bare.location(of: PluginConfigPath([.key("database_url")])) == Self.at(18, 3), "at the plugin's entry without a config: key")
    }

    @Test func initErrorLinesInTheDocumentedFormBecomeDiagnosticsAtTheirKeys() throws {
        let voxa = try Self.plugin("Voxa")
        let found = voxa.diagnostics(forInitError: """
            config.batch_sise: unknown key; did you mean 'batch_size'?
            config.ai.targets[1].weight: expected a string, found an integer
            config."odd.key": unknown key
            config: the block is odd
            cannot reach the database
            """)
        #expect(found.placed.map(\.description) == [
            "host.yaml:11:7: plugins.Voxa.config.batch_sise: unknown key; did you mean 'batch_size'?",
            "host.yaml:16:30: plugins.Voxa.config.ai.targets[1].weight: expected a string, found an integer",
            #"host.yaml:17:7: plugins.Voxa.config."odd.key": unknown key"#,
            "host.yaml:9:5: plugins.Voxa.config: the block is odd",
        ])
        #expect(found.otherLines == ["cannot reach the database"])
    }

    @Test func theKeyPathFormIsReadAsPluginsWriteIt() {
        func parse(_ line: String) -> PluginConfigProblem? { PluginConfigProblem.parse(initError: line).problems.first }
        #expect(parse("config.a.b[2].c: m") == PluginConfigProblem(path: PluginConfigPath([.key("a"), .key("b"), .index(2), .key("c")]), message: "m"))
        #expect(parse(#"config."a \"b\" \\ c".d:  spaced  "#)?.path == PluginConfigPath([.key(#"a "b" \ c"#), .key("d")]))
        #expect(parse(#"config."a \"b\" \\ c".d:  spaced  "#)?.message == "spaced")
        #expect(parse("config: whole")?.path == .root)
        #expect(parse("config.batch_size: m\r")?.message == "m", "CRLF line ends")
        for other in ["configuration: x", "config.: x", "config.a", "config.a: ", "config[x]: m", #"config."open: m"#, "config a: m", "x config.a: m"] {
            #expect(parse(other) == nil, "\(other)")
        }
        #expect(PluginConfigPath([.key("a.b"), .index(0), .key("c")]).description == #"config."a.b"[0].c"#)
    }
}
