import Foundation
import Glibc
import Logging
import ServiceLifecycle

/// systemd's notification protocol (`sd_notify(3)`): `KEY=value` lines in one datagram to the
/// `AF_UNIX` socket named by `NOTIFY_SOCKET`. Written by hand because the mirror has no package for
/// it and linking libsystemd for one `sendto` is not worth a system-library target; the protocol is
/// small and stable (a path, or `@name` for the abstract namespace).
struct SystemdNotifier: Sendable {
    /// The socket address as systemd gives it.
    let socket: String

    /// Nil unless `NOTIFY_SOCKET` is set: not started by systemd (or not `Type=notify`).
    init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let socket = environment["NOTIFY_SOCKET"], socket.hasPrefix("/") || socket.hasPrefix("@") else { return nil }
        self.socket = socket
    }

    struct Failure: Error, CustomStringConvertible {
        let call: String
        let code: Int32
        var description: String { "\(call): \(String(cString: strerror(code)))" }
    }

    /// Sends `state` (e.g. `READY=1`, or several lines). Never blocks for long: a datagram to a
    /// socket nobody reads fails at once.
    func send(_ state: String) throws(Failure) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socket.utf8)
        let abstract = path.first == UInt8(ascii: "@")
        if abstract { path[0] = 0 }  // abstract namespace: a leading NUL, and no terminating one
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { throw Failure(call: "NOTIFY_SOCKET", code: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: path) }
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count + (abstract ? 0 : 1)

        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(call: "socket", code: errno) }
        defer { close(fd) }
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), address, socklen_t(length)) }
            }
        }
        guard sent == message.count else { throw Failure(call: "sendto \(socket)", code: sent < 0 ? errno : EMSGSIZE) }
    }

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, as `sd_watchdog_enabled(3)` advises;
    /// nil when systemd set no watchdog, or set it for another process (`WATCHDOG_PID`).
    static func watchdogInterval(
        environment: [String: String] = ProcessInfo.processInfo.environment, pid: pid_t = getpid()
    ) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], !owner.isEmpty, owner != "\(pid)" { return nil }
        return .microseconds(usec / 2)
    }
}

/// Tells systemd how `host run` is doing, as the last service of its group: the group starts its
/// services in order, so when this one runs the config and plugins have been checked and the
/// supervisor, runtime and scheduler have started: `READY=1`. It pings the watchdog from a task
/// on the cooperative pool, so a pool stalled by a blocking call stops the pings and systemd
/// restarts the host. The group shuts services down in reverse order, so this one hears of a
/// SIGTERM first: `STOPPING=1` goes out before the workers drain. (systemd stops watching the
/// watchdog once the unit is stopping.)
struct SystemdNotifyService: Service {
    let notifier: SystemdNotifier
    let watchdog: Duration?
    let status: String
    let logger: Logger

    /// Nil when not started by systemd with `Type=notify`.
    init?(status: String, logger: Logger) {
        guard let notifier = SystemdNotifier() else { return nil }
        self.notifier = notifier
        self.watchdog = SystemdNotifier.watchdogInterval()
        self.status = status
        self.logger = logger
    }

    func run() async throws {
        do {
            try notifier.send("READY=1\nSTATUS=\(status)")
        } catch {
            logger.warning("cannot notify systemd; it will consider the start failed", metadata: ["error": "\(error)"])
        }
        // Returns when graceful shutdown begins (or the group is cancelled); only then may this service end.
        try? await cancelWhenGracefulShutdown {
            guard let watchdog else { return try await gracefulShutdown() }
            while true {
                try? notifier.send("WATCHDOG=1")
                try await Task.sleep(for: watchdog)
            }
        }
        try? notifier.send("STOPPING=1\nSTATUS=stopping: running jobs finish or go back to their queues")
    }
}
