import Foundation
import Glibc
import JobHostTesting
import Testing

/// `host run` under systemd's `Type=notify`: READY=1 once serving, WATCHDOG=1 every WATCHDOG_USEC/2,
/// STOPPING=1 on SIGTERM, all as datagrams to `NOTIFY_SOCKET`.
@Suite(.serialized)
struct SystemdNotifyTests {
    /// Stands in for systemd's notification socket: a Unix datagram socket bound to a path, or to a
    /// name in the abstract namespace.
    final class NotifySocket {
        let fd: Int32
        /// What `NOTIFY_SOCKET` says: the path, or `@name`.
        let address: String

        init(_ address: String) throws {
            self.address = address
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            var socketAddress = sockaddr_un()
            socketAddress.sun_family = sa_family_t(AF_UNIX)
            var bytes = Array(address.utf8)
            let abstract = bytes.first == UInt8(ascii: "@")
            if abstract { bytes[0] = 0 }
            withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: bytes) }
            let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (abstract ? 0 : 1))
            let bound = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
            guard fd >= 0, bound == 0 else { throw HarnessError.systemCall("bind \(address)", errno: errno) }
        }

        deinit { close(fd) }

        /// The datagrams waiting, without blocking.
        func receive() -> [String] {
            var messages: [String] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { return messages }
                messages.append(String(decoding: buffer[0..<count], as: UTF8.self))
            }
        }
    }

    /// Collects datagrams into `messages` until `condition` holds or `timeout` passes.
    static func collect(
        _ socket: NotifySocket, into messages: inout [String], timeout: Duration, until condition: ([String]) -> Bool = { _ in false }
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            messages += socket.receive()
            if condition(messages) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        messages += socket.receive()
    }

    @Test func readyThenWatchdogPingsThenStoppingOnSIGTERM() async throws {
        let harness = try await HostHarness.testPlugin()
        let socket = try NotifySocket(harness.directory.url.appendingPathComponent("notify.sock").path)
        let host = try harness.startHost(environment: ["NOTIFY_SOCKET": socket.address, "WATCHDOG_USEC": "400000"])
        var messages: [String] = []
        try await Self.collect(socket, into: &messages, timeout: .seconds(20)) { $0.contains { $0.hasPrefix("READY=1") } }
        let ready = try #require(messages.first { $0.hasPrefix("READY=1") }, "\(messages) \(host.log)")
        #expect(ready.contains("\nSTATUS=running queues default"))

        // Every 200 ms; a few are enough to show they repeat.
        messages = []
        try await Self.collect(socket, into: &messages, timeout: .seconds(10)) { $0.filter { $0 == "WATCHDOG=1" }.count >= 3 }
        #expect(messages.filter { $0 == "WATCHDOG=1" }.count >= 3, "\(messages)")

        host.send(SIGTERM)
        messages = []
        try await Self.collect(socket, into: &messages, timeout: .seconds(5)) { $0.contains { $0.hasPrefix("STOPPING=1") } }
        #expect(messages.contains { $0.hasPrefix("STOPPING=1") }, "\(messages) \(host.log)")
        #expect(!messages.contains { $0.hasPrefix("READY=1") })
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0, "\(host.log)")
    }

    @Test func anAbstractSocketWorksAndAWatchdogMeantForAnotherProcessIsNotPinged() async throws {
        let harness = try await HostHarness.testPlugin()
        let socket = try NotifySocket("@jobhost-test-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        // systemd sets WATCHDOG_PID to the process it watches: here, not the host.
        let host = try harness.startHost(environment: ["NOTIFY_SOCKET": socket.address, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "\(getpid())"])
        var messages: [String] = []
        try await Self.collect(socket, into: &messages, timeout: .seconds(20)) { $0.contains { $0.hasPrefix("READY=1") } }
        #expect(messages.contains { $0.hasPrefix("READY=1") }, "\(messages) \(host.log)")
        try await Self.collect(socket, into: &messages, timeout: .milliseconds(600))
        host.send(SIGTERM)
        try await Self.collect(socket, into: &messages, timeout: .seconds(5)) { $0.contains { $0.hasPrefix("STOPPING=1") } }
        #expect(messages.contains { $0.hasPrefix("STOPPING=1") }, "\(messages)")
        #expect(!messages.contains("WATCHDOG=1"), "\(messages)")
        #expect(await host.waitUntilExit(timeout: .seconds(60)) == 0, "\(host.log)")
    }
}
