import CWorkerSupport
import Foundation
import Glibc
import Synchronization
import Threads

/// Writes a worker's reports to the supervisor's pipe. Lines about held jobs go out at once (a job
/// the supervisor does not know of waits for its lease to expire if the worker dies); lines about
/// starts, returns and settlements are gathered for a millisecond and written together, so the
/// pipe costs one write per batch rather than three per job.
final class ReportWriter: Sendable {
    private let fd: Int32
    /// Held while writing, so a batch and an immediate line never interleave.
    private let writing = Mutex(())
    private let pending = Mutex<[UInt8]>([])
    private let wake = DispatchSemaphore(value: 0)

    init(fd: Int32) {
        self.fd = fd
        startThread(name: "jobhost.worker.report") { [self] in flushLoop() }
    }

    /// Writes `reports` now, after anything gathered before them.
    func send(_ reports: [WorkerReport]) {
        var bytes = takePending()
        for report in reports { report.write(to: &bytes) }
        write(bytes)
    }

    /// Gathers `reports` for the next batch.
    func gather(_ reports: [WorkerReport]) {
        guard !reports.isEmpty else { return }
        let wasEmpty = pending.withLock { buffer -> Bool in
            let empty = buffer.isEmpty
            for report in reports { report.write(to: &buffer) }
            return empty
        }
        if wasEmpty { wake.signal() }
    }

    /// Writes whatever is gathered; call before the process exits.
    func flush() { write(takePending()) }

    private func flushLoop() {
        while true {
            wake.wait()
            usleep(1000)
            flush()
        }
    }

    private func takePending() -> [UInt8] {
        pending.withLock { buffer in
            defer { buffer.removeAll(keepingCapacity: true) }
            return buffer
        }
    }

    /// Writes whole lines, at most `PIPE_BUF` bytes per write(2): a pipe write that size is atomic,
    /// so a crash line the C reporter writes from a signal handler lands between two lines, never
    /// inside one.
    private func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        writing.withLock { _ in
            bytes.withUnsafeBytes { raw in
                var start = 0
                while start < raw.count {
                    var end = min(start + Int(PIPE_BUF), raw.count)
                    if end < raw.count, let lastNewline = raw[start..<end].lastIndex(of: UInt8(ascii: "\n")) { end = lastNewline + 1 }
                    var offset = start
                    while offset < end {
                        let written = Glibc.write(fd, raw.baseAddress! + offset, end - offset)
                        if written < 0 {
                            if errno == EINTR { continue }
                            return  // the supervisor is gone; this process dies with it
                        }
                        offset += written
                    }
                    start = end
                }
            }
        }
    }
}
