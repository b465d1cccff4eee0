import HostConfig
import Testing
@testable import Supervisor

struct PluginPlacementTests {
    static func entry(_ name: String, _ handlers: [String], status: String = "ok") -> PluginEntry {
        PluginEntry(
            name: name, declaredName: name, version: "1", abi: "1.0", description: nil, path: "/lib\(name).so", status: status,
            check: nil, reason: nil, handlers: handlers.map { .init(name: $0, description: "", defaultTimeoutMs: nil) })
    }

    static let survey = PluginSurveyReport(
        plugins: [
            entry("Echo", ["echo.log"]), entry("Greeter", ["greeter.hello"]), entry("Worlds", ["worlds.sync", "worlds.cleanup"]),
            entry("Reports", ["reports.weekly"]), entry("Broken", [], status: "refused"),
        ],
        searchPaths: [])

    func placement(queues: [String]? = nil) throws -> PluginPlacement {
        let config = try ConfigLoader(environment: [:]).load(
            text: """
                backends: { main: { type: redis, url: "redis://127.0.0.1:1" } }
                plugins: { Echo: {}, Greeter: {}, Worlds: {}, Reports: {}, Broken: {} }
                queues:
                  default: {}
                  worlds: {}
                  reports: {}
                  local: { isolation: thread }
                routes:
                  echo.*: default
                  worlds.*: worlds
                  reports.*: local
                schedules:
                  sync-on-default: { every: 1m, handler: worlds.sync, queue: default }
                """, path: "/tmp/host.yaml")
        let inWorkers = config.queues.filter { $0.isolation == .process && queues?.contains($0.name) != false }
        return PluginPlacement(config: config, survey: Self.survey, queues: inWorkers)
    }

    @Test
    func aQueueLoadsThePluginsOfItsRoutesItsSchedulesAndItsUnroutedHandlers() throws {
        let placement = try placement()
        // greeter.hello has no route: it goes to default. A schedule sends worlds.sync to default too.
        #expect(placement.byQueue["default"] == ["Echo", "Greeter", "Worlds"])
        #expect(placement.byQueue["worlds"] == ["Worlds"])
        // A queue nothing is routed to loads nothing.
        #expect(placement.byQueue["reports"] == [])
        // Reports' jobs go to a queue run in the host: no worker loads it. A refused plugin is never placed.
        #expect(placement.unplaced == ["Reports"])
        #expect(placement.onDemand(for: "worlds") == ["echo.log": "Echo", "greeter.hello": "Greeter", "reports.weekly": "Reports"])
    }

    @Test
    func aPluginWhoseQueueIsNotRunHereIsLoadedByNoWorker() throws {
        let placement = try placement(queues: ["worlds"])
        #expect(placement.byQueue.keys.sorted() == ["worlds"])
        #expect(placement.unplaced == ["Echo", "Greeter", "Reports"])
    }
}
