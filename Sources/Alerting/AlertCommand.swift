import Dispatch
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

    /// Runs the command once with `input` on its stdin. Its stdout is discarded; its stderr is the
    /// host's, so what it says lands in the host's log stream.
    ///
    /// - Returns: nil when it exited 0, else why not (never its arguments).
    func run(_ input: Data) -> String? {
        _ = ignoreSIGPIPE
        guard let program = Self.locate(arguments[0]) else { return "\(arguments[0]) not found on PATH" }
        let process = Process()
        process.executableURL = program
        process.arguments = Array(arguments.dropFirst())
        let stdin = Pipe()
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try process.run()
        } catch {
            return "cannot start \(program.path): \(error.localizedDescription)"
        }
        // A command that does not read its input must not hold the thread: the write fails (EPIPE) once it exits.
        try? stdin.fileHandleForWriting.write(contentsOf: input)
        try? stdin.fileHandleForWriting.close()
        if exited.wait(timeout: .now() + timeout.seconds) == .timedOut {
            process.terminate()
            if exited.wait(timeout: .now() + 2) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                exited.wait()
            }
            return "timed out after \(timeout) and was stopped"
        }
        switch process.terminationReason {
        case .exit where process.terminationStatus == 0: return nil
        case .exit: return "exited with status \(process.terminationStatus)"
        case .uncaughtSignal: return "killed by signal \(process.terminationStatus)"
        @unknown default: return "ended abnormally"
        }
    }

    /// `name` itself when it holds a `/`, else the first executable file of that name on `PATH`.
    static func locate(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> URL? {
        if name.contains("/") { return URL(fileURLWithPath: name) }
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return URL(fileURLWithPath: candidate) }
        }
        return nil
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
