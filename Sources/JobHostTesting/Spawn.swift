import Foundation
import Glibc

/// Where a spawned child's standard output and standard error go.
enum SpawnOutput {
    /// Both streams appended to one file, so a server's log keeps its messages in order.
    case logFile(String)
    /// Each stream into its own pipe write end, owned by the caller.
    case pipes(stdout: Int32, stderr: Int32)
}

/// Starts `executable` with `posix_spawnp` and returns its PID.
///
/// `posix_spawn` rather than `fork`: forking a multithreaded Swift process is only safe when
/// the child calls nothing but async-signal-safe functions before `exec`, which Swift code cannot
/// promise. And rather than Foundation's `Process`: we need the child's real PID, reaping under
/// our own control, and every inherited descriptor closed.
///
/// Tests run in parallel, so at any moment another thread may hold pipe ends that lack
/// `O_CLOEXEC`. A child that inherits one keeps that pipe open and the other test never sees EOF,
/// so every descriptor above 2 is closed in the child. Signal dispositions and the mask are reset
/// because ignored signals survive `exec`: a child must not inherit, say, an ignored `SIGPIPE`.
///
/// - Parameters:
///   - stdin: a descriptor to become the child's standard input, or `nil` for `/dev/null` so that a
///     child never reads the terminal the tests were started from.
///   - newProcessGroup: put the child at the head of its own process group, so that the whole tree
///     it starts (a compiler driver and its frontends, a shell and its pipeline) can be killed.
func spawnProcess(
    executable: String,
    arguments: [String],
    environment: [String: String]?,
    workingDirectory: String? = nil,
    stdin: Int32?,
    output: SpawnOutput,
    newProcessGroup: Bool
) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }

    if let stdin {
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
    } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    switch output {
    case .logFile(let path):
        posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    case .pipes(let stdout, let stderr):
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
    }
    let closeFromResult = GNU.addCloseFrom(&actions, 3)
    guard closeFromResult == 0 else {
        throw HarnessError.systemCall("posix_spawn_file_actions_addclosefrom_np", errno: closeFromResult)
    }
    if let workingDirectory {
        let chdirResult = GNU.addChdir(&actions, workingDirectory)
        guard chdirResult == 0 else {
            throw HarnessError.systemCall("posix_spawn_file_actions_addchdir_np", errno: chdirResult)
        }
    }

    var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
    if newProcessGroup {
        flags |= POSIX_SPAWN_SETPGROUP
        posix_spawnattr_setpgroup(&attributes, 0)
    }
    posix_spawnattr_setflags(&attributes, Int16(flags))
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)

    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { variables in
        variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
    }
    defer { envp?.forEach { free($0) } }

    var pid: pid_t = 0
    let result = argv.withUnsafeBufferPointer { argvBuffer in
        if let envp {
            return envp.withUnsafeBufferPointer { envBuffer in
                posix_spawnp(&pid, executable, &actions, &attributes, argvBuffer.baseAddress!, envBuffer.baseAddress!)
            }
        }
        return posix_spawnp(&pid, executable, &actions, &attributes, argvBuffer.baseAddress!, environ)
    }
    guard result == 0 else {
        throw HarnessError.launchFailed(executable: executable, errno: result)
    }
    return pid
}

/// glibc functions looked up at run time because Swift's Glibc module is built without
/// `_GNU_SOURCE` and so does not declare them. All exist since glibc 2.34 (Debian 12 has 2.36); on
/// an older libc the lookup fails and the harness reports an error instead of silently leaking
/// descriptors into children.
enum GNU {
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias Chdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

    private static let closeFrom: CloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    private static let chdir: Chdir? = symbol("posix_spawn_file_actions_addchdir_np")
    private static let pipe2: Pipe2? = symbol("pipe2")

    /// `posix_spawn_file_actions_addclosefrom_np`: close every descriptor from `lowest` up.
    static func addCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ lowest: Int32) -> Int32 {
        closeFrom.map { $0(&actions, lowest) } ?? ENOSYS
    }

    /// `posix_spawn_file_actions_addchdir_np`: change directory in the child before `exec`.
    static func addChdir(_ actions: inout posix_spawn_file_actions_t, _ path: String) -> Int32 {
        chdir.map { $0(&actions, path) } ?? ENOSYS
    }

    /// A pipe whose ends are close-on-exec from the start: setting the flag afterwards with
    /// `fcntl` would leave a moment in which another thread's child could inherit them.
    static func closeOnExecPipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard let pipe2 else { throw HarnessError.systemCall("pipe2 (not in this libc)", errno: ENOSYS) }
        guard pipe2(&fds, O_CLOEXEC) == 0 else { throw HarnessError.systemCall("pipe2", errno: errno) }
        return (fds[0], fds[1])
    }

    private static func symbol<T>(_ name: String) -> T? {
        guard let address = dlsym(dlopen(nil, RTLD_NOW), name) else { return nil }
        return unsafeBitCast(address, to: T.self)
    }
}

/// How a reaped child ended, in the shell's convention: the exit code, or 128 plus the number of
/// the signal that killed it.
func shellStatus(_ waitStatus: Int32) -> Int32 {
    let signal = waitStatus & 0x7f
    return signal == 0 ? (waitStatus >> 8) & 0xff : 128 + signal
}

/// Reaps `pid` if it has exited, without blocking.
///
/// - Returns: the raw wait status once the child has exited, `nil` while it is still running.
///   A child that someone else already reaped (`ECHILD`, e.g. with `SIGCHLD` ignored) counts as
///   exited once the kernel no longer knows it.
func reapIfExited(_ pid: pid_t) -> Int32? {
    while true {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { return status }
        if result == 0 { return nil }
        if errno == EINTR { continue }
        return isProcessAlive(pid) ? nil : 0
    }
}

/// Polls `reapIfExited` until the child is gone or `deadline` passes.
///
/// Polling instead of a blocking `waitpid` keeps the wait bounded; the interval grows so that a
/// quick exit is noticed within a millisecond while a slow one costs little CPU.
func waitForExit(_ pid: pid_t, until deadline: ContinuousClock.Instant) -> Int32? {
    var interval = Duration.milliseconds(1)
    while true {
        if let status = reapIfExited(pid) { return status }
        if ContinuousClock.now >= deadline { return nil }
        sleepBlocking(interval)
        interval = min(interval * 2, .milliseconds(20))
    }
}

/// Sleeps the calling thread: only for harness code that already runs off the cooperative pool,
/// or for waits short enough not to matter.
func sleepBlocking(_ duration: Duration) {
    let (seconds, attoseconds) = duration.components
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR {
        request = remaining
    }
}

/// Runs blocking work on a thread of its own and suspends the caller until it finishes.
///
/// Swift's cooperative pool has only as many threads as cores (two here). Parking one of them in
/// `waitpid`, `poll` or `nanosleep` for seconds stalls every other test, so blocking harness calls
/// made from async code come through here.
public func onDedicatedThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(with: Result { try work() })
        }.start()
    }
}

/// Whether a process with this PID exists and has not yet exited.
///
/// A zombie, one that has exited but not yet been reaped, counts as gone: it runs no code, holds
/// no port and will never answer. `EPERM` from `kill` means the process exists but belongs to
/// another user, as a postmaster run as `postgres` does when the tests are not root.
/// Linux only: the zombie state is read from `/proc`.
///
/// - Parameter pid: a positive PID; zero and negative values address process groups with `kill`
///   and are reported as not alive.
public func isProcessAlive(_ pid: Int32) -> Bool {
    guard pid > 0 else { return false }
    guard kill(pid, 0) == 0 || errno == EPERM else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let afterName = stat.lastIndex(of: ")")
    else { return access("/proc/\(pid)", F_OK) == 0 }
    // The command name in parentheses may itself contain spaces or ')', so the state is read
    // after the last ')'.
    let state = stat[stat.index(after: afterName)...].drop(while: { $0 == " " }).first
    return state != "Z"
}

