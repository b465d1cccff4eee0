import Foundation
import Glibc
@testable import JobHostTesting
import Synchronization
import Testing

/// The start-up and shutdown machinery shared by both servers, driven with stand-in processes
/// so that each failure path can be provoked on purpose.
@Suite struct ServerLaunchTests {
    @Test func serverThatExitsIsReportedWithTheEndOfItsLog() throws {
        let directory = Mutex<String?>(nil)
        #expect {
            try ServerProcess.launch(
                name: "stand-in", logName: "stand-in.log", stopSignal: SIGTERM, timeout: .seconds(10),
                spawn: { _, dir, log in
                    directory.withLock { $0 = dir.path }
                    return try spawnProcess(
                        executable: "sh", arguments: ["-c", "echo first line; echo the-real-reason >&2; exit 3"],
                        environment: nil, stdin: nil, output: .logFile(log), newProcessGroup: false)
                },
                isReady: { _, _, _ in false })
        } throws: { error in
            guard case HarnessError.serverFailedToStart(let name, let reason, let logTail) = error else { return false }
            return name == "stand-in" && reason.contains("exited with status 3")
                && logTail.contains("the-real-reason") && "\(error)".contains("the-real-reason")
        }
        let path = try #require(directory.withLock { $0 })
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func serverNeverReadyIsKilledAfterTheTimeout() throws {
        let pid = Mutex<pid_t>(0)
        #expect {
            try ServerProcess.launch(
                name: "stand-in", logName: "stand-in.log", stopSignal: SIGTERM, timeout: .milliseconds(300),
                spawn: { _, _, log in
                    let spawned = try spawnProcess(
                        executable: "sleep", arguments: ["60"],
                        environment: nil, stdin: nil, output: .logFile(log), newProcessGroup: false)
                    pid.withLock { $0 = spawned }
                    return spawned
                },
                isReady: { _, _, _ in false })
        } throws: { error in
            guard case HarnessError.serverFailedToStart(_, let reason, _) = error else { return false }
            return reason.contains("not ready")
        }
        #expect(!isProcessAlive(pid.withLock { $0 }), "the stand-in, which would sleep a minute, was killed")
    }

    /// A real `redis-server` pointed at a port someone else holds fails to bind; the harness must
    /// see that in its log and try again on another port.
    @Test func portTakenMeanwhileIsRetriedOnAnotherPort() throws {
        let occupied = try ListeningSocket()
        defer { occupied.close() }
        let ports = Mutex<[Int]>([])
        let (process, port) = try ServerProcess.launch(
            name: "redis-server", logName: "redis.log", stopSignal: SIGTERM, timeout: .seconds(20),
            spawn: { port, directory, log in
                let attempt = ports.withLock { ports in
                    ports.append(port)
                    return ports.count
                }
                let chosen = attempt == 1 ? occupied.port : port
                return try spawnProcess(
                    executable: "redis-server",
                    arguments: ["--port", String(chosen), "--bind", "127.0.0.1", "--save", "", "--dir", directory.path],
                    environment: nil, stdin: nil, output: .logFile(log), newProcessGroup: false)
            },
            isReady: { _, port, _ in (try? LoopbackClient.exchange(port: port, "PING\r\n")) == "+PONG\r\n" })
        defer { process.stop() }
        #expect(ports.withLock { $0.count } == 2)
        #expect(port == ports.withLock { $0.last })
        #expect(port != occupied.port)
    }

    /// Asked to stop first (it notes the signal and goes on), then killed.
    @Test func serverThatIgnoresItsStopSignalIsKilled() throws {
        let directory = try TemporaryDirectory.create()
        // The log lives outside the server's directory, which `stop` removes.
        let logs = try TemporaryDirectory.create()
        defer { try? logs.remove() }
        let log = logs.path + "/log"
        let pid = try spawnProcess(
            executable: "sh", arguments: ["-c", "trap 'echo got TERM' TERM; echo ready; while :; do sleep 0.05; done"],
            environment: nil, stdin: nil, output: .logFile(log), newProcessGroup: false)
        let process = ServerProcess(pid: pid, directory: directory, stopSignal: SIGTERM)
        while (try? String(contentsOfFile: log, encoding: .utf8)) != "ready\n" {
            sleepBlocking(.milliseconds(5))
        }
        process.stop(timeout: .milliseconds(200))
        #expect(try String(contentsOfFile: log, encoding: .utf8).contains("got TERM"), "the stop signal came first")
        #expect(!isProcessAlive(pid))
        #expect(!FileManager.default.fileExists(atPath: directory.path))
    }
}

/// A socket listening on a kernel-chosen loopback port, to make that port unavailable.
private struct ListeningSocket {
    let fd: Int32
    let port: Int

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = self.fd
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw HarnessError.systemCall("listen", errno: errno) }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() {
        _ = Glibc.close(fd)
    }
}
