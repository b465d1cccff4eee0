import Glibc

/// Why the harness could not do what a test asked; every case carries what a person needs to see
/// in the failing test's output to know why, without rerunning it.
public enum HarnessError: Error, CustomStringConvertible, Sendable {
    /// The executable could not be started at all (not found, not executable, ...).
    case launchFailed(executable: String, errno: Int32)
    /// A system call the harness depends on failed.
    case systemCall(String, errno: Int32)
    /// A child process outlived its time limit and was killed, together with its process group;
    /// what it had printed so far is kept because it usually shows where it hung.
    case timedOut(command: String, after: Duration, stdout: String, stderr: String)
    /// A command the harness runs on a test's behalf (such as `psql`) exited unsuccessfully.
    case commandFailed(command: String, status: Int32, stderr: String)
    /// A server did not become ready; `logTail` is the end of its own log, which names the cause.
    case serverFailedToStart(server: String, reason: String, logTail: String)
    /// No PostgreSQL server binaries (`initdb`, `postgres`) were found in these directories.
    case postgresNotFound(searched: [String])
    /// A request to a helper server the harness started (the fake AI server) failed.
    case requestFailed(String)

    /// The message a test failure shows, with the tail of any output that explains the failure.
    public var description: String {
        switch self {
        case .launchFailed(let executable, let code):
            return "cannot launch \(executable): \(String(cString: strerror(code)))"
        case .systemCall(let name, let code):
            return "\(name) failed: \(String(cString: strerror(code)))"
        case .timedOut(let command, let limit, let stdout, let stderr):
            return "\(command) timed out after \(limit) and was killed\n"
                + "--- stdout (tail) ---\n\(tail(of: stdout))\n--- stderr (tail) ---\n\(tail(of: stderr))"
        case .commandFailed(let command, let status, let stderr):
            return "\(command) exited with status \(status)\n--- stderr ---\n\(tail(of: stderr))"
        case .serverFailedToStart(let server, let reason, let logTail):
            return "\(server) failed to start: \(reason)\n--- end of server log ---\n\(logTail)"
        case .postgresNotFound(let searched):
            return "no PostgreSQL server binaries (initdb, postgres) found; looked in: "
                + searched.joined(separator: ", ")
                + ". Install the Debian package postgresql."
        case .requestFailed(let message):
            return message
        }
    }
}

/// The last `lines` lines of `text`: the end of a log or of a command's output is where the
/// reason for a failure is, and the whole of it would drown the test report.
func tail(of text: String, lines: Int = 30) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
}
