import Backend
import HostConfig
import Logging
import RedisBackend

/// The composition root for backends: config entries → clients.
enum Backends {
    /// A client for every backend the config names that this build supports; the others are
    /// reported in `unsupported` with the reason.
    static func make(_ config: HostConfiguration, logger: Logger) -> (available: [String: any JobBackend], unsupported: [String: String]) {
        var available: [String: any JobBackend] = [:]
        var unsupported: [String: String] = [:]
        for backend in config.backends {
            switch backend.kind {
            case .redis:
                var backendLogger = logger
                backendLogger[metadataKey: "backend"] = "\(backend.name)"
                available[backend.name] = RedisBackend(
                    url: backend.url.revealed, keyPrefix: backend.keyPrefix, connectTimeout: backend.connectTimeout,
                    logger: backendLogger)
            case .postgres:
                unsupported[backend.name] = "PostgreSQL backends are not built yet"
            }
        }
        return (available, unsupported)
    }
}
