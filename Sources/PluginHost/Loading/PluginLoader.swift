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
/// library's constructors): symlinks followed, then the file type, permissions, ELF header and
/// segments, the entry symbol. A refusal names the file and the check; a refused plugin never stops
/// the others from loading. What no check can stop in-process (a constructor, the entry function or
/// `init` that crashes, exits or never returns) is caught by loading in a worker process first,
/// which tells its supervisor each step through `load(_:reporting:)`.
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
        plugins.map { load($0) }
    }

    /// Loads one plugin, or says why not.
    /// - Parameter reporting: called before each step with the step and the file (once it is found),
    ///   and with `.done` at the end. It runs on the loading thread, before the step:
    ///   whatever it records is there if the step never returns.
    @discardableResult
    public func load(_ plugin: PluginConfig, reporting: (PluginLoadStage, String) -> Void = { _, _ in }) -> PluginLoadResult {
        let result: PluginLoadResult
        do {
            result = .loaded(try Self.serial.withLock { _ throws(PluginRefusal) in try loadChecked(plugin, report: reporting) })
        } catch {
            logger.error("plugin refused", metadata: ["plugin": "\(plugin.name)", "reason": "\(error)"])
            result = .refused(error)
        }
        state.withLock { $0.results.append(result) }
        switch result {
        case .loaded(let loaded): reporting(.done, loaded.path)
        case .refused(let refusal): reporting(.done, refusal.path ?? "")
        }
        return result
    }

    private func loadChecked(_ plugin: PluginConfig, report: (PluginLoadStage, String) -> Void) throws(PluginRefusal) -> LoadedPlugin {
        func refuse(_ check: PluginRefusal.Check, _ reason: String, path: String? = nil) -> PluginRefusal {
            PluginRefusal(plugin: plugin.name, path: path, check: check, reason: reason)
        }
        if state.withLock({ $0.results.contains { $0.name == plugin.name } }) {
            throw refuse(.duplicatePlugin, "a plugin named '\(plugin.name)' is already loaded")
        }
        let given: String
        if let explicit = plugin.path {
            var info = stat()
            guard lstat(explicit.path, &info) == 0 else {
                throw refuse(.notFound, "no file at \(explicit.path) (the plugin's 'path')", path: explicit.path)
            }
            given = explicit.path
        } else {
            switch locator.locate(plugin.name) {
            case .found(let found): given = found.path
            case .notFound(let reason): throw refuse(.notFound, reason)
            }
        }
        report(.checks, given)
        // Links first, so that every check below looks at what the path really is, and dlopen gets
        // an absolute, resolved path (a bare name would be searched elsewhere).
        let file: PluginFile
        do {
            file = try PluginFile.resolve(given)
        } catch {
            throw refuse(error.check, error.reason, path: given)
        }
        let path = file.path
        if let other = state.withLock({ $0.loadedPaths[path] }) {
            throw refuse(.duplicatePlugin, "this library is already loaded as plugin '\(other)'", path: path)
        }
        if let problem = FilePermissions.problem(withFileAt: path) { throw refuse(.permissions, problem, path: path) }
        for directory in file.linkDirectories {
            if let problem = FilePermissions.problem(withDirectoryAt: directory) {
                throw refuse(.permissions, "\(problem) (it holds a symlink on the way to the plugin)", path: path)
            }
        }

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
        // stop one that crashes or hangs; the checks above keep out every file that is not a plugin,
        // and a survey process (which reports each step before it) catches the rest.
        report(.constructor, path)
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            throw refuse(.dlopen, Self.explainDlopenFailure(dlerror().map { String(cString: $0) } ?? "unknown error", path: path), path: path)
        }
        report(.entry, path)
        guard let symbol = dlsym(handle, JH_ENTRY_SYMBOL) else {
            throw refuse(.entrySymbol, "dlsym(\(JH_ENTRY_SYMBOL)) failed: \(dlerror().map { String(cString: $0) } ?? "not found")", path: path)
        }
        // Unsafe 3: the symbol has the entry function's type; the ABI says so and nothing can check it.
        let entry = unsafeBitCast(symbol, to: jh_plugin_entry_fn.self)
        guard let descriptorPointer = entry() else {
            throw refuse(.descriptor, "\(JH_ENTRY_SYMBOL)() returned NULL", path: path)
        }
        report(.descriptor, path)
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
            report(.`init`, path)
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

    /// `dlerror()` texts mislead for some files; say what they mean. The text starts with the
    /// plugin's path, which the refusal already names, and the check is already called dlopen.
    static func explainDlopenFailure(_ text: String, path: String) -> String {
        var text = text
        if text.hasPrefix(path + ": ") { text.removeFirst(path.count + 2) }
        if let range = text.range(of: ": cannot open shared object file") {
            let library = String(text[..<range.lowerBound])
            let why = text[range.lowerBound...].dropFirst(2)
            if !library.hasPrefix("/") {
                // LD_LIBRARY_PATH would have to be set wherever the host runs (systemd does not pass
                // a shell's); a RUNPATH travels with the plugin.
                return "a library it depends on is missing: \(library) (\(why)); "
                    + "install it, or link the plugin with a RUNPATH that finds it: -Wl,-rpath,'$ORIGIN' for a library "
                    + "beside the plugin, or -Wl,-rpath,<the library's directory>"
            }
            return "a library it depends on is missing: \(library) (\(why))"
        }
        if let range = text.range(of: "undefined symbol: ") {
            return "it needs a symbol nothing provides (\(text[range.lowerBound...])); was it built against a different version of a library it uses?"
        }
        return text
    }
}
