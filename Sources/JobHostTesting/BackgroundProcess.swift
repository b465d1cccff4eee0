import Foundation
import Glibc
import Synchronization

/// A child left running while the test goes on (`host run`, say), logging to a file, that the test
/// signals, kills and waits for. Killed with `SIGKILL` when the last reference goes away.
public final class BackgroundProcess: Sendable {
    public let pid: Int32
    /// Where its standard output and standard error go.
    public let logPath: String
    private let exit = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments`; `environment` nil inherits this process's.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, workingDirectory: String? = nil,
        logPath: String
    ) throws {
        self.logPath = logPath
        pid = try spawnProcess(
            executable: executable, arguments: arguments, environment: environment, workingDirectory: workingDirectory,
            stdin: nil, output: .logFile(logPath), newProcessGroup: true)
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            _ = waitForExit(pid, until: .now + .seconds(5))
        }
    }

    /// Sends `signal` unless the child has already exited (and so may have lost its PID to another process).
    public func send(_ signal: Int32) {
        exit.withLock { status in
            if status == nil, let raw = reapIfExited(pid) { status = shellStatus(raw) }
            if status == nil { kill(pid, signal) }
        }
    }

    /// The shell-style exit status once it has exited, nil while it runs.
    public var exitStatus: Int32? {
        exit.withLock { status in
            if status == nil, let raw = reapIfExited(pid) { status = shellStatus(raw) }
            return status
        }
    }

    /// Waits up to `timeout` for the child to exit; its shell-style status, or nil if it still runs.
    public func waitUntilExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = exitStatus { return status }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return exitStatus
    }

    /// Waits up to `timeout` for the child to exit, blocking the calling thread: for cleanup paths
    /// (`deinit`, `stop()`) that cannot suspend. Its shell-style status, or nil if it still runs.
    public func waitUntilExitBlocking(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = exitStatus { return status }
            sleepBlocking(.milliseconds(5))
        }
        return exitStatus
    }

    /// The PIDs of its living children (worker processes, say), from `/proc`.
    public var children: [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let candidate = Int32(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let afterName = stat.lastIndex(of: ")")
            else { return nil }
            // After the name: state, then the parent's PID.
            let fields = stat[stat.index(after: afterName)...].split(separator: " ")
            guard fields.count > 1, fields[0] != "Z", Int32(fields[1]) == pid else { return nil }
            return candidate
        }
    }

    /// What it has written so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}
