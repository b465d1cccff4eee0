import Foundation
import Glibc
import Synchronization

/// A PostgreSQL server that can crash (`pg_ctl -m immediate`: every server process quits at once,
/// with no checkpoint) and start again on the same port and data, which it recovers from its WAL:
/// for tests of a host that must survive its database restarting.
public final class DurablePostgresServer: Sendable {
    public let port: Int
    public let directory: TemporaryDirectory
    private let bin: String
    private let current = Mutex<BackgroundProcess?>(nil)

    /// The running server's first process (the postmaster, or what starts it as the server's user);
    /// nil while it is down.
    public var pid: Int32? { current.withLock { $0?.pid } }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    public static func start() async throws -> DurablePostgresServer {
        try await Loopback.startOnAFreePort { port in
            try await onDedicatedThread {
                let bin = try PostgresInstallation.binDirectory.get()
                let template = try PostgresTemplate.dataDirectory(bin: bin)
                let directory = try TemporaryDirectory.create()
                try ServerUser.giveOwnership(of: directory.path)
                let copy = try ChildProcess.run("cp", ["-a", template, directory.path + "/data"], timeout: .seconds(60))
                guard copy.status == 0 else {
                    throw HarnessError.commandFailed(command: "cp -a \(template)", status: copy.status, stderr: copy.stderr)
                }
                return DurablePostgresServer(port: port, directory: directory, bin: bin)
            }
        } start: { try await $0.start() }
    }

    private init(port: Int, directory: TemporaryDirectory, bin: String) {
        self.port = port
        self.directory = directory
        self.bin = bin
    }

    deinit {
        current.withLock { $0?.send(SIGKILL) }
        try? directory.remove()
    }

    /// Starts the server (again) and waits until it accepts connections.
    public func start(timeout: Duration = .seconds(30)) async throws {
        let (executable, arguments) = ServerUser.command(bin + "/postgres", [
            "-D", directory.path + "/data", "-p", String(port), "-k", directory.path,
            "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=100",
        ])
        let process = try BackgroundProcess(executable, arguments, logPath: directory.path + "/postgres.log")
        current.withLock { $0 = process }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let probe = try await ChildProcess.run(
                bin + "/pg_isready", ["-h", "127.0.0.1", "-p", String(port), "-q"], timeout: .seconds(5))
            if probe.status == 0 { return }
            if process.exitStatus != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError.serverFailedToStart(
            server: "postgres", reason: "not accepting connections on port \(port)", logTail: String(process.log.suffix(2000)))
    }

    /// Stops every server process at once, as `pg_ctl -m immediate` does (SIGQUIT to the postmaster).
    public func crash() async {
        guard let process = current.withLock({ $0 }) else { return }
        process.send(SIGQUIT)
        _ = await process.waitUntilExit(timeout: .seconds(20))
    }
}
