import Backend
import Foundation
import HostConfig
import JobHostTesting
import Runtime
import Testing

/// Each chore's pass, called directly, against every backend.
struct ChoreTests {
    @Test(arguments: BackendKind.allCases)
    func anExpiredLeaseIsRescuedAndALiveOneIsNot(_ kind: BackendKind) async throws {
        try await withBackend(kind) { backend in
            let expired = try await leasedJob(backend, queue: "expired", lease: .milliseconds(100))
            let usedUp = try await leasedJob(backend, queue: "used-up", maxAttempts: 1, lease: .milliseconds(100))
            let live = try await leasedJob(backend, queue: "live", lease: .seconds(600))
            let rescuer = LeaseRescuer(queues: ["expired", "used-up", "live"], backend: backend, logger: quiet)
            try await pass(.milliseconds(400))

            let report = try await onThread { rescuer.runOnce() }
            #expect(report.failures.isEmpty)
            #expect(report.rescued == 1)
            #expect(report.dead == 1)
            let states = try await onThread {
                try [
                    backend.job(queue: "expired", id: expired.id), backend.job(queue: "used-up", id: usedUp.id),
                    backend.job(queue: "live", id: live.id),
                ]
            }
            // Ready again with its attempt counted; dead with its one attempt used; the live one untouched.
            #expect(states[0]?.state == .ready && states[0]?.attempt == 1)
            #expect(states[1]?.state == .dead)
            #expect(states[2]?.state == .running)
            // The live lease still holds: its holder settles it.
            #expect(try await onThread { try backend.settle([(live.lease, .done(retention: .seconds(60)))]) } == [true])

            let again = try await onThread { rescuer.runOnce() }
            #expect(again.rescued == 0 && again.dead == 0 && again.failures.isEmpty)
        }
    }

    @Test(arguments: BackendKind.allCases)
    func aDoneJobPastRetentionIsPrunedAndOneWithinItIsKept(_ kind: BackendKind) async throws {
        try await withBackend(kind) { backend in
            let old = try await leasedJob(backend, queue: "short", lease: .seconds(60))
            let kept = try await leasedJob(backend, queue: "long", lease: .seconds(60))
            let settled = try await onThread {
                try backend.settle([(old.lease, .done(retention: .milliseconds(100))), (kept.lease, .done(retention: .seconds(3600)))])
            }
            #expect(settled == [true, true])
            let pruner = JobPruner(retention: [("short", .milliseconds(100)), ("long", .seconds(3600))], backend: backend)
            try await pass(.milliseconds(400))

            let report = try await onThread { pruner.runOnce() }
            #expect(report.failures.isEmpty)
            #expect(report.pruned == 1)
            let jobs = try await onThread { try [backend.job(queue: "short", id: old.id), backend.job(queue: "long", id: kept.id)] }
            #expect(jobs[0] == nil)
            #expect(jobs[1]?.state == .done)
            #expect(try await onThread { pruner.runOnce() }.pruned == 0)
        }
    }

    @Test(arguments: BackendKind.allCases)
    func aDeadJobPastItsQueuesDeadRetentionIsPrunedAndTheCountLogged(_ kind: BackendKind) async throws {
        try await withBackend(kind) { backend in
            let old = try await leasedJob(backend, queue: "short", lease: .seconds(60))
            let kept = try await leasedJob(backend, queue: "long", lease: .seconds(60))
            let done = try await leasedJob(backend, queue: "short", lease: .seconds(60))
            let settled = try await onThread {
                try backend.settle([
                    (old.lease, .dead(error: "bad input")), (kept.lease, .dead(error: "bad input")), (done.lease, .done(retention: .seconds(3600))),
                ])
            }
            #expect(settled == [true, true, true])
            let capture = LogCapture()
            let pruner = DeadJobPruner(
                retention: [("short", .milliseconds(100)), ("long", .seconds(3600))], backend: backend, batchSize: 10, logger: capture.logger)
            try await pass(.milliseconds(400))

            let report = try await onThread { pruner.runOnce() }
            #expect(report.failures.isEmpty)
            #expect(report.pruned == 1)
            let jobs = try await onThread {
                try [backend.job(queue: "short", id: old.id), backend.job(queue: "long", id: kept.id), backend.job(queue: "short", id: done.id)]
            }
            #expect(jobs[0] == nil)
            #expect(jobs[1]?.state == .dead)
            #expect(jobs[2]?.state == .done, "done jobs are the other pruner's")
            let logged = capture.lines.filter { $0.message == "deleted dead jobs past their retention" }
            #expect(logged.map(\.metadata) == [["queue": "short", "deleted": "1", "dead_retention": "100ms"]])
            #expect(try await onThread { pruner.runOnce() }.pruned == 0)
            #expect(capture.lines.filter { $0.message == "deleted dead jobs past their retention" }.count == 1, "a pass that deletes nothing logs nothing")
        }
    }

    @Test(arguments: BackendKind.allCases)
    func aQueueThatFailsIsReportedAndTheOthersAreServed(_ kind: BackendKind) async throws {
        try await withBackend(kind) { backend in
            let expired = try await leasedJob(backend, queue: "fine", lease: .milliseconds(100))
            // An empty queue name is refused by every backend.
            let rescuer = LeaseRescuer(queues: ["", "fine"], backend: backend, logger: quiet)
            try await pass(.milliseconds(400))
            let report = try await onThread { rescuer.runOnce() }
            #expect(report.failures.map(\.queue) == [""])
            #expect(report.rescued == 1)
            #expect(try await onThread { try backend.job(queue: "fine", id: expired.id)?.state } == .ready)
        }
    }
}
