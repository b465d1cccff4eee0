import Logging
import Synchronization

/// Keeps every log line, so tests can check what ops would read.
struct LogCapture: LogHandler {
    struct Line: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]

        /// The message and every metadata value, for checks that something appears nowhere.
        var allText: String { ([message] + metadata.map { "\($0.key)=\($0.value)" }).joined(separator: " ") }
    }

    final class Store: Sendable {
        let lines = Mutex<[Line]>([])
    }

    let store = Store()
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }.mapValues { "\($0)" }
        store.lines.withLock { $0.append(Line(level: event.level, message: "\(event.message)", metadata: merged)) }
    }

    var lines: [Line] { store.lines.withLock { $0 } }

    var logger: Logger {
        let handler = self
        return Logger(label: "test.alerts") { _ in handler }
    }
}
