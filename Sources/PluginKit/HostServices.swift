internal import JobHostABI
import Foundation

/// Log levels of the host's logger.
public enum LogLevel: Sendable {
    case trace, debug, info, warning, error

    var abiValue: jh_log_level {
        switch self {
        case .trace: JH_LOG_TRACE
        case .debug: JH_LOG_DEBUG
        case .info: JH_LOG_INFO
        case .warning: JH_LOG_WARNING
        case .error: JH_LOG_ERROR
        }
    }
}

/// Why the host did not take a result.
public struct ResultError: Error, CustomStringConvertible, Sendable {
    /// The reason.
    public let description: String
}

/// Why the host refused to enqueue a job.
public struct EnqueueError: Error, CustomStringConvertible, Sendable {
    /// The host's reason.
    public let description: String
}

/// The host's services, handed to a handler with each job (and to `onInit`, without a job).
///
/// Valid only during the call that received it: do not keep it, or use it from another thread
/// after the handler returned.
public struct Host {
    let table: UnsafePointer<jh_host>
    let context: OpaquePointer?

    init(table: UnsafePointer<jh_host>, context: OpaquePointer?) {
        self.table = table
        self.context = context
    }

    /// Writes a line through the host's logger, tagged with the plugin and the job.
    public func log(_ level: LogLevel, _ message: String) {
        var message = message
        message.withUTF8 { bytes in
            table.pointee.log(context, level.abiValue, bytes.baseAddress, bytes.count)
        }
    }

    /// True once the host wants the handler to stop (its deadline passed, or the host is shutting down).
    /// Poll it in long loops and return soon after it turns true.
    public var isCancelled: Bool { table.pointee.is_cancelled(context) != 0 }

    /// Tells the host the handler is alive (which keeps the job's lease) and how far it got.
    /// - Parameters:
    ///   - progress: between 0 and 1, or nil when unknown.
    ///   - note: a short human-readable status, shown to operators.
    public func heartbeat(progress: Double? = nil, note: String? = nil) {
        if var note {
            note.withUTF8 { table.pointee.heartbeat(context, progress ?? -1, $0.baseAddress, $0.count) }
        } else {
            table.pointee.heartbeat(context, progress ?? -1, nil, 0)
        }
    }

    /// Enqueues another job (chaining); returns its id.
    /// - Parameters:
    ///   - handler: the handler that will run it.
    ///   - payload: its JSON payload.
    ///   - queue: nil for the queue the handler is routed to.
    ///   - delay: run no earlier than now + delay.
    ///   - uniqueKey: while a job with this key exists, another one with it is not enqueued.
    ///   - maxAttempts: nil for the handler's or queue's default.
    @discardableResult
    public func enqueue(
        handler: String, payload: Data, queue: String? = nil, delay: Duration = .zero,
        uniqueKey: String? = nil, maxAttempts: Int? = nil
    ) throws(EnqueueError) -> String {
        var reply = [CChar](repeating: 0, count: 256)
        let status: Int32 = handler.withCString { handlerName in
            withOptionalCString(queue) { queueName in
                withOptionalCString(uniqueKey) { key in
                    payload.withUnsafeBytes { bytes in
                        var request = jh_enqueue_request()
                        request.struct_size = UInt32(MemoryLayout<jh_enqueue_request>.size)
                        request.max_attempts = UInt32(clamping: maxAttempts ?? 0)
                        request.handler = handlerName
                        request.payload = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
                        request.payload_len = bytes.count
                        request.queue = queueName
                        request.delay_ms = delay.milliseconds
                        request.unique_key = key
                        return reply.withUnsafeMutableBufferPointer {
                            table.pointee.enqueue(context, &request, $0.baseAddress, $0.count)
                        }
                    }
                }
            }
        }
        let text = String(decoding: reply.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard status == Int32(JH_OK.rawValue) else { throw EnqueueError(description: text) }
        return text
    }

    /// Enqueues another job whose payload is `value` encoded as JSON; returns its id.
    @discardableResult
    public func enqueue<Payload: Encodable>(
        handler: String, json value: Payload, queue: String? = nil, delay: Duration = .zero,
        uniqueKey: String? = nil, maxAttempts: Int? = nil
    ) throws -> String {
        try enqueue(
            handler: handler, payload: JSONEncoder().encode(value), queue: queue, delay: delay,
            uniqueKey: uniqueKey, maxAttempts: maxAttempts)
    }

    /// Sets the job's result: JSON text the host stores with the job when the handler succeeds, shown by
    /// `host jobs show` and the admin API. The last call before the handler returns wins.
    /// - Throws: ``ResultError`` when the host refuses it (not JSON, more than 64 KiB, or a host older
    ///   than ABI 1.1, which has no results).
    public func setResult(_ json: Data) throws(ResultError) {
        // A 1.0 host hands a shorter table: set_result is not there to call.
        let end = MemoryLayout<jh_host>.offset(of: \.set_result)! + MemoryLayout<UnsafeRawPointer>.size
        guard Int(table.pointee.struct_size) >= end, let setResult = table.pointee.set_result else {
            throw ResultError(description: "the host (ABI \(table.pointee.abi_major).\(table.pointee.abi_minor)) keeps no results")
        }
        let status = json.withUnsafeBytes { bytes in
            setResult(context, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        }
        guard status == Int32(JH_OK.rawValue) else {
            throw ResultError(description: "the host refused the result: not JSON, or more than \(JH_RESULT_MAX_BYTES) bytes")
        }
    }

    /// Sets the job's result to `value` encoded as JSON (see ``setResult(_:)-(Data)``).
    public func setResult<Value: Encodable>(json value: Value) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try setResult(encoder.encode(value))
    }

    func report(_ outcome: Outcome) -> Int32 {
        switch outcome {
        case .success:
            return Int32(JH_SUCCESS.rawValue)
        case .retry(let reason, let delay):
            setError(reason)
            if let delay { table.pointee.set_retry_delay(context, delay.milliseconds) }
            return Int32(JH_RETRY.rawValue)
        case .discard(let reason):
            setError(reason)
            return Int32(JH_DISCARD.rawValue)
        }
    }

    private func setError(_ reason: String) {
        var reason = reason
        reason.withUTF8 { table.pointee.set_error(context, $0.baseAddress, $0.count) }
    }
}

private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000_000_000).overflow ? .max : product + attoseconds / 1_000_000_000_000_000
    }
}
