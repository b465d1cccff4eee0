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
        case .noSuchJob, .notDead, .notPending, .refused: invalidExitCode
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

/// Applies one change to each item in turn and reports it: a line per item on stdout (or, with
/// `json`, every item's row as one JSON array), each failure on stderr; exit 2 when any failed.
/// - Parameters:
///   - change: makes the change; returns the item's row and its line.
///   - failed: the row and stderr line of an item whose change failed.
func changeEach<Item, Row: Encodable>(
    _ items: [Item], json: Bool, change: (Item) throws(OperatorActions.Failure) -> (row: Row, line: String),
    failed: (Item, OperatorActions.Failure) -> (row: Row, line: String)
) throws {
    var rows: [Row] = []
    var anyFailed = false
    for item in items {
        do throws(OperatorActions.Failure) {
            let done = try change(item)
            rows.append(done.row)
            if !json { print(done.line) }
        } catch {
            anyFailed = true
            let failure = failed(item, error)
            rows.append(failure.row)
            printError(failure.line)
        }
    }
    if json { try printJSON(rows) }
    if anyFailed { throw ExitCode(2) }
}
