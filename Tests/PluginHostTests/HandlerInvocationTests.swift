import Foundation
import HostConfig
import JobHostTesting
import Logging
import Synchronization
import Testing

@testable import PluginHost

/// Handlers called through the ABI: outcomes, error texts, retry delays, cancellation, chaining, logs.
@Suite(.serialized)
struct HandlerInvocationTests {
    static let registry: HandlerRegistry = {
        let loader = PluginLoader(searchPaths: [BuildProducts.binDirectory], logger: Logger(label: "test"))
        for name in ["Echo", "Greeter", "TestPlugin"] {
            loader.load(PluginConfig(
                name: name, path: nil, configJSON: name == "TestPlugin" ? #"{"greeting":"hola"}"# : "{}",
                location: .init(file: "test.yaml", line: 1, column: 1)))
        }
        return loader.registry
    }()

    final class RecordingEnqueuer: JobEnqueuer {
        let jobs = Mutex<[ChainedJob]>([])
        func enqueue(_ job: ChainedJob) throws -> String {
            jobs.withLock { $0.append(job) }
            return "job-\(jobs.withLock { $0.count })"
        }
    }

    func run(
        _ handler: String, payload: String = "{}", attempt: Int = 1, enqueuer: any JobEnqueuer = RefusingEnqueuer(reason: "no backend"),
        logs: LogCapture? = nil, cancelAfter: Duration? = nil
    ) throws -> HandlerOutcome {
        let registered = try #require(Self.registry[handler], "\(handler) is not registered")
        let job = JobInvocation(id: "01JOB", handler: handler, queue: "default", attempt: attempt, maxAttempts: 5, payload: Data(payload.utf8))
        let logger = logs?.logger ?? Logger(label: "test")
        let context = InvocationContext(job: job, plugin: registered.plugin, logger: logger, enqueuer: enqueuer)
        if let cancelAfter {
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: Double(cancelAfter.components.seconds) + Double(cancelAfter.components.attoseconds) / 1e18)
                context.cancel()
            }
        }
        return registered.invoke(context)
    }

    @Test func outcomesCrossTheBoundary() throws {
        #expect(try run("test.record") == .success)
        #expect(try run("test.discard") == .discard(reason: "discarded on purpose"))
        #expect(try run("test.throw") == .retry(reason: "planned error", delay: nil))
        #expect(try run("test.retry_in", payload: #"{"delay_ms": 1500}"#) == .retry(reason: "asked for a delay", delay: .milliseconds(1500)))
        #expect(try run("test.flaky", payload: #"{"failures": 2}"#, attempt: 2) == .retry(reason: "planned failure 2 of 2", delay: nil))
        #expect(try run("test.flaky", payload: #"{"failures": 2}"#, attempt: 3) == .success)
        #expect(try run("echo.log", payload: #""fail""#) == .retry(reason: "asked to fail", delay: nil))
        #expect(try run("echo.log", payload: #"{"ok": true}"#) == .success)
    }

    @Test func aPayloadThatDoesNotDecodeIsDiscardedWithTheReason() throws {
        #expect(try run("greeter.hello", payload: "not json") == .discard(
            reason: "payload of job 01JOB does not decode as Greeting: not valid JSON: The given data was not valid JSON."))
        let outcome = try run("greeter.hello", payload: #"{"nom": "Ada"}"#)
        #expect(outcome == .discard(reason: "payload of job 01JOB does not decode as Greeting: missing key 'name'"))
        #expect(try run("greeter.hello", payload: #"{"name": ""}"#) == .discard(reason: "name is empty"))
    }

    @Test func theJobReachesTheHandlerIntact() throws {
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        let file = directory.url.appendingPathComponent("ran.txt")
        #expect(FileManager.default.createFile(atPath: file.path, contents: nil))
        #expect(try run("test.record", payload: #"{"record": "\#(file.path)"}"#, attempt: 4) == .success)
        #expect(try String(contentsOf: file, encoding: .utf8).hasPrefix("01JOB 4 test.record "))
    }

    @Test func cancellationReachesARunningHandler() throws {
        // Not cancelled, the handler would sleep its ten seconds and succeed.
        let outcome = try run("test.sleep", payload: #"{"ms": 10000}"#, cancelAfter: .milliseconds(100))
        #expect(outcome == .retry(reason: "cancelled", delay: nil))
    }

    @Test func chainingGoesThroughTheEnqueueService() throws {
        let enqueuer = RecordingEnqueuer()
        let logs = LogCapture()
        #expect(try run("test.chain", payload: #"{"next": "greeter.hello", "next_payload": "{\"name\":\"Ada\"}"}"#, enqueuer: enqueuer, logs: logs) == .success)
        let chained = try #require(enqueuer.jobs.withLock { $0.first })
        #expect(chained.handler == "greeter.hello")
        #expect(String(decoding: chained.payload, as: UTF8.self) == #"{"name":"Ada"}"#)
        #expect(chained.parentID == "01JOB")
        #expect(logs.lines.contains { $0.message == "enqueued job-1" })
    }

    @Test func aRefusedEnqueueBecomesTheHandlersError() throws {
        let outcome = try run("test.chain", payload: #"{"next": "greeter.hello"}"#)
        #expect(outcome == .retry(reason: "enqueue: no backend", delay: nil))
    }

    @Test func pluginLogLinesCarryTheJob() throws {
        let logs = LogCapture()
        #expect(try run("test.log", payload: #"{"a":1}"#, logs: logs) == .success)
        let line = try #require(logs.lines.first)
        #expect(line.level == .info)
        #expect(line.message == #"greeting=hola payload={"a":1}"#)  // the plugin's config reached its init
        #expect(line.metadata["plugin"] == "TestPlugin")
        #expect(line.metadata["job.id"] == "01JOB")
        #expect(line.metadata["job.handler"] == "test.log")
        #expect(line.metadata["job.attempt"] == "1")
    }

    @Test func handlersRunOnManyThreadsAtOnce() async throws {
        let registered = try #require(Self.registry["test.flaky"])
        let outcomes = Mutex<[HandlerOutcome]>([])
        let threads = (0..<8).map { index in
            Thread {
                for attempt in 1...50 {
                    let job = JobInvocation(id: "T\(index)-\(attempt)", handler: "test.flaky", queue: "q", attempt: attempt % 3 + 1,
                                            maxAttempts: 3, payload: Data(#"{"failures": 1}"#.utf8))
                    let context = InvocationContext(job: job, plugin: "TestPlugin", logger: Logger(label: "t"), enqueuer: RefusingEnqueuer(reason: "-"))
                    let outcome = registered.invoke(context)
                    outcomes.withLock { $0.append(outcome) }
                }
            }
        }
        threads.forEach { $0.start() }
        while outcomes.withLock({ $0.count }) < 400 { try await Task.sleep(for: .milliseconds(10)) }
        let all = outcomes.withLock { $0 }
        // attempt 1 fails, attempts 2 and 3 succeed: each outcome matches its own job, never another's.
        let successes = all.filter { $0 == .success }.count
        let failures = all.filter { $0 == .retry(reason: "planned failure 1 of 1", delay: nil) }.count
        #expect(successes == 272)
        #expect(failures == 128)
    }
}
