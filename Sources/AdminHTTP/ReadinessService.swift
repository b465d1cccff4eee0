import ServiceLifecycle

/// Marks the host serving once its service group runs, and draining as soon as shutdown begins
/// (it is the group's last service, so the first to hear of it).
public struct ReadinessService: Service {
    let readiness: Readiness

    public init(readiness: Readiness) { self.readiness = readiness }

    public func run() async throws {
        readiness.serving()
        try? await gracefulShutdown()
        readiness.draining()
    }
}
