import HostConfig

/// Why a plugin was not loaded: which file, which check, and what to do about it.
public struct PluginRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// The checks, in the order the loader makes them.
    public enum Check: String, Sendable, Codable {
        case notFound = "not found"
        case notRegularFile = "regular file"
        case permissions
        case elf = "ELF"
        case entrySymbol = "entry symbol"
        case dlopen
        case abiVersion = "ABI version"
        case descriptor
        case handlerName = "handler name"
        case duplicateHandler = "duplicate handler"
        case duplicatePlugin = "duplicate plugin"
        case initFailed = "init"
        /// The process loading it died of a signal (in a constructor, the entry function or `init`).
        case crashed = "crash"
        /// The process loading it called `exit` (or `_exit`) there: not a crash, and not told as one.
        case exited = "exit"
        /// A step of loading it did not return within `host.plugin_load_timeout`.
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

extension PluginRefusal {
    /// How the process loading a plugin ended before that plugin's load was done.
    public enum ProcessEnd: Sendable, Equatable {
        /// Killed by the host: the step did not return within the time limit.
        case hung(limit: Duration)
        /// Died of a signal, by name (`SIGSEGV`).
        case crashed(signal: String)
        /// Called `exit(status)`.
        case exited(status: Int32)
    }

    /// The refusal of a plugin whose loading process ended, or was killed, during `stage`: the file,
    /// the step and how it ended, e.g. `init did not return within 5s (host.plugin_load_timeout)`.
    public static func loadingEnded(plugin: String, path: String?, stage: PluginLoadStage, end: ProcessEnd) -> PluginRefusal {
        let check: Check
        let reason: String
        // Where no plugin code was running, say so: the plugin is refused, but maybe not to blame.
        let outsidePluginCode = stage == .checks
            ? "while the host checked the file, before any code of the plugin ran"
            : "after the plugin had loaded (a thread it started may have ended it)"
        switch end {
        case .hung(let limit):
            check = .hung
            reason = switch stage {
            case .checks: "the host's checks of the file did not finish within \(limit.configText); is its file system answering?"
            case .done: "the loading process did not go on within \(limit.configText) after the plugin had loaded"
            case .descriptor: "\(stage.subject) did not finish within \(limit.configText) (host.plugin_load_timeout)"
            case .constructor, .entry, .`init`: "\(stage.subject) did not return within \(limit.configText) (host.plugin_load_timeout)"
            }
        case .crashed(let signal):
            check = .crashed
            let named = signal == "SIGABRT" ? "SIGABRT: abort(), a failed assertion or an uncaught C++ exception" : signal
            reason = stage.runsPluginCode
                ? "\(stage.subject) crashed the loading process (\(named))"
                : "the loading process crashed (\(named)) \(outsidePluginCode)"
        case .exited(let status):
            check = .exited
            reason = stage.runsPluginCode
                ? "\(stage.subject) exited the process (exit status \(status)); a plugin must never call exit"
                : "the loading process exited (exit status \(status)) \(outsidePluginCode)"
        }
        return PluginRefusal(plugin: plugin, path: path, check: check, reason: reason)
    }
}
