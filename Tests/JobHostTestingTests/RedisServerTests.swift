import Foundation
import JobHostTesting
import Testing

@Suite struct RedisServerTests {
    @Test func startsPrivateServerThatStopsCleanly() async throws {
        let server = try await RedisServer.start()
        #expect(server.url == "redis://127.0.0.1:\(server.port)")
        #expect(isProcessAlive(server.pid))

        #expect(try LoopbackClient.exchange(port: server.port, "PING\r\n") == "+PONG\r\n")

        let set = try await redisCLI(server, "SET", "greeting", "hello")
        #expect(set.status == 0)
        #expect(set.stdout == "OK\n")
        let get = try await redisCLI(server, "GET", "greeting")
        #expect(get.stdout == "hello\n")

        // Ours, not the system's: it runs in our directory, with persistence off.
        let dir = try await redisCLI(server, "CONFIG", "GET", "dir")
        #expect(dir.stdout == "dir\n\(server.directory.path)\n")
        let save = try await redisCLI(server, "CONFIG", "GET", "save")
        #expect(save.stdout == "save\n\n")
        let pidInfo = try await redisCLI(server, "INFO", "server")
        #expect(pidInfo.stdout.contains("process_id:\(server.pid)\r\n"))

        server.stop()
        #expect(!isProcessAlive(server.pid))
        #expect(LoopbackClient.isRefused(port: server.port))
        #expect(!FileManager.default.fileExists(atPath: server.directory.path))

        server.stop()  // a second stop does nothing
    }

    @Test func twoServersAtOnceAreSeparate() async throws {
        async let first = RedisServer.start()
        async let second = RedisServer.start()
        let (a, b) = try await (first, second)
        #expect(a.port != b.port)
        #expect(a.pid != b.pid)
        #expect(a.directory != b.directory)

        _ = try await redisCLI(a, "SET", "owner", "a")
        _ = try await redisCLI(b, "SET", "owner", "b")
        #expect(try await redisCLI(a, "GET", "owner").stdout == "a\n")
        #expect(try await redisCLI(b, "GET", "owner").stdout == "b\n")

        a.stop()
        b.stop()
        #expect(!isProcessAlive(a.pid))
        #expect(!isProcessAlive(b.pid))
    }

    @Test func releasedServerIsStopped() async throws {
        var server: RedisServer? = try await RedisServer.start()
        let pid = try #require(server?.pid)
        let directory = try #require(server?.directory)
        #expect(isProcessAlive(pid))
        server = nil
        #expect(!isProcessAlive(pid))
        #expect(!FileManager.default.fileExists(atPath: directory.path))
    }

    @Test func withRedisStopsTheServerEvenWhenTheBodyThrows() async throws {
        struct Failure: Error {}
        var seen: (pid: Int32, directory: URL)?
        await #expect(throws: Failure.self) {
            try await withRedis { server in
                seen = (server.pid, server.directory)
                #expect(try LoopbackClient.exchange(port: server.port, "PING\r\n") == "+PONG\r\n")
                throw Failure()
            }
        }
        let (pid, directory) = try #require(seen)
        #expect(!isProcessAlive(pid))
        #expect(!FileManager.default.fileExists(atPath: directory.path))

        let port = try await withRedis { server in server.port }
        #expect(LoopbackClient.isRefused(port: port))
    }

    private func redisCLI(_ server: RedisServer, _ arguments: String...) async throws -> ChildProcess.Output {
        try await ChildProcess.run("redis-cli", ["-p", String(server.port)] + arguments, timeout: .seconds(10))
    }
}
