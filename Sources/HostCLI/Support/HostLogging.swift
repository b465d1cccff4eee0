import ArgumentParser
import HostConfig
import Logs

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
