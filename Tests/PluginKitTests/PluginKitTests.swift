import Foundation
import JobHostABI
import PluginKit
import Synchronization
import Testing

/// What a host sees of a Swift plugin: the descriptor `entry` points at, and the C calls it makes
/// into it. A stand-in host table records every service call, as the real host would receive it.
@Suite(.serialized)
struct PluginKitTests {
    /// What the stand-in host received during one call.
    final class Calls: Sendable {
        struct State {
            var logs: [(jh_log_level, String)] = []
            var error: String?
            var retryDelay: Int64?
            var heartbeats: [(Double, String?)] = []
            var enqueued: [(handler: String, payload: String, queue: String?, delay: Int64, uniqueKey: String?, maxAttempts: UInt32)] = []
            var cancelled = false
            /// What the host answers an enqueue with: an id, or a refusal.
            var enqueueReply: Result<String, EnqueueRefusal> = .success("01CHAINED")
        }
        struct EnqueueRefusal: Error {
            let reason: String
        }
        let state = Mutex(State())
    }

    /// The context pointer the host hands a handler: here, the recorder of that call.
    static func context(_ calls: Calls) -> OpaquePointer { OpaquePointer(Unmanaged.passUnretained(calls).toOpaque()) }
    static func calls(_ context: OpaquePointer?) -> Calls? {
        context.map { Unmanaged<Calls>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
    }
    /// Lines logged where there is no job context (in `init`).
    static let initLogs = Mutex<[String]>([])

    static func text(_ bytes: UnsafePointer<CChar>?, _ count: Int) -> String {
        guard let bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    // Unsafe: written once here, before any test reads it, and never changed or freed afterwards.
    nonisolated(unsafe) static let table: UnsafeMutablePointer<jh_host> = {
        var host = jh_host()
        host.struct_size = UInt32(MemoryLayout<jh_host>.size)
        host.abi_major = UInt32(JH_ABI_MAJOR)
        host.abi_minor = UInt32(JH_ABI_MINOR)
        host.log = { context, level, message, count in
            let line = PluginKitTests.text(message, count)
            if let calls = PluginKitTests.calls(context) {
                calls.state.withLock { $0.logs.append((level, line)) }
            } else {
                PluginKitTests.initLogs.withLock { $0.append(line) }
            }
        }
        host.is_cancelled = { context in PluginKitTests.calls(context)?.state.withLock { $0.cancelled } == true ? 1 : 0 }
        host.enqueue = { context, request, idOut, capacity in
            guard let calls = PluginKitTests.calls(context), let request = request?.pointee else { return Int32(JH_ERROR.rawValue) }
            let payload = request.payload.map { String(decoding: UnsafeBufferPointer(start: $0, count: request.payload_len), as: UTF8.self) } ?? ""
            let reply = calls.state.withLock { state in
                state.enqueued.append((
                    String(cString: request.handler), payload, request.queue.map { String(cString: $0) }, request.delay_ms,
                    request.unique_key.map { String(cString: $0) }, request.max_attempts))
                return state.enqueueReply
            }
            let (status, text): (jh_status, String) = switch reply {
            case .success(let id): (JH_OK, id)
            case .failure(let refusal): (JH_ERROR, refusal.reason)
            }
            if let idOut, capacity > 0 {
                let bytes = Array(text.utf8.prefix(capacity - 1))
                for (index, byte) in bytes.enumerated() { idOut[index] = CChar(bitPattern: byte) }
                idOut[bytes.count] = 0
            }
            return Int32(status.rawValue)
        }
        host.heartbeat = { context, progress, note, count in
            PluginKitTests.calls(context)?.state.withLock { $0.heartbeats.append((progress, note.map { PluginKitTests.text($0, count) })) }
        }
        host.set_error = { context, message, count in
            PluginKitTests.calls(context)?.state.withLock { $0.error = PluginKitTests.text(message, count) }
        }
        host.set_retry_delay = { context, delay in
            PluginKitTests.calls(context)?.state.withLock { $0.retryDelay = delay }
        }
        let table = UnsafeMutablePointer<jh_host>.allocate(capacity: 1)
        table.initialize(to: host)
        return table
    }()

    struct Greeting: Decodable {
        let name: String
        let times: Int?
    }

    struct Settings: Decodable {
        let apiURL: String
        enum CodingKeys: String, CodingKey { case apiURL = "api_url" }
    }

    static let initCalls = Mutex<[String]>([])
    static let shutdowns = Mutex(0)

    static let plugin = Plugin(
        name: "kit", version: "2.3.4", description: "PluginKit under test",
        handlers: [
            Handler("kit.ok", description: "succeeds", timeout: .milliseconds(2500)) { _, _ in .success },
            Handler("kit.later") { _, _ in .retry("not yet", after: .milliseconds(1500)) },
            Handler("kit.backoff") { _, _ in .retry("busy") },
            Handler("kit.never") { _, _ in .discard("no such record") },
            Handler("kit.throws.discard") { _, _ in throw DiscardJob("bad input") },
            Handler("kit.throws") { _, _ in throw CocoaError(.fileNoSuchFile) },
            Handler("kit.greet") { job, host in
                let greeting = try job.decode(Greeting.self)
                host.log(.info, "hello \(greeting.name) ×\(greeting.times ?? 1) on attempt \(job.attempt) of \(job.maxAttempts)")
                return .success
            },
            Handler("kit.echo") { job, host in
                host.log(.debug, "\(job.id) \(job.handler) \(job.queue) \(job.attempt)/\(job.maxAttempts) last=\(job.isLastAttempt)")
                host.log(.warning, "deadline=\(job.deadline.map { Int64($0.timeIntervalSince1970 * 1000) } ?? 0)")
                host.log(.error, "enqueued=\(Int64(job.enqueuedAt.timeIntervalSince1970 * 1000)) payload=\(String(decoding: job.payload, as: UTF8.self))")
                return .success
            },
            Handler("kit.chain") { job, host in
                let id = try host.enqueue(
                    handler: "kit.next", json: ["from": job.id], queue: "side", delay: .seconds(90), uniqueKey: "k-\(job.id)", maxAttempts: 7)
                host.heartbeat(progress: 0.5, note: "half way")
                host.heartbeat()
                return .retry("chained \(id)")
            },
            Handler("kit.chain.refused") { _, host in
                try host.enqueue(handler: "kit.next", payload: Data("{}".utf8))
                return .success
            },
            Handler("kit.cancellable") { _, host in host.isCancelled ? .retry("cancelled") : .success },
        ],
        onInit: { config, host in
            let settings = try config.decode(Settings.self)
            host.log(.info, "configured for \(settings.apiURL)")
            PluginKitTests.initCalls.withLock { $0.append(settings.apiURL) }
        },
        onShutdown: { PluginKitTests.shutdowns.withLock { $0 += 1 } })

    static var descriptor: jh_plugin_descriptor {
        plugin.entry.assumingMemoryBound(to: jh_plugin_descriptor.self).pointee
    }

    static func handler(_ name: String) throws -> jh_handler_def {
        let descriptor = Self.descriptor
        let handlers = UnsafeBufferPointer(start: descriptor.handlers, count: Int(descriptor.handler_count))
        return try #require(handlers.first { String(cString: $0.name) == name }, "no handler \(name)")
    }

    /// Calls handler `name` through its C function pointer, as the host does; returns the outcome
    /// code and what the host was told meanwhile.
    static func call(
        _ name: String, payload: String = "{}", attempt: UInt32 = 1, maxAttempts: UInt32 = 3, deadline: Int64 = 0,
        enqueuedAt: Int64 = 1_700_000_000_123, structSize: Int = MemoryLayout<jh_job>.size, prepare: (Calls) -> Void = { _ in }
    ) throws -> (code: Int32, calls: Calls.State) {
        let definition = try handler(name)
        let calls = Calls()
        prepare(calls)
        let payloadBytes = Array(payload.utf8)
        let code = "01JOBID".withCString { id in
            name.withCString { handlerName in
                "mail".withCString { queue in
                    payloadBytes.withUnsafeBufferPointer { bytes in
                        var job = jh_job()
                        job.struct_size = UInt32(structSize)
                        job.attempt = attempt
                        job.max_attempts = maxAttempts
                        job.id = id
                        job.handler = handlerName
                        job.queue = queue
                        job.payload = bytes.baseAddress
                        job.payload_len = bytes.count
                        job.deadline_unix_ms = deadline
                        job.enqueued_at_unix_ms = enqueuedAt
                        return definition.run(table, context(calls), &job, definition.handler_data)
                    }
                }
            }
        }
        return (code, calls.state.withLock { $0 })
    }

    @Test func theDescriptorCarriesTheABIVersionSizesAndHandlers() throws {
        let descriptor = Self.descriptor
        #expect(descriptor.abi_major == UInt32(JH_ABI_MAJOR) && descriptor.abi_minor == UInt32(JH_ABI_MINOR))
        #expect(descriptor.descriptor_size == UInt32(MemoryLayout<jh_plugin_descriptor>.size))
        #expect(descriptor.descriptor_size >= JH_DESCRIPTOR_SIZE_1_0 && descriptor.handler_size >= JH_HANDLER_SIZE_1_0)
        #expect(descriptor.handler_size == UInt32(MemoryLayout<jh_handler_def>.size))
        #expect(String(cString: descriptor.name) == "kit" && String(cString: descriptor.version) == "2.3.4")
        #expect(String(cString: descriptor.description) == "PluginKit under test")
        #expect(descriptor.handler_count == UInt32(Self.plugin.handlers.count))
        #expect(descriptor.`init` != nil && descriptor.shutdown != nil)
        let ok = try Self.handler("kit.ok")
        #expect(String(cString: ok.description) == "succeeds" && ok.default_timeout_ms == 2500)
        #expect(try Self.handler("kit.later").default_timeout_ms == 0, "no timeout of its own: the queue's")
        // Every call of entry returns the same descriptor.
        #expect(Self.plugin.entry == Self.plugin.entry)
    }

    @Test func outcomesMapToTheABIsCodesWithTheirErrorAndDelay() throws {
        let success = try Self.call("kit.ok")
        #expect(success.code == Int32(JH_SUCCESS.rawValue) && success.calls.error == nil)

        let later = try Self.call("kit.later")
        #expect(later.code == Int32(JH_RETRY.rawValue) && later.calls.error == "not yet" && later.calls.retryDelay == 1500)

        let backoff = try Self.call("kit.backoff")
        #expect(backoff.code == Int32(JH_RETRY.rawValue) && backoff.calls.error == "busy")
        #expect(backoff.calls.retryDelay == nil, "no delay of its own: the queue's backoff")

        let never = try Self.call("kit.never")
        #expect(never.code == Int32(JH_DISCARD.rawValue) && never.calls.error == "no such record")
    }

    @Test func thrownErrorsDiscardOrRetry() throws {
        let discarded = try Self.call("kit.throws.discard")
        #expect(discarded.code == Int32(JH_DISCARD.rawValue) && discarded.calls.error == "bad input")
        let retried = try Self.call("kit.throws")
        #expect(retried.code == Int32(JH_RETRY.rawValue))
        #expect(retried.calls.error == String(describing: CocoaError(.fileNoSuchFile)), "\(retried.calls.error ?? "")")
    }

    @Test func aPayloadThatDoesNotDecodeDiscardsTheJobNamingWhatFailed() throws {
        let good = try Self.call("kit.greet", payload: #"{"name": "Ada", "times": 2}"#, attempt: 2, maxAttempts: 5)
        #expect(good.code == Int32(JH_SUCCESS.rawValue))
        #expect(good.calls.logs.map(\.1) == ["hello Ada ×2 on attempt 2 of 5"] && good.calls.logs.first?.0 == JH_LOG_INFO)

        let missing = try Self.call("kit.greet", payload: #"{"nom": "Ada"}"#)
        #expect(missing.code == Int32(JH_DISCARD.rawValue))
        #expect(missing.calls.error == "payload of job 01JOBID does not decode as Greeting: missing key 'name'")
        let wrongType = try Self.call("kit.greet", payload: #"{"name": "Ada", "times": "two"}"#)
        #expect(wrongType.code == Int32(JH_DISCARD.rawValue))
        #expect(wrongType.calls.error?.hasPrefix("payload of job 01JOBID does not decode as Greeting: expected Int at times") == true)
        let notJSON = try Self.call("kit.greet", payload: "not json")
        #expect(notJSON.calls.error?.hasPrefix("payload of job 01JOBID does not decode as Greeting: not valid JSON") == true)
        let null = try Self.call("kit.greet", payload: #"{"name": null}"#)
        #expect(null.calls.error == "payload of job 01JOBID does not decode as Greeting: expected String at name, found null")
    }

    @Test func theJobReachesTheHandlerFieldForFieldAndLogLevelsCross() throws {
        let echoed = try Self.call("kit.echo", payload: #"{"a":1}"#, attempt: 3, maxAttempts: 3, deadline: 1_800_000_000_456)
        #expect(echoed.calls.logs.map(\.1) == [
            "01JOBID kit.echo mail 3/3 last=true", "deadline=1800000000456", #"enqueued=1700000000123 payload={"a":1}"#,
        ])
        #expect(echoed.calls.logs.map(\.0) == [JH_LOG_DEBUG, JH_LOG_WARNING, JH_LOG_ERROR])
        let early = try Self.call("kit.echo", attempt: 1, maxAttempts: 3)
        #expect(early.calls.logs.first?.1.hasSuffix("1/3 last=false") == true)
        #expect(early.calls.logs.dropFirst().first?.1 == "deadline=0", "no deadline")
    }

    /// A host of an older minor passes a smaller `jh_job`: the fields past its size read as zero,
    /// whatever lies in memory after it.
    @Test func fieldsPastTheHostsStructSizeAreNotRead() throws {
        let size = MemoryLayout<jh_job>.offset(of: \jh_job.deadline_unix_ms)!
        let older = try Self.call("kit.echo", deadline: 1_800_000_000_456, enqueuedAt: 1_700_000_000_123, structSize: size)
        #expect(older.calls.logs.map(\.1).dropFirst().first == "deadline=0")
        #expect(older.calls.logs.last?.1.hasPrefix("enqueued=0 ") == true, "\(older.calls.logs.map(\.1))")
    }

    @Test func chainingHeartbeatsAndCancellationGoThroughTheHostTable() throws {
        let chained = try Self.call("kit.chain")
        let request = try #require(chained.calls.enqueued.first)
        #expect(request.handler == "kit.next" && request.payload == #"{"from":"01JOBID"}"#)
        #expect(request.queue == "side" && request.delay == 90_000 && request.uniqueKey == "k-01JOBID" && request.maxAttempts == 7)
        #expect(chained.calls.error == "chained 01CHAINED", "the host's id reached the handler")
        #expect(chained.calls.heartbeats.count == 2)
        #expect(chained.calls.heartbeats[0].0 == 0.5 && chained.calls.heartbeats[0].1 == "half way")
        #expect(chained.calls.heartbeats[1].0 < 0 && chained.calls.heartbeats[1].1 == nil, "unknown progress is negative")

        let refused = try Self.call("kit.chain.refused") { $0.state.withLock { $0.enqueueReply = .failure(.init(reason: "unknown handler kit.next")) } }
        #expect(refused.code == Int32(JH_RETRY.rawValue) && refused.calls.error == "unknown handler kit.next")
        #expect(refused.calls.enqueued.first?.queue == nil && refused.calls.enqueued.first?.maxAttempts == 0, "defaults left to the host")

        #expect(try Self.call("kit.cancellable").code == Int32(JH_SUCCESS.rawValue))
        let cancelled = try Self.call("kit.cancellable") { $0.state.withLock { $0.cancelled = true } }
        #expect(cancelled.code == Int32(JH_RETRY.rawValue) && cancelled.calls.error == "cancelled")
    }

    @Test func initDecodesTheConfigOrRefusesThePluginWithTheReason() throws {
        let initialize = try #require(Self.descriptor.`init`)
        func callInit(_ json: String, capacity: Int = 256) -> (Int32, String) {
            var error = [CChar](repeating: 0x7f, count: max(capacity, 1))
            let status = json.withCString { text in
                error.withUnsafeMutableBufferPointer { initialize(Self.table, text, strlen(text), $0.baseAddress, capacity) }
            }
            return (status, capacity > 0 ? String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "")
        }
        let ok = callInit(#"{"api_url": "http://ai.local"}"#)
        #expect(ok.0 == Int32(JH_OK.rawValue))
        #expect(Self.initCalls.withLock { $0.last } == "http://ai.local")
        #expect(Self.initLogs.withLock { $0.contains("configured for http://ai.local") }, "init logs without a job context")

        let missing = callInit("{}")
        #expect(missing.0 == Int32(JH_ERROR.rawValue) && missing.1 == "config.api_url: required key is missing")
        let several = callInit(#"{"api_uri": "http://ai.local", "timeout": 5}"#)
        #expect(several.1 == """
            config.api_uri: unknown key; did you mean 'api_url'?
            config.api_url: required key is missing
            config.timeout: unknown key
            """, "one line per problem, as the host places them")
        let wholeLines = callInit(#"{"api_uri": "http://ai.local", "timeout": 5}"#, capacity: 100)
        #expect(wholeLines.1 == "config.api_uri: unknown key; did you mean 'api_url'?\nconfig.api_url: required key is missing",
                "only whole lines when the text does not fit")
        let truncated = callInit("{}", capacity: 8)
        #expect(truncated.0 == Int32(JH_ERROR.rawValue) && truncated.1 == "config.", "cut to fit, NUL-terminated")
        #expect(callInit("{}", capacity: 0).0 == Int32(JH_ERROR.rawValue), "no room for a reason is not a crash")

        let shutdown = try #require(Self.descriptor.shutdown)
        let before = Self.shutdowns.withLock { $0 }
        shutdown(Self.table)
        #expect(Self.shutdowns.withLock { $0 } == before + 1)
    }

    @Test func jobsBuiltByHandKnowTheirLastAttemptAndDecode() throws {
        let job = Job(id: "J", handler: "kit.greet", attempt: 2, maxAttempts: 2, payload: Data(#"{"name": "Lin"}"#.utf8))
        #expect(job.isLastAttempt && job.queue == "default")
        #expect(try job.decode(Greeting.self).name == "Lin")
        #expect(!Job(id: "J", handler: "h", attempt: 1, maxAttempts: 2, payload: Data()).isLastAttempt)
        #expect(throws: DiscardJob.self) { try Job(id: "J", handler: "h", payload: Data("[]".utf8)).decode(Greeting.self) }
        #expect(Outcome.retry("x") == .retry("x", after: nil) && Outcome.retry("x", after: .seconds(1)) != .retry("x"))
    }
}
