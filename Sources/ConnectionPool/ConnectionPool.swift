import Dispatch
import Synchronization

/// A fixed set of connections to a server; each call borrows one and blocks while all are busy
/// (never for long: every holder is bounded by its command timeout). Backends and the plugins'
/// database clients call from threads the runtime owns, which may block.
public final class ConnectionPool<Connection: Sendable>: Sendable {
    private let idle: Mutex<[Connection]>
    private let available: DispatchSemaphore

    public init(connections: [Connection]) {
        available = DispatchSemaphore(value: connections.count)
        idle = Mutex(connections)
    }

    public func withConnection<Result, Failure: Error>(_ body: (Connection) throws(Failure) -> Result) throws(Failure) -> Result {
        available.wait()
        // The most recently used connection first: the one most likely still connected and warm.
        let connection = idle.withLock { $0.removeLast() }
        defer {
            idle.withLock { $0.append(connection) }
            available.signal()
        }
        return try body(connection)
    }
}
