import Foundation
import Glibc
import Synchronization

/// A long-running child (a Redis or PostgreSQL server) and the temporary directory it lives in;
/// the one place that signals, reaps and cleans up after it.
///
/// All signalling and reaping of the PID happens under `state`'s lock: once a PID is reaped the
/// kernel may give it to an unrelated process, so "not yet reaped" must be checked and the signal
/// sent without anyone reaping in between.
final class ServerProcess: Sendable {
    let pid: pid_t
    let directory: TemporaryDirectory
    /// The signal that asks this server for a clean, quick shutdown.
    private let stopSignal: Int32
    private let state = Mutex<State>(.running)

    private enum State {
        case running
        /// Exited on its own and reaped; its PID must never be signalled again.
        case exited(status: Int32)
        case stopped
    }

    init(pid: pid_t, directory: TemporaryDirectory, stopSignal: Int32) {
        self.pid = pid
        self.directory = directory
        self.stopSignal = stopSignal
        LiveServers.register(self)
    }

    /// The safety net for a test that forgot `stop()`.
    deinit { stop() }

    /// The shell-style exit status if the server has already exited, `nil` while it runs.
    var exitStatus: Int32? {
        state.withLock { state in
            switch state {
            case .running:
                guard let status = reapIfExited(pid) else { return nil }
                state = .exited(status: status)
                return shellStatus(status)
            case .exited(let status): return shellStatus(status)
            case .stopped: return nil
            }
        }
    }

    /// Stops the server and removes its directory; later calls return at once.
    ///
    /// Sends `stopSignal` and waits up to `timeout` for a clean exit, then kills with `SIGKILL`.
    /// Blocks the calling thread meanwhile: a clean shutdown takes milliseconds here.
    func stop(timeout: Duration = .seconds(10)) {
        let firstCall = state.withLock { state -> Bool in
            switch state {
            case .stopped:
                return false
            case .exited:
                break
            case .running:
                if kill(pid, stopSignal) == 0, waitForExit(pid, until: .now + timeout) == nil {
                    kill(pid, SIGKILL)
                    _ = waitForExit(pid, until: .now + timeout)
                }
            }
            state = .stopped
            return true
        }
        guard firstCall else { return }
        LiveServers.unregister(self)
        // Stopping runs in `deinit` and at exit, where an error has nowhere to go; a directory
        // left behind is harmless and keeps its recognisable prefix.
        try? directory.remove()
    }
}

/// Every server not yet stopped, so that those a test leaked (kept alive by a global, say) are
/// still stopped when the test process exits normally. Weak references: the registry must not
/// keep a server alive and so stop its `deinit` from running.
///
/// A crash or `SIGKILL` of the test process runs no exit hook; servers then outlive it, and their
/// directories stay under the temporary directory with the `jobhost-test-` prefix.
enum LiveServers {
    private struct Entry {
        weak var server: ServerProcess?
    }

    private static let servers = Mutex<[ObjectIdentifier: Entry]>([:])

    /// A static's initialiser runs exactly once even when several tests start servers at the
    /// same moment, so the hook is installed once.
    private static let exitHook: Void = {
        atexit { LiveServers.stopAll() }
    }()

    /// Makes sure leaked servers and the PostgreSQL template are cleaned up at exit; called
    /// before anything that would need it is created.
    static func installExitHook() {
        _ = exitHook
    }

    static func register(_ server: ServerProcess) {
        installExitHook()
        servers.withLock { $0[ObjectIdentifier(server)] = Entry(server: server) }
    }

    static func unregister(_ server: ServerProcess) {
        _ = servers.withLock { $0.removeValue(forKey: ObjectIdentifier(server)) }
    }

    private static func stopAll() {
        let leaked = servers.withLock { $0.values.compactMap(\.server) }
        for server in leaked {
            server.stop(timeout: .seconds(5))
        }
        PostgresTemplate.removeAtExit()
    }
}

extension ServerProcess {
    /// Starts a server on a fresh port in a fresh directory and waits until it is ready, trying
    /// again on another port when the chosen one was taken in the meantime.
    ///
    /// The server's standard output and standard error go to `logName` in its directory; if it
    /// exits or is not ready in time, it is stopped and the error carries the end of that log.
    ///
    /// - Parameters:
    ///   - spawn: prepares the directory and starts the server on the port, logging to the file
    ///     at the given path; returns the server's PID.
    ///   - isReady: whether the server, still running, now serves on its port. Must not block for
    ///     long: it is polled.
    static func launch(
        name: String,
        logName: String,
        stopSignal: Int32,
        timeout: Duration,
        spawn: (_ port: Int, _ directory: TemporaryDirectory, _ logPath: String) throws -> pid_t,
        isReady: (_ pid: pid_t, _ port: Int, _ directory: TemporaryDirectory) -> Bool
    ) throws -> (process: ServerProcess, port: Int) {
        let deadline = ContinuousClock.now + timeout
        let attempts = 5
        for attempt in 1...attempts {
            let port = try Loopback.freePort()
            let directory = try TemporaryDirectory.create()
            let logPath = directory.path + "/" + logName
            let pid: pid_t
            do {
                pid = try spawn(port, directory, logPath)
            } catch {
                try? directory.remove()
                throw error
            }
            let process = ServerProcess(pid: pid, directory: directory, stopSignal: stopSignal)

            var interval = Duration.milliseconds(2)
            while process.exitStatus == nil, ContinuousClock.now < deadline {
                if isReady(pid, port, directory) { return (process, port) }
                sleepBlocking(interval)
                interval = min(interval * 2, .milliseconds(20))
            }

            let exitStatus = process.exitStatus
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "(no log written)"
            process.stop()
            if exitStatus != nil, log.contains("Address already in use"), attempt < attempts {
                continue
            }
            let reason = exitStatus.map { "exited with status \($0) while starting on port \(port)" }
                ?? "not ready on port \(port) within \(timeout)"
            throw HarnessError.serverFailedToStart(server: name, reason: reason, logTail: tail(of: log))
        }
        preconditionFailure("the last attempt either returns or throws")
    }
}

/// Stops a server for the `with…` helpers on a dedicated thread, since the wait for a slow
/// shutdown should not hold a thread of the cooperative pool.
func stopOnDedicatedThread(_ process: ServerProcess) async {
    _ = try? await onDedicatedThread { process.stop() }
}
