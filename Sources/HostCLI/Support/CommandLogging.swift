import Logging
import Synchronization

/// The logger of the inspection commands: quiet unless asked, on stderr so stdout stays parseable.
enum CommandLogging {
    private static let bootstrapped = Mutex(false)

    static func logger(verbose: Bool) -> Logger {
        bootstrapped.withLock { done in
            guard !done else { return }
            LoggingSystem.bootstrap(StreamLogHandler.standardError)
            done = true
        }
        var logger = Logger(label: "jobhost")
        logger.logLevel = verbose ? .debug : .critical
        return logger
    }
}
