import Foundation
import HostConfig
import Testing

/// `host.plugin_load_timeout`: how long each step of loading a plugin may take.
struct PluginLoadTimeoutTests {
    func load(_ host: String) throws(ConfigError) -> HostConfiguration {
        try ConfigLoader(environment: [:]).load(
            text: """
                \(host)
                backends: { main: { type: sqlite, path: jobs.sqlite } }
                queues: { default: {} }
                """, path: "/srv/jobhost/host.yaml")
    }

    @Test func itIsFiveSecondsUnlessSet() throws {
        #expect(try load("").host.pluginLoadTimeout == .seconds(5))
        #expect(try load("host: { plugin_load_timeout: 1500ms }").host.pluginLoadTimeout == .milliseconds(1500))
        #expect(try load("host: { plugin_load_timeout: 2m }").host.pluginLoadTimeout == .seconds(120))
    }

    @Test(arguments: [
        ("0s", "must be at least 100ms, found 0s"), ("5", "unit"), ("soon", "soon"),
    ])
    func aBadValueIsRefusedAtItsKey(value: String, fragment: String) {
        do {
            _ = try load("host: { plugin_load_timeout: \(value) }")
            Issue.record("\(value) was taken")
        } catch {
            let problems = error.diagnostics
            #expect(problems.count == 1, "\(error)")
            #expect(problems.first?.keyPath == "host.plugin_load_timeout", "\(error)")
            #expect(problems.first?.location.line == 1)
            #expect(problems.first?.message.contains(fragment) == true, "\(error)")
        }
    }

    @Test func aMisspeltKeyGetsASuggestion() {
        do {
            _ = try load("host: { plugin_load_timout: 5s }")
            Issue.record("taken")
        } catch {
            #expect(error.description.contains("plugin_load_timeout"), "\(error)")
        }
    }
}
