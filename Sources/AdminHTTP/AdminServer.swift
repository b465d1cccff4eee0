import Hummingbird
import HostConfig
import Logging
import ServiceLifecycle

/// The admin HTTP server of `host run`: probes, Prometheus metrics, the JSON API (see
/// `docs/admin-api.yaml`) and the web dashboard, on the address of the config's `admin:` block.
public enum AdminServer {
    /// The server as a service of the host's group. Fails at once when the address is taken.
    public static func service(
        _ host: AdminHost, settings: AdminSettings, token: String?, logger: Logger
    ) -> some Service {
        let router = Router(options: .autoGenerateHeadEndpoints)
        let token = token.map(BearerToken.init)
        let routeMethods = RouteMethods()
        router.add(middleware: ServedMethods(table: routeMethods))
        router.add(middleware: AdminAccess(token: token, openReads: settings.openReads))
        Probes(host: host).register(on: router)
        AdminAPI(host: host).register(on: router)
        if settings.dashboard {
            DashboardPages().register(on: router)
            DashboardSession(token: token, openReads: settings.openReads, logger: logger).register(on: router)
        }
        routeMethods.load(router)
        var serverLogger = logger
        // The server's own lines (connection states, parse errors, at debug and trace) are noise
        // next to the host's: warnings and worse still come through; the API logs what it changes.
        serverLogger.logLevel = max(logger.logLevel, .warning)
        return Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil),
            onServerRunning: { channel in
                logger.notice("admin server listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
            },
            logger: serverLogger)
    }
}
