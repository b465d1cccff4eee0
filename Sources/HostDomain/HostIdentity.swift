import Backend
import Foundation
import Glibc

/// Who this run of `host run` is: its `host.name`, an instance id new for every run, and what tells
/// its process apart on its machine. Lease owner ids start with ``leasePrefix``, so the jobs of a run
/// that is gone can be told apart from those of the run that replaced it.
public struct HostIdentity: Sendable {
    public let record: HostRecord

    /// How long a host's record may go unrefreshed before another run may take its name over.
    public static let staleAfter = Duration.seconds(10)
    /// How often a running host refreshes its record.
    public static let refreshEvery = Duration.seconds(2)

    public init(record: HostRecord) { self.record = record }

    /// This process, under `name`.
    public static func current(name: String) -> HostIdentity {
        let pid = getpid()
        return HostIdentity(record: HostRecord(
            name: name, instance: randomInstance(), bootID: pidSpace() ?? "", machine: ProcessInfo.processInfo.hostName, pid: pid,
            processStart: processStart(of: pid) ?? 0))
    }

    /// What every lease owner id of this run starts with: `<name>#<instance>/`.
    public var leasePrefix: String { Self.leasePrefix(of: record) }

    public static func leasePrefix(of record: HostRecord) -> String { "\(record.name)#\(record.instance)/" }

    /// The lease owner id of one holder in this run: `host` for the host's own threads, a worker's name
    /// and PID for a worker.
    public func leaseOwner(_ holder: String) -> String { leasePrefix + holder }

    /// Whether the process a record names still runs: only knowable on the same machine, in the same
    /// boot and PID namespace; nil when the record comes from elsewhere or the answer cannot be read.
    /// Never false for a process that may still run: false is what lets its jobs be taken back.
    public static func isRunning(_ record: HostRecord) -> Bool? {
        guard !record.bootID.isEmpty, record.bootID == pidSpace(), record.machine == ProcessInfo.processInfo.hostName else { return nil }
        if kill(record.pid, 0) != 0 {
            return errno == ESRCH ? false : nil
        }
        // The PID exists: it is the host's unless it was reused by another process since.
        guard let start = processStart(of: record.pid) else { return nil }
        return start == record.processStart
    }

    private static func randomInstance() -> String {
        (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    /// The boot id and this process's PID namespace: where a PID names the same process.
    private static func pidSpace() -> String? {
        guard let boot = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8),
            let namespace = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")
        else { return nil }
        return boot.trimmingCharacters(in: .whitespacesAndNewlines) + "/" + namespace
    }

    /// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks since boot. The fields
    /// are counted after the command name's closing parenthesis, since the name may hold spaces.
    private static func processStart(of pid: pid_t) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After ")": field 3 (state) is at index 0, so field 22 is at index 19.
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }
}
