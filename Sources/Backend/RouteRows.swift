import Durations
import Foundation

/// Routes as the JSON array a backend's publish statement or script reads in one go:
/// `[{"handler":…,"queue":…,"max_attempts":…,"timeout_ms":…}, …]`, sorted by handler so that hosts
/// publishing at once lock rows in one order.
public enum RouteRows {
    struct Row: Codable {
        var handler: String
        var queue: String
        var max_attempts: Int
        var timeout_ms: Int64
    }

    public static func json(_ routes: [RouteEntry]) -> String {
        let rows = routes.sorted { $0.handler < $1.handler }.map {
            Row(handler: $0.handler, queue: $0.queue, max_attempts: $0.maxAttempts, timeout_ms: Int64($0.timeout.roundedUpMilliseconds))
        }
        // Encoding plain strings and integers cannot fail.
        return String(decoding: (try? JSONEncoder().encode(rows)) ?? Data("[]".utf8), as: UTF8.self)
    }

    /// Refuses what no backend can keep: an empty handler or queue, attempts below 1, NUL bytes.
    public static func validate(_ routes: [RouteEntry], by host: String) throws(BackendError) {
        guard !host.isEmpty, !host.utf8.contains(0) else {
            throw BackendError(.invalid, "a route's publisher must be a non-empty host name without NUL bytes")
        }
        for route in routes {
            guard !route.handler.isEmpty, !route.handler.utf8.contains(0), !route.queue.isEmpty, !route.queue.utf8.contains(0) else {
                throw BackendError(.invalid, "route of handler \"\(route.handler)\": handler and queue must be non-empty names without NUL bytes")
            }
            guard JobFieldLimits.maxAttempts.contains(route.maxAttempts) else {
                throw BackendError(.invalid, "route of handler \(route.handler): max attempts must be 1 to \(JobFieldLimits.maxAttempts.upperBound), not \(route.maxAttempts)")
            }
        }
    }
}
