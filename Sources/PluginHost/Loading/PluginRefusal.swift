/// Why a plugin was not loaded: which file, which check, and what to do about it.
public struct PluginRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// The checks, in the order the loader makes them.
    public enum Check: String, Sendable, Codable {
        case notFound = "not found"
        case permissions
        case notRegularFile = "regular file"
        case elf = "ELF"
        case entrySymbol = "entry symbol"
        case dlopen
        case abiVersion = "ABI version"
        case descriptor
        case handlerName = "handler name"
        case duplicateHandler = "duplicate handler"
        case duplicatePlugin = "duplicate plugin"
        case initFailed = "init"
        /// The process loading it died or exited (a crash in a constructor or in `init`).
        case crashed = "crash"
        /// Loading it did not finish in time (a constructor, the entry function or `init` hangs).
        case hung = "hang"
    }

    /// The name the config gives the plugin.
    public var plugin: String
    /// The file, when one was found.
    public var path: String?
    public var check: Check
    /// One sentence an operator can act on.
    public var reason: String

    public init(plugin: String, path: String?, check: Check, reason: String) {
        self.plugin = plugin
        self.path = path
        self.check = check
        self.reason = reason
    }

    /// `plugin 'x' (/path/libx.so): <check> check failed: <reason>`
    public var description: String {
        let file = path.map { " (\($0))" } ?? ""
        return "plugin '\(plugin)'\(file): \(check.rawValue) check failed: \(reason)"
    }
}
