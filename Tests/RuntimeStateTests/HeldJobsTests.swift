import Backend
import Foundation
import HostDomain
import Testing

@testable import Runtime

/// The rules of a queue runner's held jobs, one transition at a time, with no server, thread or clock:
/// instants are made up, and a running handler is a name.
struct HeldJobsTests {
    typealias Held = HeldJobs<String>

    let t0 = ContinuousClock.now

    func job(_ id: String, attempt: Int = 1) -> LeasedJob {
        LeasedJob(
            lease: Lease(queue: "q", jobID: id, token: "tok-\(id)"), handler: "test.echo", payload: Data("{}".utf8), attempt: attempt,
            maxAttempts: 3, enqueuedAt: Date(timeIntervalSince1970: 0), timeout: nil, lastError: nil)
    }

    func lease(_ id: String) -> Lease { job(id).lease }

    /// A state holding `ids`, fetched (and the first `running` of them started, deadline t0 + 1 s).
    func holding(_ ids: [String], running: Int = 0) -> Held {
        var held = Held()
        let r1 = held.fetched(ids.map { job($0) }, leaseHeldUntil: t0 + .seconds(60))
        #expect(r1.isEmpty)
        for id in ids.prefix(running) {
            let r2 = held.start(lease(id), run: "run-\(id)", deadline: t0 + .seconds(1), now: t0)
            #expect(r2 == .started)
        }
        return held
    }

    // MARK: Fetch and start

    @Test func fetchedJobsWaitForASlot() {
        var held = Held()
        let releases = held.fetched([job("a"), job("b")], leaseHeldUntil: t0 + .seconds(60))
        #expect(releases.isEmpty)
        #expect(held.anyBuffered)
        #expect(!held.anyRunning)
        #expect(Set(held.leases) == [lease("a"), lease("b")])
        #expect(held.runningJobs.isEmpty)
        #expect(!held.settlerMayFinish)
    }

    @Test func aSlotStartsOnlyAJobStillHeldAndWaiting() {
        var held = holding(["a"])
        let r3 = held.start(lease("a"), run: "run-a", deadline: t0 + .seconds(1), now: t0)
        #expect(r3 == .started)
        #expect(held.runningJobs.map(\.lease) == [lease("a")])
        #expect(held.runningJobs.first?.deadline == t0 + .seconds(1))
        #expect(held.anyRunning && !held.anyBuffered)
        // Already running; never fetched.
        let r4 = held.start(lease("a"), run: "again", deadline: t0, now: t0)
        #expect(r4 != .started)
        let r5 = held.start(lease("zzz"), run: "run-zzz", deadline: t0, now: t0)
        #expect(r5 != .started)
        #expect(held.runningJobs.count == 1)
    }

    // MARK: Settling

    @Test func aReturningHandlerHandsOverItsSettlementOnce() {
        var held = holding(["a"], running: 1)
        let r6 = held.returned(lease("a"), ran: .milliseconds(7))
        #expect(r6 == .handOver)
        #expect(held.runningJobs.isEmpty && !held.anyRunning)
        // Still held until the backend takes the outcome; a second settlement is refused.
        #expect(held.leases == [lease("a")])
        let r7 = held.returned(lease("a"), ran: .milliseconds(7))
        #expect(r7 == .notHeld)
        let r8 = held.settle(lease("a"))
        #expect(!r8)
    }

    @Test func aRecordedSettlementLetsGoWithWhatItTells() {
        var held = holding(["a", "b"], running: 2)
        let r9 = held.returned(lease("a"), ran: .milliseconds(7))
        #expect(r9 == .handOver)
        let r10 = held.returned(lease("b"), ran: .milliseconds(9))
        #expect(r10 == .handOver)
        let recorded = held.recorded(
            [(lease("a"), .done(retention: .seconds(60))), (lease("b"), .retry(after: .seconds(1), error: "boom"))], stillHeld: [true, true])
        #expect(recorded.lost.isEmpty)
        #expect(recorded.letGo.map(\.lease) == [lease("a"), lease("b")])
        let a = recorded.letGo[0].finished
        #expect(a?.result == .succeeded && a?.jobID == "a" && a?.runTime == .milliseconds(7) && a?.timedOut == false)
        let b = recorded.letGo[1].finished
        #expect(b?.result == .retried && b?.error == "boom" && b?.runTime == .milliseconds(9))
        #expect(held.leases.isEmpty)
        // The same batch again lets go of nothing: each job is let go of once.
        let r11 = held.recorded([(lease("a"), .done(retention: .seconds(60)))], stillHeld: [true])
        #expect(r11.letGo.isEmpty)
    }

    @Test func aSettlementTheBackendRefusedIsALostLease() {
        var held = holding(["a"], running: 1)
        let r12 = held.returned(lease("a"), ran: .milliseconds(1))
        #expect(r12 == .handOver)
        let recorded = held.recorded([(lease("a"), .done(retention: .seconds(60)))], stillHeld: [false])
        #expect(recorded.lost == ["a"])
        #expect(recorded.letGo.count == 1 && recorded.letGo[0].finished == nil)
        #expect(held.leases.isEmpty)
    }

    @Test func aJobSettledWithoutRunningStartsNoMoreAndIsSettledOnce() {
        // An unknown handler: settled straight from the buffer.
        var held = holding(["a"])
        let r13 = held.settle(lease("a"))
        #expect(r13)
        let r14 = held.start(lease("a"), run: "run-a", deadline: t0, now: t0)
        #expect(r14 != .started)
        let r15 = held.settle(lease("a"))
        #expect(!r15)
        let r16 = held.settle(lease("never fetched"))
        #expect(!r16)
        let recorded = held.recorded([(lease("a"), .dead(error: "no handler"))], stillHeld: [true])
        #expect(recorded.letGo.first?.finished?.result == .dead)
        #expect(recorded.letGo.first?.finished?.runTime == nil)
    }

    // MARK: Handing back

    @Test func shutdownHandsBackWaitingJobsThenRunningOnesAndEndsWhenAllAreRecorded() {
        var held = holding(["a", "b", "c"], running: 1)
        let releases = held.beginShutdown()
        #expect(held.stopping)
        #expect(Set(releases.map(\.lease)) == [lease("b"), lease("c")])
        #expect(releases.allSatisfy { $0.settlement == .release })
        #expect(!held.anyBuffered)
        let r17 = held.start(lease("b"), run: "run-b", deadline: t0, now: t0)
        #expect(r17 != .started)
        // A fetch that returns after shutdown began hands its jobs straight back.
        let late = held.fetched([job("d")], leaseHeldUntil: t0 + .seconds(60))
        #expect(late.map(\.lease) == [lease("d")] && late[0].settlement == .release)
        let r18 = held.start(lease("d"), run: "run-d", deadline: t0, now: t0)
        #expect(r18 != .started)
        // The deadline passes with "a" still running: it goes back too, its handler told to stop.
        #expect(held.anyRunning)
        let (running, cancel) = held.handBackRunning()
        #expect(running.map(\.lease) == [lease("a")] && running[0].settlement == .release)
        #expect(cancel == ["run-a"])
        #expect(held.abandoned == [lease("a")])
        #expect(!held.anyRunning)
        // Not done until every release is recorded and the fetcher ended (a fetch under way may still
        // bring jobs to hand back).
        #expect(!held.settlerMayFinish)
        let all = releases + late + running
        let recorded = held.recorded(all, stillHeld: Array(repeating: true, count: all.count))
        #expect(recorded.letGo.count == 4 && recorded.letGo.allSatisfy { $0.finished == nil })
        #expect(held.leases.isEmpty)
        #expect(!held.settlerMayFinish)
        held.fetcherEnded()
        #expect(held.settlerMayFinish)
    }

    @Test func aHandlerReturningAfterBeingGivenUpOnEndsItsThreadAndSettlesNothing() {
        var held = holding(["a"], running: 1)
        _ = held.beginShutdown()
        _ = held.handBackRunning()
        let r19 = held.returned(lease("a"), ran: .seconds(30))
        #expect(r19 == .abandoned)
        #expect(held.abandoned.isEmpty)
        // Its release stays the job's one settlement.
        let r20 = held.settle(lease("a"))
        #expect(!r20)
    }

    @Test func aPauseHandsBackOnlyJobsNotStarted() {
        var held = holding(["a", "b"], running: 1)
        let releases = held.handBackBuffered()
        #expect(releases.map(\.lease) == [lease("b")] && releases[0].settlement == .release)
        #expect(!held.stopping)
        #expect(!held.anyBuffered)
        #expect(held.runningJobs.map(\.lease) == [lease("a")])
        let r21 = held.start(lease("b"), run: "run-b", deadline: t0, now: t0)
        #expect(r21 != .started)
        let r22 = held.handBackBuffered()
        #expect(r22.isEmpty)
        // The running job goes on and settles as usual.
        let r23 = held.returned(lease("a"), ran: .milliseconds(1))
        #expect(r23 == .handOver)
    }

    // MARK: Leases

    @Test func aLeaseLostOnRenewalLetsGoAtOnceAndStopsItsHandler() {
        var held = holding(["a", "b", "c"], running: 1)
        let (letGo, cancel) = held.renewed(
            [lease("a"), lease("b"), lease("c"), lease("never fetched")], stillHeld: [false, false, true, false], heldUntil: t0 + .seconds(90))
        #expect(letGo == [lease("a"), lease("b")])
        #expect(cancel == ["run-a"])
        #expect(held.leases == [lease("c")])
        #expect(held.abandoned.isEmpty)
        // The handler returns later: nothing to settle, and its slot goes on.
        let r24 = held.returned(lease("a"), ran: .milliseconds(1))
        #expect(r24 == .notHeld)
        let r25 = held.start(lease("b"), run: "run-b", deadline: t0, now: t0)
        #expect(r25 != .started)
    }

    @Test func aJobWhoseOutcomeIsOnItsWayIsLeftToTheSettlersAnswer() {
        var held = holding(["a", "b"], running: 2)
        #expect(held.returned(lease("a"), ran: .milliseconds(1)) == .handOver)
        #expect(held.returned(lease("b"), ran: .milliseconds(1)) == .handOver)
        // A renewal racing the settler finds both leases gone (settled meanwhile): nothing is lost here.
        let r27 = held.renewed([lease("a"), lease("b")], stillHeld: [false, false], heldUntil: t0 + .seconds(90))
        #expect(r27.letGo.isEmpty && r27.cancel.isEmpty)
        // The settler's answer decides, once: a done, and one whose lease had really been rescued.
        let recorded = held.recorded(
            [(lease("a"), .done(retention: .seconds(1))), (lease("b"), .done(retention: .seconds(1)))], stillHeld: [true, false])
        #expect(recorded.letGo.map(\.lease) == [lease("a"), lease("b")])
        #expect(recorded.letGo[0].finished?.result == .succeeded, "a completed job is told as finished, not lost")
        #expect(recorded.lost == ["b"])
        #expect(held.leases.isEmpty)
    }

    @Test func aJobIsStartedOnlyWhileItsLeaseSurelyHolds() {
        var held = Held()
        #expect(held.fetched([job("a"), job("b")], leaseHeldUntil: t0 + .seconds(10)).isEmpty)
        #expect(held.start(lease("a"), run: "run-a", deadline: t0 + .seconds(60), now: t0 + .seconds(5), margin: .seconds(3)) == .started)
        // The host stalled: the lease may have run out and the job been rescued elsewhere.
        #expect(held.start(lease("b"), run: "run-b", deadline: t0 + .seconds(60), now: t0 + .seconds(8), margin: .seconds(3)) == .leaseUnsure)
        #expect(held.runningJobs.map(\.lease) == [lease("a")], "an unsure job stays waiting")
        // The backend confirms it: good for another lease from when the renewal was asked.
        #expect(held.renewed([lease("b")], stillHeld: [true], heldUntil: t0 + .seconds(18)).letGo.isEmpty)
        #expect(held.start(lease("b"), run: "run-b", deadline: t0 + .seconds(60), now: t0 + .seconds(8), margin: .seconds(3)) == .started)
    }

    @Test func aHandlerRunningPastItsLeaseIsToldToStopOnce() {
        var held = Held()
        #expect(held.fetched([job("a"), job("b")], leaseHeldUntil: t0 + .seconds(10)).isEmpty)
        #expect(held.start(lease("a"), run: "run-a", deadline: t0 + .seconds(60), now: t0) == .started)
        #expect(held.start(lease("b"), run: "run-b", deadline: t0 + .seconds(60), now: t0) == .started)
        #expect(held.renewed([lease("b")], stillHeld: [true], heldUntil: t0 + .seconds(20)).letGo.isEmpty)
        let before = held.enforceDeadlines(now: t0 + .seconds(9), grace: .seconds(5), maxAbandoned: 4, writeOff: retryAfterTimeout)
        #expect(before.cancel.isEmpty)
        let past = held.enforceDeadlines(now: t0 + .seconds(11), grace: .seconds(5), maxAbandoned: 4, writeOff: retryAfterTimeout)
        #expect(past.cancel == ["run-a"], "only the handler whose lease was not renewed")
        #expect(past.leaseOutlived.map(\.id) == ["a"])
        #expect(past.writtenOff.isEmpty, "told to stop, not written off: its deadline has not come")
        let again = held.enforceDeadlines(now: t0 + .seconds(12), grace: .seconds(5), maxAbandoned: 4, writeOff: retryAfterTimeout)
        #expect(again.cancel.isEmpty && again.leaseOutlived.isEmpty, "once")
    }

    // MARK: Deadlines

    func retryAfterTimeout(_ job: LeasedJob) -> Settlement { .retry(after: .seconds(2), error: "timeout of \(job.id)") }

    @Test func aDeadlineRaisesTheCancelFlagOnceThenGraceWritesTheHandlerOff() {
        var held = holding(["a"], running: 1)
        let deadline = t0 + .seconds(1)
        let grace = Duration.milliseconds(500)
        let early = held.enforceDeadlines(now: deadline - .milliseconds(1), grace: grace, maxAbandoned: 4, writeOff: retryAfterTimeout)
        #expect(early.cancel.isEmpty && early.writtenOff.isEmpty)
        let due = held.enforceDeadlines(now: deadline, grace: grace, maxAbandoned: 4, writeOff: retryAfterTimeout)
        #expect(due.cancel == ["run-a"] && due.writtenOff.isEmpty)
        #expect(held.anyRunning)
        let again = held.enforceDeadlines(now: deadline + .milliseconds(100), grace: grace, maxAbandoned: 4, writeOff: retryAfterTimeout)
        #expect(again.cancel.isEmpty && again.writtenOff.isEmpty)
        let over = held.enforceDeadlines(now: deadline + grace, grace: grace, maxAbandoned: 4, writeOff: retryAfterTimeout)
        #expect(over.cancel.isEmpty)
        #expect(over.writtenOff.map(\.job.id) == ["a"])
        #expect(over.writtenOff.first?.settlement == .retry(after: .seconds(2), error: "timeout of a"))
        #expect(over.replacements == 1)
        #expect(held.abandoned == [lease("a")])
        #expect(!held.anyRunning && held.runningJobs.isEmpty)
        // Written off once; the outcome it recorded is a timeout.
        let r28 = held.enforceDeadlines(now: deadline + .seconds(60), grace: grace, maxAbandoned: 4, writeOff: retryAfterTimeout)
        #expect(r28.writtenOff.isEmpty)
        let r29 = held.settle(lease("a"))
        #expect(!r29)
        let recorded = held.recorded([(lease("a"), over.writtenOff[0].settlement)], stillHeld: [true])
        #expect(recorded.letGo.first?.finished?.timedOut == true)
        #expect(recorded.letGo.first?.finished?.result == .retried)
        // When the handler returns at last, its thread ends (a replacement took its slot).
        let r30 = held.returned(lease("a"), ran: .seconds(90))
        #expect(r30 == .abandoned)
        #expect(held.abandoned.isEmpty)
    }

    @Test func aHandlerPastGraceWithoutACancelYetIsToldAndWrittenOffTogether() {
        var held = holding(["a"], running: 1)
        let overdue = held.enforceDeadlines(now: t0 + .seconds(5), grace: .seconds(1), maxAbandoned: 4, writeOff: retryAfterTimeout)
        #expect(overdue.cancel == ["run-a"])
        #expect(overdue.writtenOff.map(\.job.id) == ["a"])
    }

    @Test func writeOffsAreReplacedOnlyUpToTheCap() {
        var held = holding(["a", "b", "c"], running: 3)
        let overdue = held.enforceDeadlines(now: t0 + .seconds(10), grace: .seconds(1), maxAbandoned: 2, writeOff: retryAfterTimeout)
        #expect(Set(overdue.writtenOff.map(\.job.id)) == ["a", "b", "c"])
        #expect(overdue.replacements == 2)
        #expect(held.abandoned.count == 3)
    }

    @Test func withoutGraceNothingIsWrittenOffHere() {
        var held = holding(["a"], running: 1)
        let overdue = held.enforceDeadlines(now: t0 + .seconds(3600), grace: nil, maxAbandoned: 4, writeOff: retryAfterTimeout)
        #expect(overdue.cancel == ["run-a"])
        #expect(overdue.writtenOff.isEmpty && overdue.replacements == 0)
        #expect(held.anyRunning && held.abandoned.isEmpty)
        let r31 = held.returned(lease("a"), ran: .seconds(3600))
        #expect(r31 == .handOver)
    }
}
