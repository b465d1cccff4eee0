import HostConfig
import Logging

/// Logging for `host run`: the config's level, on stderr.
enum HostLogging {
    static func bootstrap(_ settings: HostSettings) -> Logger {
        var logger = CommandLogging.logger(verbose: true)
        logger.logLevel = Logger.Level(rawValue: settings.logLevel.rawValue) ?? .info
        return logger
    }
}
