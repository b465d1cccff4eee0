import HTTPTypes
import Hummingbird

/// The dashboard's page, script and style, compiled into the binary. The page is a shell: everything
/// it shows it reads from the JSON API with the caller's own credentials, so it shows and changes
/// exactly what the API allows that caller.
struct DashboardPages: Sendable {
    static let paths: Set<String> = ["/", "/assets/dashboard.js", "/assets/dashboard.css"]

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in Self.asset(PackageResources.dashboard_html, type: "text/html; charset=utf-8") }
        router.get("assets/dashboard.js") { _, _ in Self.asset(PackageResources.dashboard_js, type: "text/javascript; charset=utf-8") }
        router.get("assets/dashboard.css") { _, _ in Self.asset(PackageResources.dashboard_css, type: "text/css; charset=utf-8") }
    }

    /// The page may load only its own script and style and talk only to this server; nothing of it
    /// can be framed by another site.
    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
        "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
    ].joined(separator: "; ")

    private static func asset(_ bytes: [UInt8], type: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: type, .cacheControl: "no-cache", .contentSecurityPolicy: contentSecurityPolicy,
                HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("Referrer-Policy")!: "no-referrer",
                HTTPField.Name("X-Frame-Options")!: "DENY",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
