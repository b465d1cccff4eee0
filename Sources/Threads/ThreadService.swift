import ServiceLifecycle

/// An engine that runs on threads of its own, as a service of a `ServiceGroup`: started when the group
/// runs, stopped when graceful shutdown begins (SIGTERM, SIGINT). Stopping blocks (it waits for jobs in
/// flight), so it runs on a thread of its own too, never on the cooperative pool.
public struct ThreadService: Service, CustomStringConvertible {
    public let description: String
    private let start: @Sendable () -> Void
    private let stop: @Sendable () -> Void

    /// - Parameters:
    ///   - name: what logs call it (never a secret: the group logs it).
    ///   - start: returns once the engine's threads run.
    ///   - stop: returns once the engine has stopped.
    public init(name: String, start: @escaping @Sendable () -> Void, stop: @escaping @Sendable () -> Void) {
        description = name
        self.start = start
        self.stop = stop
    }

    public func run() async throws {
        start()
        try? await gracefulShutdown()
        let stop = self.stop
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            startThread(name: "jobhost.stop.\(description)") {
                stop()
                continuation.resume()
            }
        }
    }
}
