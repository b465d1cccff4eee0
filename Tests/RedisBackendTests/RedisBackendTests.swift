import Backend
import Foundation
import Glibc
import JobHostTesting
import Testing

@testable import RedisBackend

/// What only the Redis backend promises: its key layout, its scripts, the producer wire format, and
/// how it behaves when Redis holds foreign data or goes away.
@Suite struct RedisBackendTests {
    @Test func everyKeyOfAQueueSharesItsHashTag() async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            try await onThread {
                let queue = "orders"
                _ = try backend.enqueue([
                    sampleJob(queue, 1), sampleJob(queue, 2), sampleJob(queue, 3), sampleJob(queue, 4),
                    sampleJob(queue, 5, uniqueKey: "order:5"), sampleJob(queue, 6, delay: .seconds(3600)),
                ])
                let leased = try backend.fetch(queue: queue, limit: 3, lease: .seconds(60))
                _ = try backend.settle([
                    (leased[0].lease, .done(retention: .seconds(3600))), (leased[1].lease, .dead(error: "x")),
                    (leased[2].lease, .retry(after: .seconds(3600), error: "y")),
                ])
                _ = try backend.fetch(queue: queue, limit: 1, lease: .seconds(60))
                _ = try backend.enqueue([sampleJob("other", 1)])
            }
            let keys = try await redisCLI(server, ["--scan"]).split(separator: "\n").map(String.init)
            let orders = keys.filter { !$0.hasPrefix("{jh:other}:") }
            #expect(orders.allSatisfy { $0.hasPrefix("{jh:orders}:") }, "\(keys)")
            let kinds = Set(orders.map { $0.dropFirst("{jh:orders}:".count).prefix { $0 != ":" } })
            // The dead job started its handler's run streak and left an entry in the run-alert outbox.
            #expect(kinds == ["job", "ready", "leases", "scheduled", "dead", "done", "stats", "unique", "wake", "run_streaks", "run_alerts"])
            #expect(keys.filter { $0.hasPrefix("{jh:other}:") }.sorted().count == 3)  // job, ready, wake
        }
    }

    /// Redis's clock cannot be skewed from a test, so this reads the scripts: every one that deals in
    /// time reads `TIME`, and none takes "now" from its caller.
    @Test func scriptsTakeTimeFromRedisNeverFromArguments() {
        let timeless: Set = ["list", "discard_dead", "release_host", "cancel", "search"]
        for script in RedisScripts.all {
            #expect(script.source.contains("now_ms()") == !timeless.contains(script.name), "\(script.name)")
            if script.source.contains("now_ms()") {
                #expect(script.source.contains("local t = redis.call('TIME')"), "\(script.name)")
            }
            #expect(!script.source.contains("now = tonumber(ARGV"), "\(script.name)")
            #expect(!script.source.contains("now = ARGV"), "\(script.name)")
        }
    }

    @Test func leaseDeadlinesAndDueTimesAreOnRedisClock() async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            func redisNow() async throws -> Int {
                let time = try await redisCLI(server, ["TIME"]).split(separator: "\n").compactMap { Int($0) }
                return time[0] * 1000 + time[1] / 1000
            }
            // Bracket the calls with Redis's own clock: the times must fall between, however slow the machine.
            let before = try await redisNow()
            let leased = try await onThread { () throws -> String in
                _ = try backend.enqueue([sampleJob("q", 1), sampleJob("q", 2, delay: .seconds(100))])
                return try backend.fetch(queue: "q", limit: 1, lease: .seconds(50))[0].id
            }
            let after = try await redisNow()
            let score = try await redisCLI(server, ["ZSCORE", "{jh:q}:leases", leased])
            let deadline = try #require(Int(score.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect((before + 50_000)...(after + 50_000) ~= deadline)
            let due = try await redisCLI(server, ["ZRANGE", "{jh:q}:scheduled", "0", "0", "WITHSCORES"]).split(separator: "\n")
            let dueAt = try #require(Int(due[1]))
            #expect((before + 100_000)...(after + 100_000) ~= dueAt)
        }
    }

    @Test func scriptHashesMatchRedisAndUnknownScriptsAreLoaded() async throws {
        try await withRedis { server in
            for script in RedisScripts.all {
                let sha = try await redisCLI(server, ["SCRIPT", "LOAD", script.source]).trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(sha == script.sha, "\(script.name)")
            }
            let backend = makeBackend(server)
            _ = try await redisCLI(server, ["SCRIPT", "FLUSH"])
            let fetched = try await onThread { () throws -> Int in
                _ = try backend.enqueue([sampleJob("q")])
                return try backend.fetch(queue: "q", limit: 10, lease: .seconds(10)).count
            }
            #expect(fetched == 1)
        }
    }

    /// docs/redis.md promises that a producer in any language can enqueue with a few plain commands.
    /// This one is Python, speaking RESP over a bare socket, doing exactly what the document shows.
    @Test func producerInAnotherLanguageEnqueuesWithPlainCommands() async throws {
        try await withRedis { server in
            let backend = makeBackend(server, prefix: "jobhost")
            let id = JobID.generate()
            let producer = """
                import socket, sys, time
                port, job_id = int(sys.argv[1]), sys.argv[2]
                base = "{jobhost:emails}"
                def command(*args):
                    out = b"*%d\\r\\n" % len(args)
                    for arg in args:
                        arg = str(arg).encode()
                        out += b"$%d\\r\\n%s\\r\\n" % (len(arg), arg)
                    return out
                commands = [
                    command("MULTI"),
                    command("HSET", base + ":job:" + job_id, "id", job_id, "queue", "emails", "handler", "mailer.send",
                            "payload", '{"to":"ada@example.com"}', "max_attempts", 5, "enqueued_at", int(time.time() * 1000)),
                    command("LPUSH", base + ":ready", job_id),
                    command("LPUSH", base + ":wake", 1),
                    command("LTRIM", base + ":wake", 0, 9),
                    command("EXEC"),
                    command("QUIT"),
                ]
                connection = socket.create_connection(("127.0.0.1", port))
                connection.sendall(b"".join(commands))
                replies = b""
                while True:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    replies += chunk
                sys.stdout.write(replies.decode())
                """
            // A wait of an hour: returning at all shows the producer's wake-up hint woke it.
            let waiter = Task.detached { try await onThread { try backend.waitForWork(queue: "emails", timeout: .seconds(3600)) } }
            try await Task.sleep(for: .milliseconds(200))
            let output = try await ChildProcess.run("python3", ["-c", producer, String(server.port), id], timeout: .seconds(20))
            #expect(output.status == 0, "\(output.stderr)")
            #expect(!output.stdout.contains("-"), "an error reply: \(output.stdout)")
            try await withinBound("the producer's wake-up hint to wake a waiting host") { try await waiter.value }

            let job = try #require(try await onThread { try backend.fetch(queue: "emails", limit: 10, lease: .seconds(60)) }.first)
            #expect(job.id == id)
            #expect(job.handler == "mailer.send")
            #expect(job.payload == Data(#"{"to":"ada@example.com"}"#.utf8))
            #expect(job.attempt == 1)
            #expect(job.maxAttempts == 5)
            #expect(abs(job.enqueuedAt.timeIntervalSinceNow) < 60)
            #expect(job.timeout == nil)
            let done = try await onThread { try backend.settle([(job.lease, .done(retention: .seconds(60)))]) }
            #expect(done == [true])
        }
    }

    @Test func keyOfTheWrongTypeIsReportedNotFatal() async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            _ = try await redisCLI(server, ["SET", "{jh:q}:ready", "x"])
            let calls: [@Sendable () throws -> Void] = [
                { _ = try backend.fetch(queue: "q", limit: 10, lease: .seconds(10)) },
                { _ = try backend.enqueue([sampleJob("q")]) },
                { _ = try backend.stats(queue: "q") },
                { _ = try backend.list(queue: "q", state: .ready, offset: 0, limit: 10) },
            ]
            for call in calls {
                let error = try await failure(of: call)
                let thrown = try #require(error)
                #expect(thrown.code == .corrupt)
                #expect(thrown.message.contains("wrong type"), "\(thrown.message)")
            }
            // A job is never left half-moved: a settle that would write to a foreign key changes
            // nothing, and works once the key is gone.
            let leased = try await onThread { () throws -> LeasedJob in
                _ = try backend.enqueue([sampleJob("p")])
                return try backend.fetch(queue: "p", limit: 1, lease: .seconds(60))[0]
            }
            _ = try await redisCLI(server, ["SET", "{jh:p}:done", "x"])
            let error = try await failure(of: { _ = try backend.settle([(leased.lease, .done(retention: .seconds(60)))]) })
            #expect(error?.code == .corrupt)
            #expect(error?.message.contains("{jh:p}:done holds a string, not a zset") == true, "\(String(describing: error))")
            #expect(try await onThread { try backend.job(queue: "p", id: leased.id)?.state } == .running)
            #expect(try await redisCLI(server, ["ZSCORE", "{jh:p}:leases", leased.id]) != "\n")
            _ = try await redisCLI(server, ["DEL", "{jh:p}:done"])
            #expect(try await onThread { try backend.settle([(leased.lease, .done(retention: .seconds(60)))]) } == [true])

            // The backend stays usable for other queues.
            let count = try await onThread { () throws -> Int in
                _ = try backend.enqueue([sampleJob("fine")])
                return try backend.fetch(queue: "fine", limit: 10, lease: .seconds(10)).count
            }
            #expect(count == 1)
        }
    }

    @Test func incompleteJobsGoToDeadWithAReason() async throws {
        try await withRedis { server in
            let backend = makeBackend(server)
            let good = sampleJob("q", 1)
            _ = try await onThread { try backend.enqueue([good]) }
            // A hash without a handler, an id without any hash, and a key that is not a hash at all.
            _ = try await redisCLI(server, ["HSET", "{jh:q}:job:half", "id", "half", "payload", "{}", "max_attempts", "3"])
            _ = try await redisCLI(server, ["SET", "{jh:q}:job:foreign", "not a hash"])
            _ = try await redisCLI(server, ["LPUSH", "{jh:q}:ready", "half", "ghost", "foreign"])

            let (fetched, dead, stats) = try await onThread { () throws -> ([String], [JobInfo], QueueStats) in
                let fetched = try backend.fetch(queue: "q", limit: 10, lease: .seconds(60)).map(\.id)
                return (fetched, try backend.list(queue: "q", state: .dead, offset: 0, limit: 10), try backend.stats(queue: "q"))
            }
            #expect(fetched == [good.id])
            #expect(stats.dead == 3)
            #expect(stats.ready == 0)
            let byID = Dictionary(uniqueKeysWithValues: dead.map { ($0.id, $0) })
            #expect(byID["half"]?.lastError == "job hash missing fields: handler")
            #expect(byID["half"]?.payload == "{}")
            #expect(byID["ghost"]?.lastError == "job hash missing fields: handler, payload, max_attempts")
            #expect(byID["foreign"]?.lastError?.contains("not a hash") == true)
            #expect(try await redisCLI(server, ["GET", "{jh:q}:job:foreign"]) == "not a hash\n")

            // An operator can clear them all.
            let discarded = try await onThread { try ["half", "ghost", "foreign"].map { try backend.discardDead(queue: "q", id: $0) } }
            #expect(discarded == [true, true, true])
            #expect(try await onThread { try backend.stats(queue: "q").dead } == 0)
        }
    }

    @Test func stoppedServerGivesUnavailablePromptly() async throws {
        let server = try await RedisServer.start()
        _ = try await redisCLI(server, ["CONFIG", "SET", "requirepass", "s3cret-pw"])
        let url = "redis://:s3cret-pw@127.0.0.1:\(server.port)/2"
        let backend = makeBackend(server, url: url, commandTimeout: .seconds(1))
        let leased = try await onThread { () throws -> [LeasedJob] in
            _ = try backend.enqueue([sampleJob("q", 1), sampleJob("q", 2)])
            return try backend.fetch(queue: "q", limit: 1, lease: .seconds(60))
        }
        #expect(try await redisCLI(server, ["-a", "s3cret-pw", "--no-auth-warning", "--scan"], database: 2).contains("{jh:q}:ready"))
        server.stop()

        let calls: [@Sendable () throws -> Void] = [
            { try backend.ping() },
            { _ = try backend.fetch(queue: "q", limit: 10, lease: .seconds(10)) },
            { _ = try backend.settle([(leased[0].lease, .done(retention: .zero))]) },
            { _ = try backend.enqueue([sampleJob("q")]) },
            { try backend.waitForWork(queue: "q", timeout: .seconds(30)) },
            { _ = try backend.stats(queue: "q") },
        ]
        for call in calls {
            for _ in 0..<2 {  // the broken connection, then a fresh attempt
                let thrown = try #require(try await failure(of: call))
                #expect(thrown.code == .unavailable)
                #expect(thrown.isTransient)
                #expect(thrown.message.contains("127.0.0.1:\(server.port)"), "\(thrown.message)")
                #expect(!thrown.message.contains("s3cret"), "\(thrown.message)")
            }
        }
    }

    @Test func hungServerTimesOutAndTheConnectionRecovers() async throws {
        try await withRedis { server in
            let backend = makeBackend(server, commandTimeout: .milliseconds(500))
            try await onThread { try backend.ping() }
            kill(server.pid, SIGSTOP)
            // The server is stopped, so only the command timeout can end the call.
            let error = try await failure(of: { try backend.ping() })
            kill(server.pid, SIGCONT)
            #expect(error?.code == .unavailable)
            #expect(error?.message.contains("did not answer in time") == true, "\(String(describing: error))")
            try await onThread { try backend.ping() }
        }
    }

    @Test func serverRestartedOnTheSamePortIsUsedAgain() async throws {
        let server = try await RedisServer.start()
        let port = server.port
        let backend = makeBackend(server, poolSize: 2)
        try await onThread { _ = try backend.enqueue([sampleJob("q")]) }
        server.stop()
        #expect(try await failure(of: { try backend.ping() })?.code == .unavailable)

        // The harness picks ports itself, so the second server is started by hand, daemonised, on the
        // same port, and stopped by the PID it writes.
        let directory = try TemporaryDirectory.create()
        defer { try? directory.remove() }
        let pidFile = directory.path + "/redis.pid"
        let started = try await ChildProcess.run(
            "redis-server",
            [
                "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory.path,
                "--daemonize", "yes", "--pidfile", pidFile, "--logfile", directory.path + "/redis.log",
            ], timeout: .seconds(20))
        #expect(started.status == 0)
        defer {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
               let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGKILL)
            }
        }
        // Each pooled connection may fail once on its dead socket; after that, calls succeed and the
        // scripts, unknown to the new server, are loaded again.
        let recovered = try await onThread { () throws -> Int? in
            for _ in 0..<50 {
                if let count = try? backend.enqueue([sampleJob("q")]).count, count == 1 {
                    return try backend.fetch(queue: "q", limit: 10, lease: .seconds(10)).count
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return nil
        }
        #expect(recovered == 1)
    }

    @Test func loginWithUserAndPasswordAndDatabase() async throws {
        try await withRedis { server in
            _ = try await redisCLI(server, ["ACL", "SETUSER", "worker", "on", ">w0rker-pw", "~*", "+@all"])
            _ = try await redisCLI(server, ["CONFIG", "SET", "requirepass", "admin-pw"])
            let good = makeBackend(server, url: "redis://worker:w0rker-pw@127.0.0.1:\(server.port)/3")
            try await onThread { _ = try good.enqueue([sampleJob("q")]) }
            let keys = try await redisCLI(server, ["--user", "worker", "--pass", "w0rker-pw", "--no-auth-warning", "--scan"], database: 3)
            #expect(keys.contains("{jh:q}:ready"))

            for url in ["redis://worker:wrong-pw@127.0.0.1:\(server.port)", "redis://127.0.0.1:\(server.port)"] {
                let backend = makeBackend(server, url: url)
                let error = try #require(try await failure(of: { try backend.ping() }))
                #expect(error.code == .unavailable || error.code == .server)
                #expect(!error.message.contains("wrong-pw"), "\(error.message)")
            }
        }
    }

    @Test func nothingListeningFailsAtOnce() async throws {
        let port = try await withRedis { server in server.port }
        let backend = RedisBackend(url: "redis://127.0.0.1:\(port)", keyPrefix: "jh", connectTimeout: .seconds(2), logger: .init(label: "test"))
        let error = try await failure(of: { _ = try backend.fetch(queue: "q", limit: 1, lease: .seconds(1)) })
        #expect(error?.code == .unavailable)
        // Refused at once, not timed out: the error says what happened at the socket.
        #expect(error?.message.contains("cannot connect to Redis at 127.0.0.1:\(port): Connection refused") == true, "\(String(describing: error))")
    }

    @Test func badConfigurationIsInvalidOnEveryCall() async throws {
        let cases = [
            ("http://127.0.0.1:6379", "jh"), ("redis://:secret@127.0.0.1:6379/x", "jh"), ("redis://127.0.0.1:6379", "j{h}"),
        ]
        for (url, prefix) in cases {
            let backend = RedisBackend(url: url, keyPrefix: prefix, connectTimeout: .seconds(1), logger: .init(label: "test"))
            let error = try #require(try await failure(of: { try backend.ping() }))
            #expect(error.code == .invalid)
            #expect(!error.message.contains("secret"))
        }
        let backend = RedisBackend(url: "redis://127.0.0.1:1", keyPrefix: "jh", connectTimeout: .seconds(1), logger: .init(label: "test"))
        #expect(try await failure(of: { _ = try backend.stats(queue: "a}b") })?.code == .invalid)
    }

    @Test func callersBeyondThePoolSizeWaitTheirTurn() async throws {
        try await withRedis { server in
            let backend = makeBackend(server, poolSize: 1)
            _ = try await onThread { try backend.enqueue((0..<400).map { sampleJob("q", $0) }) }
            let counts = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await onThread {
                            var count = 0
                            while case let batch = try backend.fetch(queue: "q", limit: 3, lease: .seconds(60)), !batch.isEmpty {
                                count += batch.count
                                _ = try backend.settle(batch.map { ($0.lease, .done(retention: .zero)) })
                            }
                            return count
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(counts == 400)
            #expect(try await onThread { try backend.stats(queue: "q").processed } == 400)
        }
    }
}
