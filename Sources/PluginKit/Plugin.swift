internal import JobHostABI
import Foundation
import Synchronization

/// One handler a plugin offers: a name that jobs are routed by, and the code that runs them.
public struct Handler: Sendable {
    /// `family.action`, lower-case, unique across every plugin the host loads.
    public let name: String
    /// One line, shown by `host list-plugins`.
    public let description: String
    /// The timeout jobs of this handler get unless the config says otherwise.
    public let defaultTimeout: Duration?
    let run: @Sendable (Job, Host) throws -> Outcome

    /// Declares a handler.
    ///
    /// The closure runs on a thread the host owns, possibly on several threads at once, and may block.
    /// Returning ``Outcome`` decides the job; throwing ``DiscardJob`` discards it; throwing anything else
    /// retries it with the error's description.
    public init(
        _ name: String, description: String = "", timeout: Duration? = nil,
        run: @escaping @Sendable (Job, Host) throws -> Outcome
    ) {
        self.name = name
        self.description = description
        self.defaultTimeout = timeout
        self.run = run
    }
}

/// A plugin: its name, version and handlers, and the C descriptor the host loads.
///
/// Declare one as a global and export it in one line:
/// ```swift
/// let plugin = Plugin(name: "greeter", version: "1.0.0", description: "…", handlers: [...])
/// @_cdecl("jh_plugin_entry") public func entry() -> UnsafeRawPointer { plugin.entry }
/// ```
public final class Plugin: Sendable {
    /// The plugin's name, e.g. `noctua`.
    public let name: String
    /// Its handlers.
    public let handlers: [Handler]
    let onInit: (@Sendable (PluginConfiguration, Host) throws -> Void)?
    let onShutdown: (@Sendable () -> Void)?

    // Unsafe 1: the descriptor, its strings and its handler array are written once here and never
    // changed or freed (the host never unloads a plugin), so sharing the pointer across threads is safe.
    nonisolated(unsafe) private let descriptor: UnsafeMutablePointer<jh_plugin_descriptor>

    /// Declares a plugin.
    /// - Parameters:
    ///   - onInit: runs once before any handler, with the plugin's config block; throw to refuse to start
    ///     (the host reports the error's description).
    ///   - onShutdown: runs once after the last handler call.
    public init(
        name: String, version: String, description: String, handlers: [Handler],
        onInit: (@Sendable (PluginConfiguration, Host) throws -> Void)? = nil,
        onShutdown: (@Sendable () -> Void)? = nil
    ) {
        self.name = name
        self.handlers = handlers
        self.onInit = onInit
        self.onShutdown = onShutdown

        let definitions = UnsafeMutablePointer<jh_handler_def>.allocate(capacity: max(handlers.count, 1))
        for (index, handler) in handlers.enumerated() {
            var definition = jh_handler_def()
            definition.name = UnsafePointer(strdup(handler.name))
            definition.description = UnsafePointer(strdup(handler.description))
            definition.default_timeout_ms = UInt32(clamping: handler.defaultTimeout?.milliseconds ?? 0)
            definition.run = runHandler
            // Unsafe 2: the box is retained for the life of the process, like the descriptor.
            definition.handler_data = Unmanaged.passRetained(HandlerBox(handler)).toOpaque()
            (definitions + index).initialize(to: definition)
        }
        var descriptor = jh_plugin_descriptor()
        descriptor.abi_major = UInt32(JH_ABI_MAJOR)
        descriptor.abi_minor = UInt32(JH_ABI_MINOR)
        descriptor.descriptor_size = UInt32(MemoryLayout<jh_plugin_descriptor>.size)
        descriptor.handler_size = UInt32(MemoryLayout<jh_handler_def>.size)
        descriptor.name = UnsafePointer(strdup(name))
        descriptor.version = UnsafePointer(strdup(version))
        descriptor.description = UnsafePointer(strdup(description))
        descriptor.handlers = UnsafePointer(definitions)
        descriptor.handler_count = UInt32(handlers.count)
        descriptor.`init` = initPlugin
        descriptor.shutdown = shutdownPlugin
        self.descriptor = .allocate(capacity: 1)
        self.descriptor.initialize(to: descriptor)
    }

    /// The pointer `jh_plugin_entry` returns. Reading it makes this plugin the one `init` and `shutdown`
    /// reach: a library exports exactly one plugin.
    public var entry: UnsafeRawPointer {
        exportedPlugin.withLock { $0 = self }
        return UnsafeRawPointer(descriptor)
    }
}

/// The plugin this library exported: the C `init` and `shutdown` calls carry no user data to find it by.
private let exportedPlugin = Mutex<Plugin?>(nil)

private final class HandlerBox: Sendable {
    let handler: Handler
    init(_ handler: Handler) { self.handler = handler }
}

private func runHandler(
    host: UnsafePointer<jh_host>?, context: OpaquePointer?, job: UnsafePointer<jh_job>?, data: UnsafeMutableRawPointer?
) -> Int32 {
    guard let host, let job, let data else { return Int32(JH_DISCARD.rawValue) }
    let handler = Unmanaged<HandlerBox>.fromOpaque(data).takeUnretainedValue().handler
    let services = Host(table: host, context: context)
    let outcome: Outcome
    do {
        outcome = try handler.run(Job(job), services)
    } catch let discard as DiscardJob {
        outcome = .discard(discard.reason)
    } catch {
        outcome = .retry(String(describing: error))
    }
    return services.report(outcome)
}

private func initPlugin(
    host: UnsafePointer<jh_host>?, json: UnsafePointer<CChar>?, length: Int,
    errorOut: UnsafeMutablePointer<CChar>?, errorCapacity: Int
) -> Int32 {
    guard let host, let plugin = exportedPlugin.withLock({ $0 }) else { return Int32(JH_ERROR.rawValue) }
    guard let onInit = plugin.onInit else { return Int32(JH_OK.rawValue) }
    let config = json.map { Data(bytes: $0, count: length) } ?? Data("{}".utf8)
    do {
        try onInit(PluginConfiguration(json: config), Host(table: host, context: nil))
        return Int32(JH_OK.rawValue)
    } catch {
        if let errorOut, errorCapacity > 0 {
            let bytes = fitting(String(describing: error), in: errorCapacity - 1)
            for (index, byte) in bytes.enumerated() { errorOut[index] = CChar(bitPattern: byte) }
            errorOut[bytes.count] = 0
        }
        return Int32(JH_ERROR.rawValue)
    }
}

/// As much of `text` as fits in `capacity` bytes: whole lines when at least one fits (the host reads
/// each `config.<key>: <message>` line as a problem, so a line cut short would mislead), otherwise
/// the first line cut at a character boundary.
func fitting(_ text: String, in capacity: Int) -> [UInt8] {
    if text.utf8.count <= capacity { return Array(text.utf8) }
    var kept: [UInt8] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let needed = line.utf8.count + (kept.isEmpty ? 0 : 1)
        guard kept.count + needed <= capacity else { break }
        if !kept.isEmpty { kept.append(UInt8(ascii: "\n")) }
        kept += line.utf8
    }
    if !kept.isEmpty { return kept }
    var cut: [UInt8] = []
    for character in text {
        let bytes = Array(String(character).utf8)
        guard cut.count + bytes.count <= capacity else { break }
        cut += bytes
    }
    return cut
}

private func shutdownPlugin(host: UnsafePointer<jh_host>?) {
    exportedPlugin.withLock { $0 }?.onShutdown?()
}

extension Job {
    /// Reads only the fields the host's `struct_size` covers: a host of an older minor passes a smaller struct.
    init(_ pointer: UnsafePointer<jh_job>) {
        var job = jh_job()
        withUnsafeMutableBytes(of: &job) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: min(Int(UnsafeRawPointer(pointer).load(as: UInt32.self)), target.count)))
        }
        self.init(
            id: String(cString: job.id),
            handler: String(cString: job.handler),
            queue: job.queue.map { String(cString: $0) } ?? "",
            attempt: Int(job.attempt),
            maxAttempts: Int(job.max_attempts),
            payload: job.payload.map { Data(bytes: $0, count: job.payload_len) } ?? Data(),
            deadline: job.deadline_unix_ms > 0 ? Date(timeIntervalSince1970: Double(job.deadline_unix_ms) / 1000) : nil,
            enqueuedAt: Date(timeIntervalSince1970: Double(job.enqueued_at_unix_ms) / 1000))
    }
}
