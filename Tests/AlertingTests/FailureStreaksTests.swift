import Alerting
import Dispatch
import Synchronization
import Testing

struct FailureStreaksTests {
    let plan = AlertSubject.handler("noctua.plan", queue: "content")

    @Test func raisesExactlyWhenTheStreakReachesTheThreshold() {
        let streaks = FailureStreaks(threshold: 3)
        #expect(streaks.record(subject: plan, succeeded: false, detail: "e1") == nil)
        #expect(streaks.record(subject: plan, succeeded: false, detail: "e2") == nil)
        #expect(streaks.record(subject: plan, succeeded: false, detail: "e3") == .raised(plan, failures: 3, lastError: "e3"))
    }

    @Test func oneAlertPerStreak() {
        let streaks = FailureStreaks(threshold: 3)
        let events = (1...10).compactMap { streaks.record(subject: plan, succeeded: false, detail: "e\($0)") }
        #expect(events == [.raised(plan, failures: 3, lastError: "e3")])
        #expect(streaks.failures(of: plan) == 10)
    }

    @Test func theFirstSuccessAfterAnAlertRecoversWithTheWholeStreak() {
        let streaks = FailureStreaks(threshold: 3)
        for _ in 1...5 { _ = streaks.record(subject: plan, succeeded: false, detail: "boom") }
        #expect(streaks.record(subject: plan, succeeded: true) == .recovered(plan, afterFailures: 5))
        #expect(streaks.record(subject: plan, succeeded: true) == nil)
        #expect(streaks.failures(of: plan) == 0)
    }

    @Test func aSuccessBeforeTheThresholdEndsTheStreakQuietly() {
        let streaks = FailureStreaks(threshold: 3)
        #expect(streaks.record(subject: plan, succeeded: false) == nil)
        #expect(streaks.record(subject: plan, succeeded: false) == nil)
        #expect(streaks.record(subject: plan, succeeded: true) == nil)
        // The count starts again: two more failures are not three in a row.
        #expect(streaks.record(subject: plan, succeeded: false) == nil)
        #expect(streaks.record(subject: plan, succeeded: false) == nil)
        #expect(streaks.failures(of: plan) == 2)
    }

    @Test func successesWithoutAStreakSayNothing() {
        let streaks = FailureStreaks(threshold: 1)
        for _ in 1...3 { #expect(streaks.record(subject: plan, succeeded: true) == nil) }
    }

    @Test func aNewStreakAfterRecoveryRaisesAgain() {
        let streaks = FailureStreaks(threshold: 2)
        var events: [AlertEvent] = []
        for succeeded in [false, false, false, true, false, false, true] {
            if let event = streaks.record(subject: plan, succeeded: succeeded, detail: "x") { events.append(event) }
        }
        #expect(events == [
            .raised(plan, failures: 2, lastError: "x"), .recovered(plan, afterFailures: 3),
            .raised(plan, failures: 2, lastError: "x"), .recovered(plan, afterFailures: 2),
        ])
    }

    @Test func streaksAreIndependentPerSubject() {
        let streaks = FailureStreaks(threshold: 2)
        let sameHandlerOtherQueue = AlertSubject.handler("noctua.plan", queue: "bulk")
        let sync = AlertSubject.scheduleEnqueue("worlds-sync")
        #expect(streaks.record(subject: plan, succeeded: false, detail: "a") == nil)
        #expect(streaks.record(subject: sameHandlerOtherQueue, succeeded: false, detail: "b") == nil)
        #expect(streaks.record(subject: sync, succeeded: false, detail: "c") == nil)
        #expect(streaks.record(subject: sync, succeeded: true) == nil)  // ends only sync's streak
        #expect(streaks.record(subject: plan, succeeded: false, detail: "a2") == .raised(plan, failures: 2, lastError: "a2"))
        #expect(streaks.record(subject: sync, succeeded: false, detail: "c2") == nil)
        #expect(streaks.record(subject: sameHandlerOtherQueue, succeeded: false, detail: "b2")
            == .raised(sameHandlerOtherQueue, failures: 2, lastError: "b2"))
        #expect(streaks.record(subject: plan, succeeded: true) == .recovered(plan, afterFailures: 2))
        #expect(streaks.failures(of: sameHandlerOtherQueue) == 2)
    }

    @Test func aThresholdOfOneRaisesOnTheFirstFailure() {
        let streaks = FailureStreaks(threshold: 1)
        #expect(streaks.record(subject: plan, succeeded: false, detail: "e") == .raised(plan, failures: 1, lastError: "e"))
        #expect(streaks.record(subject: plan, succeeded: false, detail: "e") == nil)
        #expect(streaks.record(subject: plan, succeeded: true) == .recovered(plan, afterFailures: 2))
    }

    @Test func subjectsPastTheCapacityAreNotCounted() {
        let streaks = FailureStreaks(threshold: 1, capacity: 2)
        #expect(streaks.record(subject: .handler("a.x", queue: "q"), succeeded: false) != nil)
        #expect(streaks.record(subject: .handler("b.x", queue: "q"), succeeded: false) != nil)
        #expect(streaks.record(subject: .handler("c.x", queue: "q"), succeeded: false) == nil)
        // A success frees a place.
        _ = streaks.record(subject: .handler("a.x", queue: "q"), succeeded: true)
        #expect(streaks.record(subject: .handler("c.x", queue: "q"), succeeded: false) != nil)
    }

    @Test func threadsFailingTogetherRaiseOneAlert() {
        let streaks = FailureStreaks(threshold: 50)
        let raised = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 2000) { index in
            if streaks.record(subject: plan, succeeded: false, detail: "\(index)") != nil {
                raised.withLock { $0 += 1 }
            }
        }
        #expect(raised.withLock { $0 } == 1)
        #expect(streaks.failures(of: plan) == 2000)
    }
}
