import ArgumentParser
import HostConfig
import HostDomain
import Logs

/// The operator's actions on the config the options name, with clients for its backends.
func operatorActions(_ options: ConfigOptions) throws -> OperatorActions {
    let config = try loadConfig(options)
    return OperatorActions(config: config, backends: Backends.make(config, logger: CommandLogging.logger(verbose: false)))
}

extension OperatorActions.Failure {
    /// A name the config does not know is a usage error (64); a refusal or a missing job, 1; a backend
    /// failure, 2 (the change may not have happened).
    var exitCode: ExitCode {
        switch self {
        case .unknownQueues, .unknownSchedules: .validationFailure
        case .noSuchJob, .notDead, .refused: invalidExitCode
        case .backend: ExitCode(2)
        }
    }
}

/// Runs an action; a failure ends the command with its reason on stderr and its exit status.
@discardableResult
func perform<Result>(_ body: () throws(OperatorActions.Failure) -> Result, onFailure: () -> Void = {}) throws -> Result {
    do {
        return try body()
    } catch {
        onFailure()
        printError("\(error)")
        throw error.exitCode
    }
}
