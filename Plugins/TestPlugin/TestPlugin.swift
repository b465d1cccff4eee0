// A plugin for the host's own tests: each handler behaves in one way a test needs to observe.
import Foundation
import PluginKit
import Synchronization

/// Options every handler reads from its payload.
struct Instructions: Decodable {
    /// Append "<job id> <attempt> <handler> <unix µs>" to this file (how tests see what ran, across processes).
    var record: String?
    /// test.flaky: fail this many attempts, then succeed.
    var failures: Int?
    /// test.sleep: how long to sleep.
    var ms: Int?
    /// test.sleep: keep sleeping after the host asks to stop.
    var ignoreCancel: Bool?
    /// test.chain: the job to enqueue.
    var next: String?
    var nextPayload: String?
    /// test.retry_in: the retry delay to ask for.
    var delayMs: Int?
    /// test.leak: MiB to allocate, touch and never free.
    var mb: Int?
    /// test.exit: the exit status.
    var status: Int32?
    /// test.segfault and friends: misbehave only on attempts up to this one (default: every attempt).
    var untilAttempt: Int?
    /// test.fail_while: fail while a file exists at this path.
    var path: String?
}

/// For the handlers that end their process: whether this attempt is one that misbehaves.
func misbehaves(_ job: Job, _ options: Instructions) -> Bool {
    job.attempt <= (options.untilAttempt ?? Int.max)
}

/// Keeps what `test.hog` allocates reachable, so nothing frees it.
let hoard = Mutex<[UInt]>([])

let pluginConfig = Mutex<[String: String]>([:])

struct RecordError: Error, CustomStringConvertible {
    let file: String
    var description: String { "cannot open \(file) to record the job" }
}

func instructions(_ job: Job) throws -> Instructions {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    let parsed = try job.decode(Instructions.self, decoder: decoder)
    if let file = parsed.record {
        // O_APPEND: lines from many threads and processes never interleave.
        let descriptor = open(file, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw RecordError(file: file) }
        defer { close(descriptor) }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let line = Array("\(job.id) \(job.attempt) \(job.handler) \(now)\n".utf8)
        _ = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }
    return parsed
}

let plugin = Plugin(
    name: "test",
    version: "0.1.0",
    description: "Handlers that misbehave on purpose, for the host's tests",
    handlers: [
        Handler("test.noop", description: "Does nothing; for benchmarks") { _, _ in .success },
        Handler("test.result", description: "Sets the payload's `result` as the job's result and succeeds") { job, host in
            let payload = try JSONSerialization.jsonObject(with: job.payload) as? [String: Any] ?? [:]
            try host.setResult(JSONSerialization.data(withJSONObject: payload["result"] ?? NSNull(), options: [.fragmentsAllowed, .sortedKeys]))
            return .success
        },
        Handler("test.record", description: "Records the job and succeeds") { job, host in
            _ = try instructions(job)
            return .success
        },
        Handler("test.flaky", description: "Fails `failures` times, then succeeds") { job, host in
            let options = try instructions(job)
            if job.attempt <= options.failures ?? 1 {
                return .retry("planned failure \(job.attempt) of \(options.failures ?? 1)")
            }
            return .success
        },
        Handler("test.fail_while", description: "Fails while a file exists at `path`, then succeeds") { job, host in
            let options = try instructions(job)
            if let path = options.path, FileManager.default.fileExists(atPath: path) {
                return .retry("planned failure: \(path) exists")
            }
            return .success
        },
        Handler("test.retry_in", description: "Asks for a retry after `delay_ms`") { job, host in
            let options = try instructions(job)
            return .retry("asked for a delay", after: .milliseconds(options.delayMs ?? 1000))
        },
        Handler("test.discard", description: "Discards the job") { job, host in
            _ = try instructions(job)
            return .discard("discarded on purpose")
        },
        Handler("test.throw", description: "Throws an error") { job, host in
            _ = try instructions(job)
            struct Planned: Error, CustomStringConvertible { var description: String { "planned error" } }
            throw Planned()
        },
        Handler("test.progress", description: "Reports progress 0.5 with a note, then waits until cancelled or `ms` pass") { job, host in
            let options = try instructions(job)
            host.heartbeat(progress: 0.5, note: "halfway")
            let end = Date().addingTimeInterval(Double(options.ms ?? 1000) / 1000)
            while Date() < end, !host.isCancelled { Thread.sleep(forTimeInterval: 0.01) }
            return .success
        },
        Handler("test.sleep", description: "Sleeps `ms`, stopping early when cancelled unless `ignore_cancel`") { job, host in
            let options = try instructions(job)
            let end = Date().addingTimeInterval(Double(options.ms ?? 1000) / 1000)
            while Date() < end {
                if host.isCancelled && options.ignoreCancel != true { return .retry("cancelled") }
                host.heartbeat(progress: nil, note: "sleeping")
                Thread.sleep(forTimeInterval: 0.005)
            }
            return .success
        },
        Handler("test.chain", description: "Enqueues `next` with `next_payload`") { job, host in
            let options = try instructions(job)
            guard let next = options.next else { return .discard("no `next` handler in the payload") }
            let id = try host.enqueue(handler: next, payload: Data((options.nextPayload ?? "{}").utf8))
            host.log(.info, "enqueued \(id)")
            return .success
        },
        Handler("test.log", description: "Logs the payload and the plugin's `greeting` config") { job, host in
            let greeting = pluginConfig.withLock { $0["greeting"] } ?? "none"
            host.log(.info, "greeting=\(greeting) payload=\(String(decoding: job.payload, as: UTF8.self))")
            return .success
        },
        Handler("test.segfault", description: "Writes through a null pointer (SIGSEGV)") { job, host in
            let options = try instructions(job)
            guard misbehaves(job, options) else { return .success }
            // Address 8: never mapped, and not nil, so Swift's own checks do not trap first.
            UnsafeMutablePointer<Int>(bitPattern: 8)!.pointee = 1
            return .success
        },
        Handler("test.abort", description: "Calls abort() (SIGABRT)") { job, host in
            let options = try instructions(job)
            guard misbehaves(job, options) else { return .success }
            abort()
        },
        Handler("test.exit", description: "Calls exit(status), 3 unless `status` says otherwise") { job, host in
            let options = try instructions(job)
            guard misbehaves(job, options) else { return .success }
            exit(options.status ?? 3)
        },
        Handler("test.spin", description: "Loops forever, ignoring the cancel flag") { job, host in
            let options = try instructions(job)
            guard misbehaves(job, options) else { return .success }
            var counter: UInt64 = 0
            while true {
                counter &+= 1
                if counter == 0 { host.log(.debug, "wrapped") }
            }
        },
        Handler("test.leak", description: "Allocates `mb` MiB it never frees, sleeps `ms`, then succeeds") { job, host in
            let options = try instructions(job)
            let size = (options.mb ?? 10) << 20
            guard let block = malloc(size) else { return .retry("out of memory") }
            memset(block, 1, size)
            hoard.withLock { $0.append(UInt(bitPattern: block)) }
            Thread.sleep(forTimeInterval: Double(options.ms ?? 0) / 1000)
            return .success
        },
        Handler("test.hog", description: "Allocates and touches memory without bound") { job, host in
            let options = try instructions(job)
            guard misbehaves(job, options) else { return .success }
            while true {
                let chunk = 16 << 20
                guard let block = malloc(chunk) else {
                    // The allocator refused: crash as a Swift allocation failure would.
                    fatalError("out of memory after \(hoard.withLock { $0.count } * 16) MiB")
                }
                memset(block, 1, chunk)
                hoard.withLock { $0.append(UInt(bitPattern: block)) }
            }
        },
    ],
    onInit: { config, host in
        let values = try config.decode([String: String].self)
        if values["crash_in_init"] == "true" {
            UnsafeMutablePointer<Int>(bitPattern: 8)!.pointee = 1
        }
        if values["hang_in_init"] == "true" {
            while true { sleep(60) }
        }
        if let reason = values["refuse"] { throw PluginConfigurationError(description: reason) }
        // Merged, not replaced: tests in one process load this library several times, each with its own config.
        pluginConfig.withLock { $0.merge(values) { $1 } }
        host.log(.debug, "test plugin ready")
    }
)

@_cdecl("jh_plugin_entry") public func entry() -> UnsafeRawPointer { plugin.entry }
