internal import JobHostABI
import Foundation
import Logging
import Synchronization

/// The `jh_host` table every plugin receives: C entry points that find their ``InvocationContext``
/// through the `jh_context` pointer.
enum HostServiceTable {
    /// Unsafe 1: allocated once, filled before any plugin sees it, never written again or freed.
    nonisolated(unsafe) static let shared: UnsafePointer<jh_host> = {
        let table = UnsafeMutablePointer<jh_host>.allocate(capacity: 1)
        var host = jh_host()
        host.struct_size = UInt32(MemoryLayout<jh_host>.size)
        host.abi_major = UInt32(JH_ABI_MAJOR)
        host.abi_minor = UInt32(JH_ABI_MINOR)
        host.log = { context, level, message, length in
            HostServiceTable.log(context, level, text(message, length))
        }
        host.is_cancelled = { context in
            guard let invocation = HostServiceTable.invocation(context) else { return 0 }
            return invocation.isCancelled ? 1 : 0
        }
        host.enqueue = { context, request, idOut, capacity in
            HostServiceTable.enqueue(context, request, idOut, capacity)
        }
        // The runner renews a running job's lease whatever its handler reports; the progress and note are
        // kept for operators (sent to the backend with the next renewal).
        host.heartbeat = { context, progress, note, length in
            HostServiceTable.invocation(context)?.setProgress(progress, note: note.map { text($0, length) })
        }
        host.set_error = { context, message, length in
            HostServiceTable.invocation(context)?.setError(text(message, length))
        }
        host.set_retry_delay = { context, milliseconds in
            HostServiceTable.invocation(context)?.setRetryDelay(.milliseconds(max(0, milliseconds)))
        }
        host.set_result = { context, json, length in
            HostServiceTable.setResult(context, json, length)
        }
        table.initialize(to: host)
        return UnsafePointer(table)
    }()

    /// Plugin log lines with no job (from `init`) are tagged with the plugin being initialised.
    private static let initializingPlugin = Mutex<String?>(nil)

    static func initializing<Result>(plugin: String, _ body: () -> Result) -> Result {
        initializingPlugin.withLock { $0 = plugin }
        defer { initializingPlugin.withLock { $0 = nil } }
        return body()
    }

    static func context(for invocation: InvocationContext) -> OpaquePointer {
        OpaquePointer(Unmanaged.passUnretained(invocation).toOpaque())
    }

    private static func invocation(_ context: OpaquePointer?) -> InvocationContext? {
        guard let context else { return nil }
        // Unsafe 2: a context is only ever made by `context(for:)`, and the invoker keeps the object
        // alive until the handler returns, after which the ABI forbids using the context.
        return Unmanaged<InvocationContext>.fromOpaque(UnsafeRawPointer(context)).takeUnretainedValue()
    }

    private static func log(_ context: OpaquePointer?, _ level: jh_log_level, _ message: String) {
        let logger: Logger
        if let invocation = invocation(context) {
            logger = invocation.logger
        } else {
            var plain = Logger(label: "jobhost.plugin")
            plain[metadataKey: "plugin"] = "\(initializingPlugin.withLock { $0 } ?? "unknown")"
            logger = plain
        }
        let swiftLevel: Logger.Level = switch level {
        case JH_LOG_TRACE: .trace
        case JH_LOG_DEBUG: .debug
        case JH_LOG_INFO: .info
        case JH_LOG_WARNING: .warning
        default: .error
        }
        logger.log(level: swiftLevel, "\(message)")
    }

    private static func setResult(_ context: OpaquePointer?, _ json: UnsafePointer<UInt8>?, _ length: Int) -> Int32 {
        guard let invocation = invocation(context) else { return Int32(JH_UNSUPPORTED.rawValue) }
        guard length <= Int(JH_RESULT_MAX_BYTES) else {
            invocation.logger.warning("result refused: \(length) bytes, more than the \(JH_RESULT_MAX_BYTES) a result may have")
            return Int32(JH_INVALID.rawValue)
        }
        let bytes = json.map { Data(bytes: $0, count: length) } ?? Data()
        guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self),
              (try? JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed])) != nil
        else {
            invocation.logger.warning("result refused: it is not JSON text")
            return Int32(JH_INVALID.rawValue)
        }
        invocation.setResult(text)
        return Int32(JH_OK.rawValue)
    }

    private static func enqueue(
        _ context: OpaquePointer?, _ request: UnsafePointer<jh_enqueue_request>?,
        _ idOut: UnsafeMutablePointer<CChar>?, _ capacity: Int
    ) -> Int32 {
        func reply(_ text: String, _ status: jh_status) -> Int32 {
            if let idOut, capacity > 0 {
                let bytes = Array(text.utf8.prefix(capacity - 1))
                for (index, byte) in bytes.enumerated() { idOut[index] = CChar(bitPattern: byte) }
                idOut[bytes.count] = 0
            }
            return Int32(status.rawValue)
        }
        guard let invocation = invocation(context) else {
            return reply("enqueue needs a job context; it is not available in init", JH_UNSUPPORTED)
        }
        func invalid(_ reason: String) -> Int32 {
            invocation.logger.warning("enqueue refused: \(reason)")
            return reply("enqueue: \(reason)", JH_INVALID)
        }
        guard let request, request.pointee.struct_size >= JH_ENQUEUE_REQUEST_SIZE_1_0, let handler = request.pointee.handler else {
            return invalid("the request is incomplete (struct_size or handler missing)")
        }
        if request.pointee.payload == nil && request.pointee.payload_len > 0 {
            return invalid("payload is NULL but payload_len is \(request.pointee.payload_len)")
        }
        let payload = request.pointee.payload.map { Data(bytes: $0, count: request.pointee.payload_len) } ?? Data("{}".utf8)
        guard (try? JSONSerialization.jsonObject(with: payload, options: [.fragmentsAllowed])) != nil else {
            return invalid("the payload is not valid JSON")
        }
        let job = ChainedJob(
            handler: String(cString: handler), payload: payload,
            queue: request.pointee.queue.map { String(cString: $0) },
            delay: .milliseconds(max(0, request.pointee.delay_ms)),
            uniqueKey: request.pointee.unique_key.map { String(cString: $0) },
            maxAttempts: request.pointee.max_attempts == 0 ? nil : Int(request.pointee.max_attempts),
            parentID: invocation.job.id)
        do {
            return reply(try invocation.enqueuer.enqueue(job), JH_OK)
        } catch {
            invocation.logger.warning("enqueue refused", metadata: ["reason": "\(error)", "chained.handler": "\(job.handler)"])
            return reply("enqueue: \(error)", JH_ERROR)
        }
    }
}

private func text(_ pointer: UnsafePointer<CChar>?, _ length: Int) -> String {
    guard let pointer, length > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
}
