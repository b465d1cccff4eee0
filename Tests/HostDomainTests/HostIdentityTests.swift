import Backend
import Foundation
import Glibc
import HostDomain
import Testing

/// When a host record's process is known to have ended — the one answer that lets its jobs be taken back.
struct HostIdentityTests {
    let me = HostIdentity.current(name: "test").record

    @Test func thisProcessRuns() {
        #expect(HostIdentity.isRunning(me) == true)
    }

    @Test func aReusedPIDIsNotTheHost() {
        var reused = me
        reused.processStart += 1
        #expect(HostIdentity.isRunning(reused) == false)
    }

    @Test func anEndedProcessHasEnded() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        var ended = me
        ended.pid = child.processIdentifier
        #expect(HostIdentity.isRunning(ended) == false)
    }

    @Test func aRecordFromAnotherMachineOrPIDNamespaceIsUnknown() {
        var elsewhere = me
        elsewhere.bootID = "another-boot/pid:[1]"
        elsewhere.pid = 999_999
        #expect(HostIdentity.isRunning(elsewhere) == nil, "never 'ended': its jobs must not be taken back")
        var otherMachine = me
        otherMachine.machine = "other-machine"
        #expect(HostIdentity.isRunning(otherMachine) == nil)
    }

    @Test func leaseOwnersNameTheRunAndTheHolder() {
        let identity = HostIdentity.current(name: "web-1")
        #expect(identity.leasePrefix == "web-1#\(identity.record.instance)/")
        #expect(identity.leaseOwner("host") == identity.leasePrefix + "host")
        #expect(HostIdentity.current(name: "web-1").record.instance != identity.record.instance, "a new instance every run")
    }
}
