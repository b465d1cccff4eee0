import ArgumentParser
import Foundation
import HostConfig

/// `--config`, shared by every command that reads the config file.
struct ConfigOptions: ParsableArguments {
    static let defaultPath = "config/host.yaml"

    @Option(
        name: [.short, .long],
        help: ArgumentHelp(
            "The config file.", discussion: "Default: $JOBHOST_CONFIG, else \(defaultPath).", valueName: "file"))
    var config: String?

    /// The path to read: the flag, then `JOBHOST_CONFIG`, then the default.
    func resolvedPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        config ?? environment["JOBHOST_CONFIG"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultPath
    }
}

/// Writes to standard error, where diagnostics belong so that `--json` output on stdout stays clean.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Exit status for a config or plugin that cannot be used.
let invalidExitCode = ExitCode(1)

/// The config the options name, or every problem in it on stderr and exit 1.
func loadConfig(_ options: ConfigOptions) throws -> HostConfiguration {
    let path = options.resolvedPath()
    do {
        return try ConfigLoader().load(path: path)
    } catch {
        for problem in error.diagnostics { printError("\(problem)") }
        printError("\(path): fix the config first (host check-config \(path))")
        throw invalidExitCode
    }
}
