import Foundation
import Glibc

/// A private Redis server for one test: its own port on 127.0.0.1, its own directory, no
/// persistence, never the system's service.
///
/// Stop it with ``stop()`` or let ``withRedis(isolation:_:)`` do it. As a safety net a server is
/// also stopped when its last reference goes away, and any still running when the test process
/// exits normally are stopped then.
///
/// Needs `redis-server` on `PATH` (Debian package `redis-server`).
public final class RedisServer: Sendable {
    /// The TCP port the server listens on.
    public let port: Int
    /// The server's process ID; the server is a direct child of the test process.
    public let pid: Int32
    /// The server's working directory (`--dir`), which also holds its log, `redis.log`. Removed
    /// when the server stops.
    public let directory: URL
    let process: ServerProcess

    /// The address the server listens on: loopback only, so tests never expose it.
    public var host: String { "127.0.0.1" }

    /// A connection URL for clients, `redis://127.0.0.1:PORT`.
    public var url: String { "redis://\(host):\(port)" }

    private init(process: ServerProcess, port: Int) {
        self.process = process
        self.port = port
        self.pid = process.pid
        self.directory = process.directory.url
    }

    /// Starts a server and returns once it answers `PING` (typically within a few milliseconds
    /// after `exec`).
    ///
    /// The blocking work (spawning, polling for readiness) runs on a dedicated thread, not on the
    /// cooperative pool.
    ///
    /// - Parameter timeout: how long the server may take to become ready.
    /// - Throws: ``HarnessError/serverFailedToStart(server:reason:logTail:)`` with the end of the
    ///   server's log, or ``HarnessError/launchFailed(executable:errno:)`` if `redis-server` is
    ///   missing.
    public static func start(timeout: Duration = .seconds(30)) async throws -> RedisServer {
        try await onDedicatedThread { try startBlocking(timeout: timeout) }
    }

    private static func startBlocking(timeout: Duration) throws -> RedisServer {
        let (process, port) = try ServerProcess.launch(
            name: "redis-server", logName: "redis.log", stopSignal: SIGTERM, timeout: timeout,
            spawn: { port, directory, logPath in
                try spawnProcess(
                    executable: "redis-server",
                    arguments: [
                        "--port", String(port), "--bind", "127.0.0.1",
                        "--save", "", "--appendonly", "no",
                        "--dir", directory.path, "--daemonize", "no",
                        // Redis acts on SIGTERM in its timer, which runs `hz` times a second: at
                        // the default 10 every stop took ~100 ms, at 100 it takes ~10 ms, for
                        // about 1% of a core while idle.
                        "--hz", "100",
                    ],
                    environment: nil, stdin: nil, output: .logFile(logPath),
                    // Same process group as the tests: Ctrl-C on `swift test` stops servers too.
                    newProcessGroup: false)
            },
            isReady: { pid, port, _ in answersAsProcess(pid, onPort: port) })
        return RedisServer(process: process, port: port)
    }

    /// Whether the Redis server on `port` answers `PING` and is the process `pid`.
    ///
    /// The identity check matters: if another process took the port between choosing and binding
    /// it, its server could answer while ours is about to fail with "Address already in use".
    /// `INFO server` reports the answering server's `process_id`.
    private static func answersAsProcess(_ pid: pid_t, onPort port: Int) -> Bool {
        let reply = Loopback.exchange(port: port, request: "PING\r\nINFO server\r\n") {
            PingInfoReply(parsing: $0) != .incomplete
        }
        guard let reply, case .info(let info) = PingInfoReply(parsing: reply) else { return false }
        return info.contains("\r\nprocess_id:\(pid)\r\n")
    }

    /// Stops the server (`SIGTERM`, then `SIGKILL` after ten seconds) and removes its directory.
    /// Calling it again does nothing.
    ///
    /// Blocks the calling thread until the process has exited, which takes milliseconds, so it is
    /// fine from async code and from `defer`; it has no `async` overload so that `defer` can
    /// call it.
    public func stop() {
        process.stop()
    }
}

/// Starts a private Redis server, passes it to `body`, and stops it afterwards, also when `body`
/// throws.
///
/// - Parameters:
///   - isolation: the caller's actor, inherited so that `body` may touch the caller's state
///     without crossing isolation.
///   - body: the test's use of the server.
/// - Returns: whatever `body` returns.
public func withRedis<Result>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisServer) async throws -> Result
) async throws -> Result {
    let server = try await RedisServer.start()
    do {
        let result = try await body(server)
        await stopOnDedicatedThread(server.process)
        return result
    } catch {
        await stopOnDedicatedThread(server.process)
        throw error
    }
}

/// The reply to a pipelined `PING` and `INFO server`: `+PONG\r\n` followed by a RESP bulk string
/// `$<length>\r\n<text>\r\n`.
private enum PingInfoReply: Equatable {
    case incomplete
    /// Anything else, such as `-LOADING` while a server starts up.
    case unexpected
    case info(String)

    init(parsing reply: [UInt8]) {
        let pong = Array("+PONG\r\n".utf8)
        guard reply.count >= pong.count else {
            self = pong.starts(with: reply) ? .incomplete : .unexpected
            return
        }
        guard reply.starts(with: pong) else {
            self = .unexpected
            return
        }
        let bulk = reply[pong.count...]
        guard let headerEnd = bulk.firstIndex(of: UInt8(ascii: "\n")) else {
            self = .incomplete
            return
        }
        let header = String(decoding: bulk[..<headerEnd], as: UTF8.self)
        guard header.hasPrefix("$"), header.hasSuffix("\r"),
              let length = Int(header.dropFirst().dropLast()), length >= 0
        else {
            self = .unexpected
            return
        }
        let textStart = headerEnd + 1
        guard reply.count >= textStart + length + 2 else {
            self = .incomplete
            return
        }
        self = .info(String(decoding: reply[textStart..<(textStart + length)], as: UTF8.self))
    }
}
