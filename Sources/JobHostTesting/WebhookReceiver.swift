import Foundation
import Glibc
import Synchronization

/// An HTTP server on 127.0.0.1 that records every request it receives, for tests of code that
/// POSTs to webhooks. It answers 200 `ok` (as Slack does) unless told otherwise, and can hold
/// requests unanswered to play a webhook that hangs.
///
/// In-process and plain sockets: it binds port 0 and keeps the socket, so the port is its own from
/// the start and no other server can race for it.
public final class WebhookReceiver: Sendable {
    /// One request as it arrived.
    public struct Request: Sendable {
        public let method: String
        public let path: String
        /// Header names lower-cased.
        public let headers: [String: String]
        public let body: String

        /// The body parsed as a JSON object, if it is one.
        public var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        }
    }

    public let port: Int
    private let listener: Int32
    private let state = Mutex(State())

    private struct State {
        var requests: [Request] = []
        /// Statuses for the next requests, in order; 200 once they are used up.
        var statuses: [Int] = []
        var holding = false
        var stopped = false
    }

    /// `http://127.0.0.1:PORT/hook`.
    public var url: String { "http://127.0.0.1:\(port)/hook" }

    /// Listens on a port the kernel picks and serves until ``stop()``, which every test must call:
    /// the accept thread keeps the receiver alive until then.
    public static func start() throws -> WebhookReceiver {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError.systemCall("socket", errno: errno) }
        var address = Loopback.loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let code = errno
            close(fd)
            throw HarnessError.systemCall("bind/listen on 127.0.0.1:0", errno: code)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            let code = errno
            close(fd)
            throw HarnessError.systemCall("getsockname", errno: code)
        }
        let receiver = WebhookReceiver(listener: fd, port: Int(UInt16(bigEndian: address.sin_port)))
        Thread.detachNewThread { receiver.acceptLoop() }
        return receiver
    }

    private init(listener: Int32, port: Int) {
        self.listener = listener
        self.port = port
    }

    /// Answers the next requests with `statuses`, one each, in order; then 200 again.
    public func answer(_ statuses: [Int]) {
        state.withLock { $0.statuses += statuses }
    }

    /// Records requests but leaves them unanswered until ``release()`` or ``stop()``.
    public func hold() {
        state.withLock { $0.holding = true }
    }

    public func release() {
        state.withLock { $0.holding = false }
    }

    /// Every request so far, in the order they arrived.
    public var requests: [Request] { state.withLock { $0.requests } }

    /// The requests once there are at least `count`, or all there are after `timeout`.
    public func requests(atLeast count: Int, timeout: Duration = .seconds(15)) async -> [Request] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let received = requests
            if received.count >= count { return received }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return requests
    }

    /// Stops listening; held requests are answered and closed.
    public func stop() {
        let first = state.withLock { state in
            defer { state.stopped = true }
            return !state.stopped
        }
        // shutdown, not close: it wakes the accept loop, which closes the socket itself, so the
        // descriptor cannot be reused by someone else while the loop still uses it.
        if first { shutdown(listener, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                break
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            if state.withLock({ $0.stopped }) {
                close(connection)
                break
            }
            Thread.detachNewThread { self.serve(connection) }
        }
        close(listener)
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var limit = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard let request = readRequest(fd) else { return }
        let status = state.withLock { state in
            state.requests.append(request)
            return state.statuses.isEmpty ? 200 : state.statuses.removeFirst()
        }
        while state.withLock({ $0.holding && !$0.stopped }) { usleep(10_000) }
        let body = status == 200 ? "ok" : "error"
        write(fd, "HTTP/1.1 \(status) \(status == 200 ? "OK" : "Error")\r\nContent-Type: text/plain\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
    }

    /// One request framed by Content-Length, or nil when the client went away first.
    private func readRequest(_ fd: Int32) -> Request? {
        var bytes: [UInt8] = []
        let separator = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        var head: [String] = []
        var headers: [String: String] = [:]
        var answeredContinue = false
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            if headEnd == nil, let end = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) {
                headEnd = end
                head = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
                for line in head.dropFirst() {
                    let parts = line.split(separator: ":", maxSplits: 1)
                    if parts.count == 2 {
                        headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
                    }
                }
            }
            if let end = headEnd {
                // curl waits for this before sending larger bodies.
                if !answeredContinue, headers["expect"]?.lowercased() == "100-continue" {
                    answeredContinue = true
                    write(fd, "HTTP/1.1 100 Continue\r\n\r\n")
                }
                let length = Int(headers["content-length"] ?? "0") ?? 0
                let start = end + separator.count
                if bytes.count >= start + length {
                    let requestLine = head.first?.split(separator: " ").map(String.init) ?? []
                    return Request(
                        method: requestLine.first ?? "", path: requestLine.count > 1 ? requestLine[1] : "",
                        headers: headers, body: String(decoding: bytes[start..<(start + length)], as: UTF8.self))
                }
            }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return nil }
            bytes.append(contentsOf: buffer[..<count])
        }
    }

    private func write(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        // MSG_NOSIGNAL: a client that hung up must not raise SIGPIPE in the test process.
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
