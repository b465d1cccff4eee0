import HostConfig
import Logging
import Synchronization

/// The logger of the inspection commands: quiet unless asked, on stderr so stdout stays parseable.
enum CommandLogging {
    private static let bootstrapped = Mutex(false)

    /// Installs the process's log handler; only the first call counts (swift-log allows one bootstrap).
    /// - Parameter format: `text` or `json`; `auto` is resolved by ``HostLogging/resolve(_:)`` first.
    static func bootstrap(_ format: HostSettings.LogFormat) {
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

    static func logger(verbose: Bool) -> Logger {
        bootstrap(.text)
        var logger = Logger(label: "jobhost")
        logger.logLevel = verbose ? .debug : .critical
        return logger
    }
}
