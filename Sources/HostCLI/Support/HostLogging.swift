import ArgumentParser
import Glibc
import HostConfig
import Logging

/// Logging for `host run` and its workers: the config's level and format, on stderr.
enum HostLogging {
    static func bootstrap(_ settings: HostSettings) -> Logger {
        CommandLogging.bootstrap(resolve(settings.logFormat))
        var logger = Logger(label: "jobhost")
        logger.logLevel = Logger.Level(rawValue: settings.logLevel.rawValue) ?? .info
        return logger
    }

    /// `auto` made concrete: text for a person at a terminal, JSON lines for anything that collects
    /// stderr (journald, a container runtime, a file).
    static func resolve(_ format: HostSettings.LogFormat) -> HostSettings.LogFormat {
        format == .auto ? (isatty(STDERR_FILENO) == 1 ? .text : .json) : format
    }
}

/// `--log-format`, which overrides `host.log_format`.
struct LogFormatOption: ParsableArguments {
    @Option(help: ArgumentHelp("Log format: auto (text on a terminal, else JSON lines), text or json; overrides host.log_format."))
    var logFormat: HostSettings.LogFormat?

    /// `config` with its log format resolved (the flag, else the config's; `auto` decided here), so
    /// that the worker processes it is handed to log exactly as this process does.
    func apply(to config: HostConfiguration) -> HostConfiguration {
        var config = config
        config.host = apply(to: config.host)
        return config
    }

    func apply(to settings: HostSettings) -> HostSettings {
        var settings = settings
        settings.logFormat = HostLogging.resolve(logFormat ?? settings.logFormat)
        return settings
    }
}

extension HostSettings.LogFormat: ExpressibleByArgument {}
