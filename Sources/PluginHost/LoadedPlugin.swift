internal import JobHostABI

/// A plugin that passed every check and whose `init` succeeded.
public struct LoadedPlugin: Sendable {
    /// The name the config gives it (the library is `lib<name>.so`).
    public let name: String
    /// The name the plugin gives itself in its descriptor.
    public let declaredName: String
    public let version: String
    public let description: String
    /// `major.minor` of the ABI the plugin was built against.
    public let abiVersion: String
    public let path: String
    public let handlers: [HandlerInfo]
}

/// One handler a loaded plugin offers.
public struct HandlerInfo: Sendable, Hashable {
    public let name: String
    public let description: String
    /// The plugin's suggestion: it wins over the queue's timeout; a route's timeout (and a job's own) win over it.
    public let defaultTimeout: Duration?
}

/// A handler ready to call: its entry point in the loaded library.
public struct RegisteredHandler: Sendable {
    public let info: HandlerInfo
    /// The config name of the plugin that offers it.
    public let plugin: String
    // Unsafe 1: both point into a library that is never unloaded (RTLD_NODELETE, no dlclose), and the
    // ABI requires handlers to be callable from any thread, so sharing them across threads is safe.
    nonisolated(unsafe) let run: jh_handler_fn
    nonisolated(unsafe) let handlerData: UnsafeMutableRawPointer?
}

/// Handler name → handler, across every loaded plugin.
public struct HandlerRegistry: Sendable {
    private(set) var handlers: [String: RegisteredHandler] = [:]
    /// Asked for a handler not registered here: a worker that loads plugins only for its own queues
    /// loads another one when a job of its handler arrives anyway.
    private var fallback: (@Sendable (String) -> RegisteredHandler?)?

    public init() {}

    public subscript(name: String) -> RegisteredHandler? { handlers[name] ?? fallback?(name) }

    /// This registry, asking `fallback` for the handlers it lacks.
    public func falling(back fallback: @escaping @Sendable (String) -> RegisteredHandler?) -> HandlerRegistry {
        var registry = self
        registry.fallback = fallback
        return registry
    }

    public var names: Set<String> { Set(handlers.keys) }

    mutating func register(_ handler: RegisteredHandler) { handlers[handler.info.name] = handler }
}
