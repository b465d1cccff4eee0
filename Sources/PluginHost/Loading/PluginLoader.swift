internal import JobHostABI
import Foundation
import HostConfig
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What happened to one configured plugin.
public enum PluginLoadResult: Sendable {
    case loaded(LoadedPlugin)
    case refused(PluginRefusal)

    public var name: String {
        switch self {
        case .loaded(let plugin): plugin.name
        case .refused(let refusal): refusal.plugin
        }
    }
}

/// Finds, checks and loads plugin libraries, and registers their handlers.
///
/// Every check that can be made without running plugin code is made before `dlopen` (which runs the
/// library's constructors): file type, permissions, ELF header and segments, the entry symbol. A
/// refusal names the file and the check; a refused plugin never stops the others from loading.
public final class PluginLoader: Sendable {
    private let locator: PluginLocator
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var results: [PluginLoadResult] = []
        var registry = HandlerRegistry()
        var declaredNames: [String: String] = [:]
        /// Library path → the plugin loaded from it, so one library is never initialised twice.
        var loadedPaths: [String: String] = [:]
        var shutdowns: [(plugin: String, run: jh_shutdown_fn)] = []
    }

    /// Loads run one at a time in a process: a plugin's `init` then runs alone, so its log lines
    /// (which carry no job) are tagged with the right plugin.
    private static let serial = Mutex(())

    /// - Parameters:
    ///   - searchPaths: directories searched, in order, for `lib<name>.so`.
    public init(searchPaths: [URL], logger: Logger) {
        self.locator = PluginLocator(searchPaths: searchPaths)
        self.logger = logger
    }

    /// A loader searching `JOBHOST_PLUGIN_PATH`, the config's `plugin_paths`, then the executable's directory.
    public convenience init(config: HostConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger) {
        self.init(
            searchPaths: PluginLocator.defaultSearchPaths(configured: config.host.pluginPaths, environment: environment),
            logger: logger)
    }

    public var searchPaths: [URL] { locator.searchPaths }

    /// Every result so far, in load order.
    public var results: [PluginLoadResult] { state.withLock { $0.results } }

    /// The handlers of every plugin loaded so far.
    public var registry: HandlerRegistry { state.withLock { $0.registry } }

    /// Loads each plugin in order; returns the results of this call.
    @discardableResult
    public func load(_ plugins: [PluginConfig]) -> [PluginLoadResult] {
        plugins.map(load)
    }

    /// Loads one plugin, or says why not.
    @discardableResult
    public func load(_ plugin: PluginConfig) -> PluginLoadResult {
        let result: PluginLoadResult
        do {
            result = .loaded(try Self.serial.withLock { _ throws(PluginRefusal) in try loadChecked(plugin) })
        } catch {
            logger.error("plugin refused", metadata: ["plugin": "\(plugin.name)", "reason": "\(error)"])
            result = .refused(error)
        }
        state.withLock { $0.results.append(result) }
        return result
    }

    private func loadChecked(_ plugin: PluginConfig) throws(PluginRefusal) -> LoadedPlugin {
        func refuse(_ check: PluginRefusal.Check, _ reason: String, path: String? = nil) -> PluginRefusal {
            PluginRefusal(plugin: plugin.name, path: path, check: check, reason: reason)
        }
        if state.withLock({ $0.results.contains { $0.name == plugin.name } }) {
            throw refuse(.duplicatePlugin, "a plugin named '\(plugin.name)' is already loaded")
        }
        let url: URL
        if let explicit = plugin.path {
            guard FileManager.default.fileExists(atPath: explicit.path) else {
                throw refuse(.notFound, "no file at \(explicit.path) (the plugin's 'path')", path: explicit.path)
            }
            url = explicit
        } else {
            switch locator.locate(plugin.name) {
            case .found(let found): url = found
            case .notFound(let reason): throw refuse(.notFound, reason)
            }
        }
        // dlopen must get an absolute, resolved path: a bare name would be searched elsewhere.
        let path = url.resolvingSymlinksInPath().path
        if let other = state.withLock({ $0.loadedPaths[path] }) {
            throw refuse(.duplicatePlugin, "this library is already loaded as plugin '\(other)'", path: path)
        }
        if let problem = FilePermissions.problem(withFileAt: path) { throw refuse(.permissions, problem, path: path) }

        let facts: ELFFacts
        switch ELFInspector.inspect(path: path, symbol: JH_ENTRY_SYMBOL) {
        case .failure(let refusal):
            throw refuse(refusal.description.hasPrefix("not a regular file") ? .notRegularFile : .elf, refusal.description, path: path)
        case .success(let inspected): facts = inspected
        }
        if facts.entrySymbol == .missing {
            throw refuse(.entrySymbol,
                "the library does not export \(JH_ENTRY_SYMBOL) (in C: JH_EXPORT const jh_plugin_descriptor *jh_plugin_entry(void); in Swift: @_cdecl(\"jh_plugin_entry\"))",
                path: path)
        }

        // Unsafe 2: from here on, the library's constructors run inside dlopen. Nothing in-process can
        // stop one that crashes or hangs; the checks above keep out every file that is not a plugin.
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            throw refuse(.dlopen, explainDlopenFailure(dlerror().map { String(cString: $0) } ?? "unknown error"), path: path)
        }
        guard let symbol = dlsym(handle, JH_ENTRY_SYMBOL) else {
            throw refuse(.entrySymbol, "dlsym(\(JH_ENTRY_SYMBOL)) failed: \(dlerror().map { String(cString: $0) } ?? "not found")", path: path)
        }
        // Unsafe 3: the symbol has the entry function's type; the ABI says so and nothing can check it.
        let entry = unsafeBitCast(symbol, to: jh_plugin_entry_fn.self)
        guard let descriptorPointer = entry() else {
            throw refuse(.descriptor, "\(JH_ENTRY_SYMBOL)() returned NULL", path: path)
        }
        let descriptor = try DescriptorReader.read(UnsafeRawPointer(descriptorPointer)) { check, reason in
            refuse(check, reason, path: path)
        }

        try state.withLock { state throws(PluginRefusal) in
            if let other = state.declaredNames[descriptor.name] {
                throw refuse(.duplicatePlugin, "plugin '\(other)' already calls itself '\(descriptor.name)'", path: path)
            }
            for handler in descriptor.handlers {
                if let owner = state.registry[handler.info.name]?.plugin {
                    throw refuse(.duplicateHandler, "handler '\(handler.info.name)' is already registered by plugin '\(owner)'", path: path)
                }
            }
        }

        if let initialize = descriptor.initialize {
            var message = [CChar](repeating: 0, count: 1024)
            let status = HostServiceTable.initializing(plugin: plugin.name) {
                plugin.configJSON.withCString { json in
                    message.withUnsafeMutableBufferPointer { buffer in
                        initialize(HostServiceTable.shared, json, strlen(json), buffer.baseAddress, buffer.count)
                    }
                }
            }
            if status != Int32(JH_OK.rawValue) {
                let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                throw refuse(.initFailed, text.isEmpty ? "init returned \(status) without a message" : text, path: path)
            }
        }

        let loaded = LoadedPlugin(
            name: plugin.name, declaredName: descriptor.name, version: descriptor.version,
            description: descriptor.description, abiVersion: descriptor.abiVersion, path: path,
            handlers: descriptor.handlers.map(\.info))
        try state.withLock { state throws(PluginRefusal) in
            // A second loader thread could have registered a clashing handler while init ran.
            for handler in descriptor.handlers where state.registry[handler.info.name] != nil {
                throw refuse(.duplicateHandler, "handler '\(handler.info.name)' is already registered by plugin '\(state.registry[handler.info.name]!.plugin)'", path: path)
            }
            state.declaredNames[descriptor.name] = plugin.name
            state.loadedPaths[path] = plugin.name
            if let shutdown = descriptor.shutdown { state.shutdowns.append((plugin.name, shutdown)) }
            for handler in descriptor.handlers {
                state.registry.register(RegisteredHandler(info: handler.info, plugin: plugin.name, run: handler.run, handlerData: handler.data))
            }
        }
        logger.info("plugin loaded", metadata: [
            "plugin": "\(plugin.name)", "version": "\(loaded.version)", "handlers": "\(loaded.handlers.count)", "path": "\(path)",
        ])
        return loaded
    }

    /// Calls each loaded plugin's `shutdown`, newest first, once. Call it after the last handler returned.
    public func shutdown() {
        let calls = state.withLock { state in
            defer { state.shutdowns = [] }
            return state.shutdowns
        }
        for call in calls.reversed() {
            call.run(HostServiceTable.shared)
            logger.debug("plugin shut down", metadata: ["plugin": "\(call.plugin)"])
        }
    }

    /// `dlerror()` texts mislead for some files; say what they mean.
    private func explainDlopenFailure(_ text: String) -> String {
        if text.contains("cannot open shared object file"), let colon = text.firstIndex(of: ":") {
            let library = text[..<colon]
            if !library.hasPrefix("/") {
                return "a library it depends on is missing: \(library) (dlopen: \(text)); install it or add its directory to LD_LIBRARY_PATH"
            }
        }
        if text.contains("undefined symbol") {
            return "it needs a symbol nothing provides (dlopen: \(text)); was it built against a different version of a library it uses?"
        }
        return "dlopen: \(text)"
    }
}
