import Foundation
import Testing

@testable import Backend

struct JobAttemptTests {
    @Test func hostAndWorkerComeFromTheLeaseOwnerID() {
        let worker = JobAttempt(number: 1, leaseOwner: "web-1#4f9a2c/worker-2-4711/12", startedAt: Date(), endedAt: Date(), outcome: .done)
        #expect(worker.host == "web-1" && worker.worker == "worker-2-4711")
        let threads = JobAttempt(number: 1, leaseOwner: "web-1#4f9a2c/host/3", startedAt: Date(), endedAt: Date(), outcome: .done)
        #expect(threads.host == "web-1" && threads.worker == "host")
        // An owner id of another shape (a producer's own) is the host, with no holder.
        let foreign = JobAttempt(number: 1, leaseOwner: "cron-box", startedAt: Date(), endedAt: Date(), outcome: .done)
        #expect(foreign.host == "cron-box" && foreign.worker == nil)
        let none = JobAttempt(number: 1, leaseOwner: "", startedAt: Date(), endedAt: Date(), outcome: .done)
        #expect(none.host == nil && none.worker == nil && none.leaseOwner == nil)
    }

    @Test func theStoredHistoryIsReadEntryByEntry() {
        let json = """
            [{"n": 2, "owner": "a#1/host/1", "start": 1765106400123, "end": 1765106401623, "outcome": "crashed", "signal": "SIGSEGV",
              "error": "worker crashed: SIGSEGV"},
             {"n": 3, "owner": null, "start": 1765106402000, "end": 1765106402000, "outcome": "lease_lost", "signal": null, "error": null},
             {"n": 4, "start": 1, "end": 2, "outcome": "exploded"},
             "not an entry",
             {"n": 5, "start": 1765106403000, "end": 1765106403500, "outcome": "done"}]
            """
        let attempts = JobAttempt.stored(Data(json.utf8))
        #expect(attempts.map(\.number) == [2, 3, 5], "an unknown outcome and a non-object are skipped")
        #expect(attempts[0].outcomeText == "crashed (SIGSEGV)" && attempts[0].error == "worker crashed: SIGSEGV")
        // The stored run lasted 1,500 ms (end minus start as written): read back to the millisecond.
        #expect((attempts[0].runSeconds * 1000).rounded() == 1500 && attempts[0].startedAt == Date(timeIntervalSince1970: 1765106400.123))
        #expect(attempts[1].outcome == .leaseLost && attempts[1].host == nil && attempts[1].signal == nil && attempts[1].error == nil)
        #expect(JobAttempt.stored(Data("{not json".utf8)).isEmpty && JobAttempt.stored(nil).isEmpty)
    }

    @Test func aSettlementSaysHowItsRunEnded() {
        let outcomes: [(Settlement, JobAttempt.Outcome, String?)] = [
            (.done(retention: .zero), .done, nil), (.retry(after: .zero, error: "e"), .retry, nil), (.dead(error: "e"), .dead, nil),
            (.release, .released, nil), (.crashed(retryAfter: nil, error: "e"), .crashed, nil),
            (.ended(.retry(after: .zero, error: "timeout"), .timeout), .timeout, nil),
            (.ended(.crashed(retryAfter: .zero, error: "e"), .crash(signal: "SIGBUS")), .crashed, "SIGBUS"),
        ]
        for (settlement, outcome, signal) in outcomes {
            #expect(settlement.attemptOutcome.outcome == outcome && settlement.attemptOutcome.signal == signal, "\(settlement)")
        }
        #expect(Settlement.ended(.dead(error: "timeout"), .timeout).write == .dead(error: "timeout"))
        #expect(Settlement.release.write == .release)
    }

    @Test func jobInfoEncodesItsAttemptsAndUniqueKey() throws {
        var info = JobInfo(
            id: "j", queue: "q", handler: "h", state: .dead, payload: "{}", attempt: 1, maxAttempts: 1, enqueuedAt: Date(timeIntervalSince1970: 0),
            lastError: "e", updatedAt: nil, uniqueKey: "k")
        info.attempts = [JobAttempt(number: 1, leaseOwner: "a#1/host/1", startedAt: Date(timeIntervalSince1970: 0), endedAt: Date(timeIntervalSince1970: 2), outcome: .dead, error: "e")]
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let object = try #require(try JSONSerialization.jsonObject(with: encoder.encode(info)) as? [String: Any])
        #expect(object["unique_key"] as? String == "k")
        let runs = try #require(object["attempts"] as? [[String: Any]])
        #expect(runs.first?["outcome"] as? String == "dead" && runs.first?["run_seconds"] as? Double == 2 && runs.first?["host"] as? String == "a")
    }
}
