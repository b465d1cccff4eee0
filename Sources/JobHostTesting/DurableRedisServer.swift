import Foundation
import Glibc
import Synchronization

/// A redis-server that writes every command to its append-only file before answering
/// (`appendonly yes`, `appendfsync always`) and can be killed and started again on the same port
/// and data: for tests of a host that must survive its Redis restarting.
public final class DurableRedisServer: Sendable {
    public let port: Int
    public let directory: TemporaryDirectory
    private let current = Mutex<BackgroundProcess?>(nil)

    public var url: String { "redis://127.0.0.1:\(port)" }

    public static func start() async throws -> DurableRedisServer {
        try await Loopback.startOnAFreePort { port in
            DurableRedisServer(port: port, directory: try TemporaryDirectory.create())
        } start: { try await $0.start() }
    }

    private init(port: Int, directory: TemporaryDirectory) {
        self.port = port
        self.directory = directory
    }

    deinit {
        current.withLock { $0?.send(SIGKILL) }
        try? directory.remove()
    }

    /// Starts the server (again) and waits until it answers `PING`.
    public func start(timeout: Duration = .seconds(20)) async throws {
        let process = try BackgroundProcess(
            "redis-server",
            [
                "--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path, "--save", "",
                "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--hz", "100",
            ],
            logPath: directory.path + "/redis.log")
        current.withLock { $0 = process }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let reply = Loopback.exchange(port: port, request: "PING\r\n", isComplete: { $0.count >= 7 }),
                String(decoding: reply, as: UTF8.self).hasPrefix("+PONG")
            {
                return
            }
            if process.exitStatus != nil { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError.serverFailedToStart(
            server: "redis-server", reason: "not answering on port \(port)", logTail: String(process.log.suffix(2000)))
    }

    /// Kills the server with `signal` (SIGKILL: a crash) and waits until it is gone.
    public func kill(_ signal: Int32 = SIGKILL) async {
        guard let process = current.withLock({ $0 }) else { return }
        process.send(signal)
        _ = await process.waitUntilExit(timeout: .seconds(10))
    }
}
