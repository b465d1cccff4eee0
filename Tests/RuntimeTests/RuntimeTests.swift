import Backend
import Foundation
import HostConfig
import JobHostTesting
import Runtime
import Testing

struct RuntimeTests {
    @Test func tenThousandJobsOverThreeQueuesEachRunExactlyOnce() async throws {
        let fixture = try await RuntimeFixture(queues: """
              alpha: { concurrency: 4 }
              beta: { concurrency: 3 }
              gamma: { concurrency: 2 }
            """)
        var ids: Set<String> = []
        for (queue, count) in [("alpha", 4000), ("beta", 3500), ("gamma", 2500)] {
            ids.formUnion(try fixture.enqueue(count, queue: queue))
        }
        #expect(ids.count == 10_000)
        let runtime = fixture.runtime()
        runtime.start()
        try await waitUntil("every job processed") { try fixture.runs().count >= 10_000 }
        runtime.shutdown(timeout: .seconds(5))
        let runs = try fixture.runs()
        #expect(runs.count == 10_000)
        #expect(Set(runs.map(\.id)) == ids)
        #expect(runs.allSatisfy { $0.attempt == 1 })
        var processed = 0
        for queue in ["alpha", "beta", "gamma"] {
            let stats = try fixture.backend.stats(queue: queue)
            #expect(stats.ready == 0 && stats.running == 0 && stats.dead == 0 && stats.scheduled == 0)
            processed += stats.processed
        }
        #expect(processed == 10_000)
    }

    @Test func aFlakyJobIsRetriedWithBackoffThenSucceeds() async throws {
        let fixture = try await RuntimeFixture(queues: """
              default: { concurrency: 2, retry: { base: 200ms, max: 10s, jitter: 0.2, max_attempts: 5 } }
            """)
        let id = try fixture.submitter().submit(.init(
            handler: "test.flaky", payload: Data(#"{"failures": 2, "record": "\#(fixture.recordFile)"}"#.utf8)))
        let runtime = fixture.runtime()
        runtime.start()
        try await waitUntil("the flaky job done") { try fixture.backend.job(queue: "default", id: id)?.state == .done }
        runtime.shutdown(timeout: .seconds(5))
        let runs = try fixture.runs().filter { $0.id == id }
        #expect(runs.map(\.attempt) == [1, 2, 3])
        // Backoff: 200ms then 400ms, each at least (1 − jitter) of that.
        #expect(runs[1].unixMicros - runs[0].unixMicros >= 160_000)
        #expect(runs[2].unixMicros - runs[1].unixMicros >= 320_000)
        let stats = try fixture.backend.stats(queue: "default")
        #expect(stats.processed == 1 && stats.failed == 2)
    }

    @Test func aQueueWithRetriesAtTheBackRunsFreshJobsBeforeARetry() async throws {
        let fixture = try await RuntimeFixture(queues: """
              default: { concurrency: 1, retry_position: back, retry: { base: 0s, max: 0s, jitter: 0, max_attempts: 3 } }
            """)
        let flaky = try fixture.submitter().submit(.init(
            handler: "test.flaky", payload: Data(#"{"failures": 1, "record": "\#(fixture.recordFile)"}"#.utf8)))
        let fresh = try fixture.enqueue(3, queue: "default")
        let runtime = fixture.runtime()
        runtime.start()
        try await waitUntil("the retried job done") { try fixture.backend.job(queue: "default", id: flaky)?.state == .done }
        try await waitUntil("every fresh job run") { try fixture.runs().count >= 5 }
        runtime.shutdown(timeout: .seconds(5))
        // Whether the next fetch came before or after the retry was written, the retry is behind them all.
        #expect(try fixture.runs().map(\.id) == [flaky] + fresh + [flaky])
    }

    @Test func aJobThatUsesUpItsAttemptsIsDeadWithTheLastErrorAndCanBeRetried() async throws {
        let fixture = try await RuntimeFixture(queues: """
              default: { concurrency: 1, retry: { base: 10ms, max: 20ms, max_attempts: 3 } }
            """)
        let id = try fixture.submitter().submit(.init(
            handler: "test.flaky", payload: Data(#"{"failures": 5, "record": "\#(fixture.recordFile)"}"#.utf8)))
        let runtime = fixture.runtime()
        runtime.start()
        try await waitUntil("the job dead") { try fixture.backend.job(queue: "default", id: id)?.state == .dead }
        let info = try #require(try fixture.backend.job(queue: "default", id: id))
        #expect(info.lastError == "planned failure 3 of 5")
        #expect(info.attempt == 3)
        #expect(try fixture.runs().map(\.attempt) == [1, 2, 3])
        // An operator retries it: it runs again from attempt 1 (and, still failing, dies again).
        #expect(try fixture.backend.retryDead(queue: "default", id: id))
        try await waitUntil("the retried job running again") { try fixture.runs().count >= 4 }
        runtime.shutdown(timeout: .seconds(5))
        #expect(try fixture.runs().dropFirst(3).first?.attempt == 1)
    }

    @Test func eachFinishedJobIsOneLogLineUnlessItsQueueSaysOtherwise() async throws {
        let log = LogCapture()
        let fixture = try await RuntimeFixture(queues: """
              default: { concurrency: 2, retry: { base: 10ms, max: 20ms, max_attempts: 2 } }
              quiet: { concurrency: 2, job_log: failures, retry: { base: 10ms, max: 20ms, max_attempts: 2 } }
              silent: { concurrency: 2, job_log: none, retry: { base: 10ms, max: 20ms, max_attempts: 1 } }
            """, log: log)
        let flaky = #"{"failures": 1, "record": "\#(fixture.recordFile)"}"#
        let submitter = fixture.submitter()
        let loud = try submitter.submit(.init(handler: "test.flaky", payload: Data(flaky.utf8), queue: "default"))
        let quiet = try submitter.submit(.init(handler: "test.flaky", payload: Data(flaky.utf8), queue: "quiet"))
        let silent = try submitter.submit(.init(handler: "test.flaky", payload: Data(flaky.utf8), queue: "silent"))
        let runtime = fixture.runtime()
        runtime.start()
        try await waitUntil("every job finished") {
            try fixture.backend.job(queue: "default", id: loud)?.state == .done && fixture.backend.job(queue: "quiet", id: quiet)?.state == .done
                && fixture.backend.job(queue: "silent", id: silent)?.state == .dead
        }
        runtime.shutdown(timeout: .seconds(5))
        let lines = log.lines.filter { $0.message.hasPrefix("job ") }
        func of(_ id: String) -> [LogCapture.Line] { lines.filter { $0.metadata["job.id"] == id } }
        #expect(of(loud).map(\.message) == ["job failed; will retry", "job done"])
        #expect(of(loud).map(\.level) == [.warning, .info])
        let done = try #require(of(loud).last)
        #expect(done.metadata["job.handler"] == "test.flaky" && done.metadata["job.queue"] == "default" && done.metadata["job.attempt"] == "2")
        #expect(Double(done.metadata["duration_ms"] ?? "") != nil)
        #expect(of(loud).first?.metadata["error"] == "planned failure 1 of 1")
        #expect(of(quiet).map(\.message) == ["job failed; will retry"])
        #expect(of(silent).isEmpty)
    }

    @Test func aDiscardGoesStraightToDead() async throws {
        let fixture = try await RuntimeFixture(queues: "  default: { concurrency: 1 }")
        let id = try fixture.submitter().submit(.init(handler: "test.discard", payload: Data("{}".utf8)))
        let runtime = fixture.runtime()
        runtime.start()
        try await waitUntil("the job dead") { try fixture.backend.job(queue: "default", id: id)?.state == .dead }
        runtime.shutdown(timeout: .seconds(5))
        let info = try #require(try fixture.backend.job(queue: "default", id: id))
        #expect(info.attempt == 1 && info.lastError == "discarded on purpose")
    }

    @Test func anUnknownHandlerIsAFailedAttemptThatSaysSo() async throws {
        let fixture = try await RuntimeFixture(queues: "  default: { concurrency: 1, retry: { max_attempts: 1 } }")
        let (job, _) = try fixture.submitter().prepare(.init(handler: "nobody.home", payload: Data("{}".utf8)))
        let id = try fixture.backend.enqueue([job])[0]
        let runtime = fixture.runtime()
        runtime.start()
        try await waitUntil("the job dead") { try fixture.backend.job(queue: "default", id: id)?.state == .dead }
        runtime.shutdown(timeout: .seconds(5))
        #expect(try fixture.backend.job(queue: "default", id: id)?.lastError == "no loaded plugin registers handler 'nobody.home'")
    }

    @Test func aHandlerPastItsTimeoutIsWrittenOffAndTheQueueKeepsFlowing() async throws {
        let fixture = try await RuntimeFixture(queues: """
              default: { concurrency: 2, timeout: 300ms, lease: 10s, retry: { max_attempts: 1 } }
            """)
        let stuck = try fixture.submitter().submit(.init(
            handler: "test.sleep", payload: Data(#"{"ms": 60000, "ignore_cancel": true}"#.utf8)))
        let polite = try fixture.submitter().submit(.init(handler: "test.sleep", payload: Data(#"{"ms": 60000}"#.utf8)))
        let runtime = fixture.runtime(grace: .milliseconds(300))
        runtime.start()
        // Both slots are busy at first; the stuck one is written off after 600 ms and its slot replaced.
        try await waitUntil("both sleeping jobs dead") {
            try fixture.backend.job(queue: "default", id: stuck)?.state == .dead
                && fixture.backend.job(queue: "default", id: polite)?.state == .dead
        }
        #expect(try fixture.backend.job(queue: "default", id: stuck)?.lastError?.hasPrefix("timeout") == true)
        // The polite one stopped when its cancel flag went up.
        #expect(try fixture.backend.job(queue: "default", id: polite)?.lastError == "cancelled")
        // Other jobs flow while the written-off handler is still sleeping on its old thread.
        try fixture.enqueue(200, queue: "default")
        try await waitUntil("200 jobs run past the written-off handler") { try fixture.runs().count == 200 }
        runtime.shutdown(timeout: .seconds(1))
    }

    @Test func shutdownHandsBackRunningJobsWithoutUsingAnAttempt() async throws {
        let fixture = try await RuntimeFixture(queues: "  default: { concurrency: 2, timeout: 1m }")
        let ids = try (0..<5).map { _ in
            try fixture.submitter().submit(.init(
                handler: "test.sleep", payload: Data(#"{"ms": 60000, "ignore_cancel": true, "record": "\#(fixture.recordFile)"}"#.utf8)))
        }
        let runtime = fixture.runtime()
        runtime.start()
        try await waitUntil("two running and two fetched ahead") {
            try fixture.runs().count == 2 && fixture.backend.stats(queue: "default").running == 4
        }
        // The running jobs ignore their cancel flag and sleep a minute: had shutdown waited for them,
        // they would be done, not back in the queue untouched.
        let handedBack = runtime.shutdown(timeout: .milliseconds(300))
        #expect(handedBack == 2)
        let stats = try fixture.backend.stats(queue: "default")
        #expect(stats.ready == 5 && stats.running == 0)
        for id in ids {
            let info = try #require(try fixture.backend.job(queue: "default", id: id))
            #expect(info.state == .ready && info.attempt == 0)
        }
    }

    @Test func badDataInRedisIsReportedAndTheRuntimeKeepsGoing() async throws {
        let fixture = try await RuntimeFixture(queues: "  default: { concurrency: 2 }")
        func redisCLI(_ arguments: [String]) throws {
            let output = try ChildProcess.run("redis-cli", ["-p", "\(fixture.redis.port)"] + arguments, timeout: .seconds(10))
            #expect(output.status == 0, "\(output.stderr)")
        }
        // A job hash a careless producer left without handler and max_attempts.
        try redisCLI(["HSET", "{t:default}:job:HALF", "id", "HALF", "payload", "{}"])
        try redisCLI(["LPUSH", "{t:default}:ready", "HALF"])
        // A key of the wrong type where the queue's scheduled set belongs: every call fails until it is gone.
        try redisCLI(["SET", "{t:default}:scheduled", "oops"])
        let runtime = fixture.runtime()
        runtime.start()
        #expect(throws: BackendError.self) { try fixture.backend.stats(queue: "default") }
        try await Task.sleep(for: .milliseconds(500))
        try redisCLI(["DEL", "{t:default}:scheduled"])
        try fixture.enqueue(20, queue: "default")
        try await waitUntil("the jobs enqueued after the repair ran") { try fixture.runs().count == 20 }
        runtime.shutdown(timeout: .seconds(5))
        let half = try #require(try fixture.backend.job(queue: "default", id: "HALF"))
        #expect(half.state == .dead)
        #expect(half.lastError?.contains("job hash missing fields") == true, "\(half)")
    }

    @Test func chainedJobsAreEnqueuedThroughTheBackend() async throws {
        let fixture = try await RuntimeFixture(queues: "  default: { concurrency: 2 }")
        let payload = #"{"next": "test.record", "next_payload": "{\"record\": \"\#(fixture.recordFile)\"}"}"#
        _ = try fixture.submitter().submit(.init(handler: "test.chain", payload: Data(payload.utf8)))
        let runtime = fixture.runtime()
        runtime.start()
        try await waitUntil("the chained job ran") { try fixture.runs().count == 1 }
        runtime.shutdown(timeout: .seconds(5))
        #expect(try fixture.backend.stats(queue: "default").processed == 2)
    }
}

struct BackoffTests {
    @Test func exponentialDoublesUpToTheCap() {
        let policy = RetryPolicy(maxAttempts: 10, backoff: .exponential, base: .seconds(1), max: .seconds(10), jitter: 0)
        #expect((1...6).map { policy.delay(afterAttempt: $0) } == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(10), .seconds(10)])
        #expect(policy.delay(afterAttempt: 500) == .seconds(10))
    }

    @Test func jitterSpreadsWithinItsShare() {
        let policy = RetryPolicy(maxAttempts: 10, backoff: .fixed, base: .seconds(10), max: .seconds(60), jitter: 0.2)
        #expect(policy.delay(afterAttempt: 3, random: -1) == .seconds(8))
        #expect(policy.delay(afterAttempt: 3, random: 1) == .seconds(12))
        let delays = Set((0..<50).map { _ in policy.delay(afterAttempt: 1) })
        #expect(delays.count > 10)
        #expect(delays.allSatisfy { $0 >= .seconds(8) && $0 <= .seconds(12) })
    }
}
