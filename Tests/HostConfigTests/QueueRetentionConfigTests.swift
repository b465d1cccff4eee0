import Foundation
import Testing

@testable import HostConfig

/// `queues.NAME.dead_retention` and `queues.NAME.retry_position`.
struct QueueRetentionConfigTests {
    func load(_ yaml: String) throws(ConfigError) -> HostConfiguration {
        try ConfigLoader(environment: [:]).load(text: yaml, file: "test.yaml", directory: URL(fileURLWithPath: "/etc/jobhost"))
    }

    func problems(_ queues: String) -> [ConfigDiagnostic] {
        do {
            _ = try load("""
                backends:
                  main: { type: redis, url: "redis://127.0.0.1:6379/0" }
                queues:
                \(queues)
                """)
            return []
        } catch {
            return error.diagnostics
        }
    }

    @Test func defaultsKeepDeadJobsThirtyDaysAndRetryAtTheFront() throws {
        let config = try load("""
            backends:
              main: { type: redis, url: "redis://127.0.0.1:6379/0" }
            queues:
              default: {}
            """)
        let queue = try #require(config.queues.first)
        #expect(queue.deadRetention == .seconds(30 * 86_400))
        #expect(queue.retryPosition == .front)
    }

    @Test func readsBothKeys() throws {
        let config = try load("""
            backends:
              main: { type: redis, url: "redis://127.0.0.1:6379/0" }
            queues:
              prompts: { dead_retention: 7d, retry_position: back }
              audit: { dead_retention: forever, retry_position: front }
              quick: { dead_retention: 1h30m }
            """)
        #expect(config.queues.map(\.deadRetention) == [.seconds(7 * 86_400), nil, .seconds(5400)])
        #expect(config.queues.map(\.retryPosition) == [.back, .front, .front])
    }

    @Test(arguments: [
        ("0s", "would delete every dead job at once"), ("0", "has no unit"), ("never", "is not a duration"), ("-1d", "is not a duration"),
    ])
    func aBadDeadRetentionIsRefusedAtItsLineSayingWhatIsAllowed(value: String, says: String) throws {
        let found = problems("""
              default: {}
              prompts:
                concurrency: 2
                dead_retention: \(value)
            """)
        let problem = try #require(found.first)
        #expect(found.count == 1)
        #expect(problem.keyPath == "queues.prompts.dead_retention")
        #expect(problem.location.file == "test.yaml")
        #expect(problem.location.line == 7)
        #expect(problem.message.contains(says), "\(problem.message)")
        #expect(problem.message.contains("'forever'"), "\(problem.message)")
    }

    @Test func aBadRetryPositionIsRefusedAtItsLineWithTheChoices() throws {
        let found = problems("""
              prompts:
                retry_position: last
              other: { retry_position: bak }
            """)
        #expect(found.map(\.keyPath) == ["queues.prompts.retry_position", "queues.other.retry_position"])
        #expect(found.map(\.location.line) == [5, 6])
        #expect(found[0].message.hasPrefix("'last' is not one of front, back"))
        #expect(found[1].message == "'bak' is not one of front, back; did you mean 'back'?")
    }

    @Test func aMisspelledKeyIsSuggested() throws {
        let found = problems("""
              prompts: { dead_retension: 7d }
            """)
        #expect(found.map(\.keyPath) == ["queues.prompts.dead_retension"])
        #expect(found.first?.message.contains("dead_retention") == true, "\(found.first?.message ?? "")")
    }
}
