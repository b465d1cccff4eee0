/// The steps of loading one plugin, in the order the loader takes them.
///
/// The loader tells its caller before each step (see ``PluginLoader/load(_:reporting:)``): a worker
/// process passes that on to its supervisor, so that when the process dies or stops answering, the
/// refusal names the step that was running. Only in `constructor`, `entry` and `init` does the
/// plugin's own code run; the other steps are the host's.
public enum PluginLoadStage: String, Sendable, CaseIterable {
    /// The host's own checks of the file: symlinks, type, permissions, ELF headers, the entry symbol.
    case checks
    /// `dlopen`: the library's constructors run (and the Swift global initialisers they trigger).
    case constructor
    /// The entry function, `jh_plugin_entry`.
    case entry
    /// The host reads the descriptor the entry function returned (a wild pointer crashes here).
    case descriptor
    /// The plugin's `init`.
    case `init`
    /// Past the plugin's code: loaded or refused. What still runs is the host's.
    case done

    /// The subject of a sentence about what was running in this step.
    public var subject: String {
        switch self {
        case .checks: "the host's checks of the file"
        case .constructor: "a constructor of the library (run by dlopen)"
        case .entry: "the entry function"
        case .descriptor: "reading the descriptor the entry function returned"
        case .`init`: "init"
        case .done: "the host's work after the plugin had loaded"
        }
    }

    /// Whether the plugin's code runs in this step (or the host reads the plugin's memory).
    public var runsPluginCode: Bool {
        switch self {
        case .constructor, .entry, .descriptor, .`init`: true
        case .checks, .done: false
        }
    }
}
