import Glibc
import Synchronization

/// Ports and plain TCP on 127.0.0.1, the only address the harness's servers listen on.
public enum Loopback {
    /// Ports already given to a server in this process. The kernel may hand a just-closed port to
    /// the next `bind(0)`; with tests starting servers in parallel, two of them would then race
    /// for one port. Remembering them avoids that within the process; the retry on
    /// "Address already in use" covers other processes.
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port on 127.0.0.1 that was free a moment ago and has not been handed out before.
    ///
    /// Binding port 0 makes the kernel choose a free one; the socket is closed again so the server
    /// can bind it. Someone else may take it in between, which is why starting a server retries.
    public static func freePort() throws -> Int {
        for _ in 0..<100 {
            let port = try kernelChosenPort()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw HarnessError.systemCall("bind(127.0.0.1:0) kept returning ports already handed out", errno: EADDRINUSE)
    }

    private static func kernelChosenPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError.systemCall("socket", errno: errno) }
        defer { close(fd) }
        var address = loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw HarnessError.systemCall("bind(127.0.0.1:0)", errno: errno) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw HarnessError.systemCall("getsockname", errno: errno) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Sends `request` to 127.0.0.1:`port` and reads until `isComplete` accepts what arrived.
    ///
    /// Every step has a one-second limit, so a server that accepts but never answers costs a
    /// readiness poll one second rather than hanging it.
    ///
    /// - Returns: the bytes received, or `nil` if nothing listens, the connection broke, or the
    ///   reply stayed incomplete.
    static func exchange(port: Int, request: String, isComplete: ([UInt8]) -> Bool) -> [UInt8]? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var limit = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        let bytes = Array(request.utf8)
        // MSG_NOSIGNAL: a server that closes the connection must not raise SIGPIPE in the tests.
        let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { return nil }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while !isComplete(reply) {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return nil }
            reply.append(contentsOf: buffer[..<count])
        }
        return reply
    }

    static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}

extension Loopback {
    /// Makes and starts a server that keeps its port across restarts, on a port from ``freePort()``;
    /// if another process bound that port first (the server's log says "Address already in use"),
    /// on a new one, up to five times. A restart stays on its port: only the first start can move.
    static func startOnAFreePort<Server>(
        _ make: (_ port: Int) async throws -> Server, start: (Server) async throws -> Void
    ) async throws -> Server {
        let attempts = 5
        for attempt in 1...attempts {
            let server = try await make(try freePort())
            do {
                try await start(server)
                return server
            } catch HarnessError.serverFailedToStart(_, _, let logTail) where logTail.contains("Address already in use") && attempt < attempts {
                continue
            }
        }
        preconditionFailure("the last attempt either returns or throws")
    }
}
