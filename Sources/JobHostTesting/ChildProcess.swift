import Glibc

/// Runs a command to completion and captures what it prints: the `host` CLI, compilers, client
/// tools such as `redis-cli`.
///
/// Linux only (`posix_spawn`, `/proc`). Standard output and standard error are read
/// concurrently, and input is written while output is read, so neither a megabyte of output nor a
/// large input can deadlock the child against a full pipe.
public enum ChildProcess {
    /// What a finished child left behind.
    public struct Output: Sendable {
        /// The exit code, or 128 plus the signal number if a signal ended the child, as a shell
        /// reports it: one number is enough for tests to compare, and a crash is never 0.
        public let status: Int32
        /// Everything the child wrote to standard output, decoded as UTF-8 (invalid bytes become
        /// U+FFFD rather than failing the test).
        public let stdout: String
        /// Everything the child wrote to standard error, decoded like `stdout`.
        public let stderr: String
    }

    /// Runs `executable` and blocks the calling thread until the child exits and has closed both
    /// output streams, or the timeout passes.
    ///
    /// This blocks; from async code the `async` overload, which runs this on a dedicated thread,
    /// is chosen automatically.
    ///
    /// - Parameters:
    ///   - executable: a path, or a name looked up in `PATH`.
    ///   - arguments: the arguments, without the program name.
    ///   - environment: the child's whole environment; `nil` inherits this process's.
    ///   - workingDirectory: the child's current directory; `nil` keeps this process's.
    ///   - input: written to the child's standard input, which is then closed; with `nil` the
    ///     child reads `/dev/null`, so it never waits on the terminal.
    ///   - timeout: after this the child's whole process group is sent `SIGKILL` and
    ///     ``HarnessError/timedOut(command:after:stdout:stderr:)`` is thrown once the child itself
    ///     is reaped; its descendants die a moment later. Because the child leads its own process
    ///     group, Ctrl-C on the test run does not reach it: the timeout is what bounds it.
    /// - Returns: the exit status and captured output; a non-zero status is not an error, since
    ///   tests often expect one.
    /// - Throws: ``HarnessError`` if the child cannot be started or times out.
    public static func run(
        _ executable: String,
        _ arguments: [String] = [],
        environment: [String: String]? = nil,
        workingDirectory: String? = nil,
        input: String? = nil,
        timeout: Duration = .seconds(60)
    ) throws -> Output {
        let deadline = ContinuousClock.now + timeout
        let stdoutPipe = try GNU.closeOnExecPipe()
        let stderrPipe = try GNU.closeOnExecPipe()
        let stdinPipe = try input.map { _ in try GNU.closeOnExecPipe() }

        let pid: pid_t
        do {
            pid = try spawnProcess(
                executable: executable, arguments: arguments, environment: environment,
                workingDirectory: workingDirectory, stdin: stdinPipe?.read,
                output: .pipes(stdout: stdoutPipe.write, stderr: stderrPipe.write),
                newProcessGroup: true)
        } catch {
            for fd in [stdoutPipe.read, stdoutPipe.write, stderrPipe.read, stderrPipe.write,
                       stdinPipe?.read, stdinPipe?.write].compactMap({ $0 }) {
                close(fd)
            }
            throw error
        }
        // Only the child may hold the write ends of its output pipes, or reading would never end.
        close(stdoutPipe.write)
        close(stderrPipe.write)
        if let stdinPipe { close(stdinPipe.read) }

        var streams = Streams(
            stdout: stdoutPipe.read, stderr: stderrPipe.read,
            stdin: stdinPipe?.write, pendingInput: Array((input ?? "").utf8))
        let finished = streams.pump(until: deadline)
        streams.closeAll()

        let command = ([executable] + arguments).joined(separator: " ")
        if finished, let status = waitForExit(pid, until: deadline) {
            return Output(status: shellStatus(status), stdout: streams.stdoutText, stderr: streams.stderrText)
        }
        // Kill the group, not only the child: grandchildren would otherwise keep running.
        kill(-pid, SIGKILL)
        _ = waitForExit(pid, until: .now + .seconds(10))
        throw HarnessError.timedOut(
            command: command, after: timeout, stdout: streams.stdoutText, stderr: streams.stderrText)
    }

    /// Runs `executable` like the blocking overload, on a dedicated thread so that the wait never
    /// occupies one of the cooperative pool's few threads.
    public static func run(
        _ executable: String,
        _ arguments: [String] = [],
        environment: [String: String]? = nil,
        workingDirectory: String? = nil,
        input: String? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> Output {
        try await onDedicatedThread {
            try run(executable, arguments, environment: environment, workingDirectory: workingDirectory,
                    input: input, timeout: timeout)
        }
    }
}

/// The parent's ends of a child's three standard streams, moved along with one `poll` loop.
private struct Streams {
    var stdout: Int32?
    var stderr: Int32?
    var stdin: Int32?
    var pendingInput: [UInt8]
    var inputOffset = 0
    var stdoutBytes: [UInt8] = []
    var stderrBytes: [UInt8] = []

    init(stdout: Int32, stderr: Int32, stdin: Int32?, pendingInput: [UInt8]) {
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin
        self.pendingInput = pendingInput
        if let stdin {
            // Non-blocking, so that a child which stops reading cannot block us while its output
            // fills up unread.
            _ = fcntl(stdin, F_SETFL, fcntl(stdin, F_GETFL) | O_NONBLOCK)
        }
        if pendingInput.isEmpty { closeInput() }
    }

    var stdoutText: String { String(decoding: stdoutBytes, as: UTF8.self) }
    var stderrText: String { String(decoding: stderrBytes, as: UTF8.self) }

    /// Moves data until both output streams reach end of file.
    ///
    /// - Returns: `false` if the deadline passed first.
    mutating func pump(until deadline: ContinuousClock.Instant) -> Bool {
        while stdout != nil || stderr != nil {
            let remaining = deadline - .now
            guard remaining > .zero else { return false }
            var fds: [pollfd] = []
            if let stdout { fds.append(pollfd(fd: stdout, events: Int16(POLLIN), revents: 0)) }
            if let stderr { fds.append(pollfd(fd: stderr, events: Int16(POLLIN), revents: 0)) }
            if let stdin { fds.append(pollfd(fd: stdin, events: Int16(POLLOUT), revents: 0)) }
            let milliseconds = remaining.components.seconds * 1000
                + remaining.components.attoseconds / 1_000_000_000_000_000 + 1
            let ready = poll(&fds, nfds_t(fds.count), Int32(min(milliseconds, 1000)))
            if ready < 0 && errno != EINTR { return false }
            for entry in fds where entry.revents != 0 {
                switch entry.fd {
                case stdout: Self.readChunk(from: &stdout, into: &stdoutBytes)
                case stderr: Self.readChunk(from: &stderr, into: &stderrBytes)
                default: writeInput()
                }
            }
        }
        return true
    }

    private static func readChunk(from fd: inout Int32?, into bytes: inout [UInt8]) {
        guard let descriptor = fd else { return }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count > 0 {
            bytes.append(contentsOf: buffer[..<count])
        } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
            close(descriptor)
            fd = nil
        }
    }

    /// Writes as much input as the pipe takes now.
    ///
    /// A child that exits without reading all its input makes `write` fail with `EPIPE` and
    /// raises `SIGPIPE`, which by default would kill the test process. The signal is blocked in
    /// this thread around the write and, if raised, consumed before unblocking; the signal is
    /// thread-directed, so this touches no other thread and no process-wide disposition.
    private mutating func writeInput() {
        guard let fd = stdin else { return }
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var previousMask = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previousMask)
        let written = pendingInput[inputOffset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let writeError = errno
        if written < 0 && writeError == EPIPE {
            var noWait = timespec()
            _ = sigtimedwait(&pipeSignal, nil, &noWait)
        }
        pthread_sigmask(SIG_SETMASK, &previousMask, nil)

        if written > 0 {
            inputOffset += written
            if inputOffset == pendingInput.count { closeInput() }
        } else if written < 0 && writeError != EAGAIN && writeError != EINTR {
            closeInput()
        }
    }

    /// Closing standard input is how the child learns the input is complete.
    private mutating func closeInput() {
        if let stdin { close(stdin) }
        stdin = nil
    }

    mutating func closeAll() {
        for fd in [stdout, stderr, stdin].compactMap({ $0 }) { close(fd) }
        stdout = nil
        stderr = nil
        stdin = nil
    }
}
