import Glibc

/// A TCP client for 127.0.0.1 written independently of the harness's own, so that the tests do
/// not check the harness with itself.
enum LoopbackClient {
    enum Failure: Error, Equatable {
        case refused
        case other(errno: Int32)
    }

    /// Connects to `port`, sends `request`, and returns the first reply bytes that arrive.
    static func exchange(port: Int, _ request: String) throws -> String {
        let fd = try connected(port: port)
        defer { close(fd) }
        var limit = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw Failure.other(errno: errno)
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw Failure.other(errno: errno) }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// Whether connecting to `port` is refused, as it is when nothing listens there.
    static func isRefused(port: Int) -> Bool {
        do {
            close(try connected(port: port))
            return false
        } catch {
            return error as? Failure == .refused
        }
    }

    private static func connected(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.other(errno: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw code == ECONNREFUSED ? Failure.refused : Failure.other(errno: code)
        }
        return fd
    }
}
