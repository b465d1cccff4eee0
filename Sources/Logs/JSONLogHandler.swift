import Glibc
import Logging
import Synchronization

/// A swift-log handler that writes each event as one JSON object on one line, for log collectors
/// (journald, Loki, Elasticsearch) that should not have to parse text:
///
///     {"ts":"2026-12-05T16:20:00.123Z","level":"info","label":"jobhost","message":"running","queue":"default","file":"Runtime/HostRuntime.swift","line":48}
///
/// Metadata keys are flattened into the object, sorted; a value is a string, or an object or array
/// when swift-log gives a dictionary or an array. A metadata key that would overwrite one of the
/// fixed fields is written as `meta.<key>` instead. It is on the path of every logged line, so the
/// line is built as bytes by hand (no `JSONEncoder`, no `Date` formatting) and written with one
/// `write(2)`.
struct JSONLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let output: LineWriter

    init(label: String, output: LineWriter = .standardError) {
        self.label = label
        self.output = output
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        // Fields from every source in one array, sorted once, rather than dictionaries merged and their
        // keys sorted: a worker logs a line per job, and merging cost more than writing.
        let provided = metadataProvider?.get() ?? [:]
        let explicit = event.metadata ?? [:]
        var fields: [Field] = []
        fields.reserveCapacity(metadata.count + provided.count + explicit.count + 1)
        for (key, value) in metadata { fields.append(Field(key: key, source: 0, value: value)) }
        for (key, value) in provided { fields.append(Field(key: key, source: 1, value: value)) }
        for (key, value) in explicit { fields.append(Field(key: key, source: 2, value: value)) }
        if let error = event.error, metadata["error"] == nil, provided["error"] == nil, explicit["error"] == nil {
            fields.append(Field(key: "error", source: 3, value: "\(error)"))
        }
        output.write(Self.line(
            timestamp: Self.now(), level: event.level, label: label, message: event.message.description, fields: fields,
            file: event.file, line: event.line))
    }

    /// One metadata field and where it came from: the logger's own (0), its provider (1), the call (2);
    /// of fields with the same key, the one from the later source is written.
    struct Field {
        var key: String
        var source: Int
        var value: Logger.Metadata.Value
    }

    /// The fields every line has, in this order; metadata may not overwrite them.
    static func isFixed(_ key: String) -> Bool {
        switch key {
        case "ts", "level", "label", "message", "file", "line": true
        default: false
        }
    }

    /// One line, newline included. Separate from ``log(event:)`` so that its output depends only on its input.
    static func line(
        timestamp: timespec, level: Logger.Level, label: String, message: String, fields: [Field], file: String, line: UInt
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(192 + message.utf8.count + fields.count * 24)
        out.append(contentsOf: #"{"ts":""#.utf8)
        appendTimestamp(timestamp, to: &out)
        out.append(contentsOf: #"","level":""#.utf8)
        out.append(contentsOf: level.rawValue.utf8)
        out.append(contentsOf: #"","label":"#.utf8)
        appendString(label, to: &out)
        out.append(contentsOf: #","message":"#.utf8)
        appendString(message, to: &out)
        var fields = fields
        fields.sort { $0.key != $1.key ? $0.key < $1.key : $0.source < $1.source }
        for (index, field) in fields.enumerated() {
            if index + 1 < fields.count, fields[index + 1].key == field.key { continue }
            out.append(UInt8(ascii: ","))
            appendString(isFixed(field.key) ? "meta." + field.key : field.key, to: &out)
            out.append(UInt8(ascii: ":"))
            appendValue(field.value, to: &out)
        }
        out.append(contentsOf: #","file":"#.utf8)
        appendString(file, to: &out)
        out.append(contentsOf: #","line":"#.utf8)
        out.append(contentsOf: String(line).utf8)
        out.append(contentsOf: "}\n".utf8)
        return out
    }

    private static func appendValue(_ value: Logger.Metadata.Value, to out: inout [UInt8]) {
        switch value {
        case .string(let text):
            appendString(text, to: &out)
        case .stringConvertible(let convertible):
            appendString(convertible.description, to: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                appendValue(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            out.append(UInt8(ascii: "{"))
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                appendString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                appendValue(dictionary[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string: quotes, backslashes and control characters escaped (RFC 8259 §7). Everything
    /// else, UTF-8 included, is copied as it is: a Swift string is always valid UTF-8.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        appendEscaped(text, to: &out)
        out.append(UInt8(ascii: "\""))
    }

    /// The inside of a JSON string: runs that need no escape are copied whole.
    private static func appendEscaped(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                start = index + 1
                out.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
                case UInt8(ascii: "\n"): out.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): out.append(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): out.append(UInt8(ascii: "t"))
                default:
                    out.append(contentsOf: #"u00"#.utf8)
                    out.append(hexDigits[Int(byte >> 4)])
                    out.append(hexDigits[Int(byte & 0xF)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
    }

    static func now() -> timespec {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return time
    }

    /// `2026-12-05T16:20:00.123Z`: UTC, milliseconds, the form every collector parses.
    static func appendTimestamp(_ time: timespec, to out: inout [UInt8]) {
        var seconds = time.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8((value / divisor) % 10))
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        out.append(UInt8(ascii: "."))
        digits(Int(time.tv_nsec) / 1_000_000, 3)
        out.append(UInt8(ascii: "Z"))
    }
}

/// Writes whole lines to a descriptor, each with one `write(2)` under a lock, so that lines from
/// different threads never interleave. (Worker processes share the supervisor's stderr: a pipe
/// keeps writes of up to `PIPE_BUF`, 4 KiB, whole across processes too; a longer line from two
/// processes at the same instant could interleave, which is why the line is one `write`, not several.)
final class LineWriter: Sendable {
    static let standardError = LineWriter(fd: STDERR_FILENO)

    private let fd: Mutex<Int32>

    init(fd: Int32) { self.fd = Mutex(fd) }

    func write(_ bytes: [UInt8]) {
        fd.withLock { fd in
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return  // stderr closed or full (EAGAIN): a log line is not worth blocking or dying for
                    }
                    offset += written
                }
            }
        }
    }
}
