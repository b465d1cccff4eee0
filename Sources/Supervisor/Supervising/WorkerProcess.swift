import CWorkerSupport
import Foundation
import Glibc
import PluginHost

/// One running worker process as its supervisor sees it: its PID, the pipe it reports on, and the
/// pipe it takes commands from.
///
/// Started with `posix_spawn` of the host's own executable: forking a multithreaded Swift process
/// would allow only async-signal-safe calls before `exec`. Every descriptor but the two pipes is
/// closed in the child, signal dispositions and the mask are reset (the supervisor ignores SIGPIPE;
/// a worker must not inherit that), and Swift's backtracer is off: it would hold a crashing worker
/// for seconds while the jobs it held wait.
final class WorkerProcess: Sendable {
    let pid: pid_t
    /// Read end of the report pipe (the supervisor's).
    let reports: Int32
    /// Write end of the control pipe (the supervisor's).
    private let control: Int32

    struct SpawnError: Error, CustomStringConvertible {
        let call: String
        let code: Int32
        var description: String { "\(call): \(String(cString: strerror(code)))" }
    }

    init(executable: String, assignment: WorkerAssignment, configText: String) throws(SpawnError) {
        var controlPipe: [Int32] = [-1, -1]
        var reportPipe: [Int32] = [-1, -1]
        guard jobhost_cloexec_pipe(&controlPipe) == 0 else { throw SpawnError(call: "pipe2", code: errno) }
        guard jobhost_cloexec_pipe(&reportPipe) == 0 else {
            close(controlPipe[0]); close(controlPipe[1])
            throw SpawnError(call: "pipe2", code: errno)
        }
        defer {
            close(controlPipe[0])
            close(reportPipe[1])
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, controlPipe[0], WorkerDescriptors.control)
        posix_spawn_file_actions_adddup2(&actions, reportPipe[1], WorkerDescriptors.report)
        jobhost_spawn_close_from(&actions, WorkerDescriptors.report + 1)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)

        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        let argv = ([executable] + assignment.arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            close(controlPipe[1]); close(reportPipe[0])
            throw SpawnError(call: "posix_spawn \(executable)", code: result)
        }
        self.pid = pid
        reports = reportPipe[0]
        control = controlPipe[1]
        send(assignment.handshake(configText: configText))
    }

    /// Asks the worker to stop taking jobs, finish or hand back what it holds, and exit 0.
    func drain() { send("drain\n") }

    func kill(_ signal: Int32 = SIGKILL) { _ = Glibc.kill(pid, signal) }

    /// The worker's wait status if it has exited (reaping it), nil while it runs.
    func exitStatusIfEnded() -> Int32? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return status }
            if result < 0, errno == EINTR { continue }
            return nil
        }
    }

    /// Blocks until the worker has exited; returns its wait status.
    func waitForExit() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return 0 }
        }
        return status
    }

    /// Blocks until `bytes` could be read from the report pipe; empty at end of file.
    func readReports(into buffer: inout [UInt8]) -> Int {
        while true {
            let count = buffer.withUnsafeMutableBytes { read(reports, $0.baseAddress, $0.count) }
            if count >= 0 { return count }
            if errno != EINTR { return 0 }
        }
    }

    /// Closes the supervisor's ends of both pipes once the worker is gone.
    func closePipes() {
        close(reports)
        close(control)
    }

    private func send(_ text: String) { send(Data(text.utf8)) }

    private func send(_ data: Data) {
        var bytes = [UInt8](data)
        bytes.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(control, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return  // the worker is gone; its exit is handled where it is reaped
                }
                offset += written
            }
        }
    }
}

/// How a worker ended, in words an operator reads in a job's error.
enum WorkerExit: Equatable {
    case exited(status: Int32)
    case signalled(Int32)

    init(waitStatus: Int32) {
        let signal = waitStatus & 0x7f
        self = signal == 0 ? .exited(status: (waitStatus >> 8) & 0xff) : .signalled(signal)
    }

    var isClean: Bool { self == .exited(status: 0) }

    /// The name of the signal that ended the process, if one did.
    var signal: String? {
        if case .signalled(let signal) = self { return signalName(signal) }
        return nil
    }

    /// As a plugin refusal tells it.
    var processEnd: PluginRefusal.ProcessEnd {
        switch self {
        case .exited(let status): .exited(status: status)
        case .signalled(let signal): .crashed(signal: signalName(signal))
        }
    }

    var description: String {
        switch self {
        case .exited(let status): "exit status \(status)"
        case .signalled(let signal): signalName(signal)
        }
    }
}

/// `SIGSEGV`, `SIGKILL`, …; the number for signals without a common name.
func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT",
        SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1", SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2",
        SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ", SIGSYS: "SIGSYS",
    ]
    return names[signal] ?? "signal \(signal)"
}
