import Logging
import Synchronization

/// A swift-log handler that keeps every line, so tests can check what ops would read.
///
/// Copies of one capture (a `LogHandler` is a value, and `Logger` copies it) share one store, so
/// lines logged through any logger made from it show up in `lines`.
public struct LogCapture: LogHandler, Sendable {
    /// One logged line: its level, its message, and its metadata (the handler's merged with the
    /// call's) rendered as text.
    public struct Line: Sendable {
        public let level: Logger.Level
        public let message: String
        public let metadata: [String: String]

        /// The message and every metadata value, for checks that something appears nowhere.
        public var allText: String { ([message] + metadata.map { "\($0.key)=\($0.value)" }).joined(separator: " ") }
    }

    private final class Store: Sendable {
        let lines = Mutex<[Line]>([])
    }

    private let store = Store()
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init() {}

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }.mapValues { "\($0)" }
        store.lines.withLock { $0.append(Line(level: event.level, message: "\(event.message)", metadata: merged)) }
    }

    /// Every line logged so far, in order.
    public var lines: [Line] { store.lines.withLock { $0 } }

    /// A logger that writes into this capture.
    public func logger(label: String = "test") -> Logger {
        let handler = self
        return Logger(label: label) { _ in handler }
    }

    /// A logger that writes into this capture, labelled `test`.
    public var logger: Logger { logger(label: "test") }
}
