import Backend
import Foundation
import HostConfig
import HostDomain
import JobHostTesting
import Logging
import PluginHost
import RedisBackend
import Runtime

/// A runtime on a private Redis with the test plugin loaded, and a file the test plugin records runs in.
final class RuntimeFixture {
    let redis: RedisServer
    let config: HostConfiguration
    let backend: RedisBackend
    let registry: HandlerRegistry
    let directory: TemporaryDirectory
    let recordFile: String
    let logger: Logger

    /// - Parameter queues: the `queues:` block, indented by two spaces per level under `queues:`.
    /// - Parameter log: where the runtime's lines go, for tests that read them; nil: warnings and worse are dropped.
    init(queues: String, routes: String = "", grace: Duration = .seconds(5), log: LogCapture? = nil) async throws {
        redis = try await RedisServer.start()
        directory = try TemporaryDirectory.create()
        recordFile = directory.url.appendingPathComponent("ran.txt").path
        _ = FileManager.default.createFile(atPath: recordFile, contents: nil)
        var logger = log.map { capture in Logger(label: "runtime-test") { _ in capture } } ?? Logger(label: "runtime-test")
        logger.logLevel = log == nil ? .warning : .info
        self.logger = logger
        let yaml = """
            backends:
              main: { type: redis, url: "\(redis.url)", key_prefix: t }
            plugins:
              TestPlugin: {}
            queues:
            \(queues)
            \(routes.isEmpty ? "" : "routes:\n\(routes)")
            """
        config = try ConfigLoader(environment: [:]).load(text: yaml, file: "test.yaml", directory: directory.url)
        backend = RedisBackend(url: redis.url, keyPrefix: "t", connectTimeout: .seconds(2), logger: logger)
        let loader = PluginLoader(searchPaths: [BuildProducts.binDirectory], logger: logger)
        loader.load(config.plugins)
        registry = loader.registry
    }

    func runtime(grace: Duration = .seconds(5)) -> HostRuntime {
        HostRuntime(config: config, backends: ["main": backend], registry: registry, logger: logger, grace: grace)
    }

    func submitter() -> JobSubmitter { JobSubmitter(config: config, backends: ["main": backend]) }

    /// Enqueues `count` jobs of `handler` whose payload records them, in batches; returns their ids.
    @discardableResult
    func enqueue(_ count: Int, handler: String = "test.record", queue: String, extra: String = "") throws -> [String] {
        let (template, _) = try submitter().prepare(.init(handler: handler, payload: Data("{}".utf8), queue: queue))
        var ids: [String] = []
        for start in stride(from: 0, to: count, by: 1000) {
            let jobs = (start..<min(start + 1000, count)).map { _ in
                var job = template
                job.id = JobID.generate()
                job.payload = Data(#"{"record": "\#(recordFile)"\#(extra)}"#.utf8)
                return job
            }
            ids += try backend.enqueue(jobs)
        }
        return ids
    }

    struct Run: Hashable {
        let id: String
        let attempt: Int
        let handler: String
        let unixMicros: Int64
    }

    /// What the test plugin recorded so far.
    func runs() throws -> [Run] {
        try String(contentsOfFile: recordFile, encoding: .utf8).split(separator: "\n").map { line in
            let fields = line.split(separator: " ")
            return Run(id: String(fields[0]), attempt: Int(fields[1])!, handler: String(fields[2]), unixMicros: Int64(fields[3])!)
        }
    }

    deinit {
        redis.stop()
        try? directory.remove()
    }
}
