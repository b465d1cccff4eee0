import Foundation
import HostConfig
import ServiceLifecycle

/// The supervisor as a service of a `ServiceGroup`: its workers run until graceful shutdown (SIGTERM,
/// SIGINT); then every worker drains within the config's `shutdown_timeout`.
public struct SupervisorService: Service {
    let supervisor: Supervisor
    let host: HostSettings

    public init(supervisor: Supervisor, host: HostSettings) {
        self.supervisor = supervisor
        self.host = host
    }

    public func run() async throws {
        supervisor.start()
        try? await gracefulShutdown()
        let supervisor = self.supervisor
        let host = self.host
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                supervisor.shutdown(timeout: host.shutdownTimeout, grace: host.timeoutGrace)
                continuation.resume()
            }
            thread.name = "jobhost.supervisor.shutdown"
            thread.start()
        }
    }
}
