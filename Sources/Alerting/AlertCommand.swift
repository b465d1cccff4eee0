import CWorkerSupport
import Foundation

/// A command run for every alert, the alert as one JSON object on its stdin (docs/alerts.md): the way
/// to hand alerts to anything — mail, a pager, a chat the webhook does not speak — without the host
/// knowing it. Run on the dispatcher's own thread, never on the path that settles jobs.
public struct AlertCommand: Sendable, CustomStringConvertible {
    /// The program and its arguments; the program is looked up on `PATH` unless it names a path.
    public let arguments: [String]
    /// How long one run may take before it is stopped (SIGTERM, then SIGKILL two seconds later).
    public let timeout: Duration

    public init(arguments: [String], timeout: Duration) {
        precondition(!arguments.isEmpty, "an alert command needs a program")
        self.arguments = arguments
        self.timeout = timeout
    }

    /// The program alone: its arguments may carry tokens.
    public var description: String { arguments[0] }

    /// Runs the command once with `input` on its stdin, in a process group of its own (a timeout
    /// stops the whole group: a shell's children too). Its stdout is discarded; its stderr is the
    /// host's, so what it says lands in the host's log stream. Started with `posix_spawnp` (never
    /// fork in a threaded process); only its stdio is passed on.
    ///
    /// - Returns: nil when it exited 0, else why not (never its arguments).
    func run(_ input: Data) -> String? {
        _ = ignoreSIGPIPE
        var pipe: [Int32] = [-1, -1]
        // Close-on-exec, so workers spawned meanwhile do not keep the command's stdin open.
        guard jobhost_cloexec_pipe(&pipe) == 0 else { return "cannot make a pipe: \(String(cString: strerror(errno)))" }
        defer { if pipe[1] >= 0 { close(pipe[1]) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipe[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        jobhost_spawn_close_from(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)

        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ)
        close(pipe[0])
        guard spawned == 0 else {
            guard spawned == ENOENT else { return "cannot start \(arguments[0]): \(String(cString: strerror(spawned)))" }
            return arguments[0].contains("/") ? "\(arguments[0]) not found" : "\(arguments[0]) not found on PATH"
        }
        // A command that stops reading early makes the write fail (EPIPE): it still ran.
        input.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(pipe[1], bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { break }
                offset += written
            }
        }
        close(pipe[1])
        pipe[1] = -1

        var status: Int32 = 0
        let deadline = ContinuousClock.now + timeout
        var timedOut = false
        var killAt: ContinuousClock.Instant?
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped < 0 && errno != EINTR) { break }
            let now = ContinuousClock.now
            if !timedOut && now >= deadline {
                timedOut = true
                kill(-pid, SIGTERM)
                killAt = now + .seconds(2)
            } else if let at = killAt, now >= at {
                kill(-pid, SIGKILL)
                killAt = nil
            }
            usleep(10_000)
        }
        if timedOut {
            kill(-pid, SIGKILL)  // whatever of its group outlived it
            return "timed out after \(timeout) and was stopped"
        }
        let signal = status & 0x7f
        if signal != 0 { return "killed by signal \(signal)" }
        let code = (status >> 8) & 0xff
        return code == 0 ? nil : code == 127 ? "exited with status 127 (program not found?)" : "exited with status \(code)"
    }
}

/// Writing to the stdin of a command that already exited raises SIGPIPE, whose default action kills
/// the host. Ignored once, process-wide, unless someone installed a handler.
private let ignoreSIGPIPE: Void = {
    var current = sigaction()
    if sigaction(SIGPIPE, nil, &current) == 0, current.__sigaction_handler.sa_handler == nil {
        signal(SIGPIPE, SIG_IGN)
    }
}()
