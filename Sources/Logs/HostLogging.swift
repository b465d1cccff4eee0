import Glibc
import HostConfig
import Logging
import Synchronization

/// Logging for `host run` and its workers: the config's level and format, on stderr.
public enum HostLogging {
    public static func bootstrap(_ settings: HostSettings) -> Logger {
        CommandLogging.bootstrap(resolve(settings.logFormat))
        var logger = Logger(label: "jobhost")
        logger.logLevel = Logger.Level(rawValue: settings.logLevel.rawValue) ?? .info
        return logger
    }

    /// `auto` made concrete: text for a person at a terminal, JSON lines for anything that collects
    /// stderr (journald, a container runtime, a file).
    public static func resolve(_ format: HostSettings.LogFormat) -> HostSettings.LogFormat {
        format == .auto ? (isatty(STDERR_FILENO) == 1 ? .text : .json) : format
    }
}

/// The logger of the inspection commands: quiet unless asked, on stderr so stdout stays parseable.
public enum CommandLogging {
    private static let bootstrapped = Mutex(false)

    /// Installs the process's log handler; only the first call counts (swift-log allows one bootstrap).
    /// - Parameter format: `text` or `json`; `auto` is resolved by ``HostLogging/resolve(_:)`` first.
    public static func bootstrap(_ format: HostSettings.LogFormat) {
        bootstrapped.withLock { done in
            guard !done else { return }
            if format == .json {
                LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
            } else {
                LoggingSystem.bootstrap(StreamLogHandler.standardError)
            }
            done = true
        }
    }

    public static func logger(verbose: Bool) -> Logger {
        bootstrap(.text)
        var logger = Logger(label: "jobhost")
        logger.logLevel = verbose ? .debug : .critical
        return logger
    }
}
