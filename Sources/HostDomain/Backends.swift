import Backend
import HostConfig
import Logging
import PostgresBackend
import RedisBackend
import SQLiteBackend

/// The composition root for backends: config entries → clients.
public enum Backends {
    /// A client for every backend the config names, by name. Clients connect lazily: an unreachable
    /// server shows up in the first call, which the caller retries or reports. Every job a client
    /// fetches records `leaseOwner` (plus `/` and a number per fetch call) as its lease owner (see
    /// ``LeaseReclaimer``); every backend conforms to it and to ``HostRegistry``.
    public static func make(_ config: HostConfiguration, logger: Logger, leaseOwner: String = "") -> [String: any JobBackend] {
        var available: [String: any JobBackend] = [:]
        for backend in config.backends {
            var backendLogger = logger
            backendLogger[metadataKey: "backend"] = "\(backend.name)"
            switch backend.kind {
            case .redis:
                available[backend.name] = RedisBackend(
                    url: backend.url.revealed, keyPrefix: backend.keyPrefix, connectTimeout: backend.connectTimeout,
                    logger: backendLogger, leaseOwner: leaseOwner)
            case .postgres:
                available[backend.name] = PostgresBackend(
                    url: backend.url.revealed, schema: backend.schema, poolSize: backend.poolSize,
                    connectTimeout: backend.connectTimeout, logger: backendLogger, leaseOwner: leaseOwner)
            case .sqlite:
                available[backend.name] = SQLiteBackend(
                    path: backend.path, synchronous: SQLiteBackend.Synchronous(backend.synchronous), busyTimeout: backend.busyTimeout,
                    logger: backendLogger, leaseOwner: leaseOwner)
            }
        }
        return available
    }
}

extension SQLiteBackend.Synchronous {
    /// The backend's setting for the config's word: the two enums name the same pragma values, but
    /// the config does not depend on the backend module.
    init(_ setting: BackendConfig.Synchronous) {
        switch setting {
        case .full: self = .full
        case .normal: self = .normal
        }
    }
}
