import Foundation
import Glibc

/// CPU time processes have used, read from `/proc/<pid>/stat` (user + system), so the benchmark can
/// say what a job costs the host and the server rather than only how fast the queue drained.
enum ProcessCPU {
    private static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// Seconds of CPU `pid` has used so far; 0 when it is gone.
    static func seconds(of pid: Int32) -> Double {
        guard let fields = statFields(of: pid), fields.count > 12,
            let user = Double(fields[11]), let system = Double(fields[12])
        else { return 0 }
        return (user + system) / ticksPerSecond
    }

    /// Seconds of CPU used by `root` and every live process under it (PostgreSQL's backends are
    /// children of its postmaster).
    static func treeSeconds(of root: Int32) -> Double {
        var children: [Int32: [Int32]] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry), let fields = statFields(of: pid), fields.count > 1, let parent = Int32(fields[1]) else { continue }
            children[parent, default: []].append(pid)
        }
        var total = 0.0
        var pending = [root]
        while let pid = pending.popLast() {
            total += seconds(of: pid)
            pending += children[pid] ?? []
        }
        return total
    }

    /// The fields after the command name (which may hold spaces and parentheses): state first, then
    /// ppid, …, utime at index 11 and stime at 12 (proc(5) numbers them 3, 4, …, 14, 15).
    private static func statFields(of pid: Int32) -> [Substring]? {
        let text = procText("/proc/\(pid)/stat")
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }
}

/// A /proc file read to its end ("" when the process is gone): it reports a size of 0, and a read
/// sized by it stops short (a worker's later mappings, its plugins among them, would be missing).
func procText(_ path: String) -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
    defer { try? handle.close() }
    return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
}
