/// Where in a config file something was written.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// The file as the operator named it.
    public var file: String
    /// 1-based.
    public var line: Int
    /// 1-based, counted in Unicode scalars.
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// One problem found in a config file, with the place and the key path it concerns.
public struct ConfigDiagnostic: Sendable, Hashable, CustomStringConvertible {
    /// Where the problem is.
    public var location: SourceLocation
    /// The dotted path of the key, e.g. `queues.default.concurrency`; empty for the whole document.
    public var keyPath: String
    /// What is wrong and, where possible, how to fix it.
    public var message: String

    public init(location: SourceLocation, keyPath: String, message: String) {
        self.location = location
        self.keyPath = keyPath
        self.message = message
    }

    /// `file:line:column: key.path: message`, the shape compilers use, so editors can jump to it.
    public var description: String {
        keyPath.isEmpty ? "\(location): \(message)" : "\(location): \(keyPath): \(message)"
    }
}

/// A config file that cannot be used, with every problem found in it.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    /// All problems, in file order.
    public var diagnostics: [ConfigDiagnostic]

    public init(_ diagnostics: [ConfigDiagnostic]) {
        self.diagnostics = diagnostics.sorted {
            ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column)
        }
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// A dotted key path that quotes segments which contain dots themselves (handler names do).
struct KeyPath: Sendable, Hashable, CustomStringConvertible {
    private(set) var segments: [String] = []

    static let root = KeyPath()

    func appending(_ segment: String) -> KeyPath {
        var copy = self
        copy.segments.append(segment)
        return copy
    }

    func appending(index: Int) -> KeyPath {
        var copy = self
        if copy.segments.isEmpty {
            copy.segments.append("[\(index)]")
        } else {
            copy.segments[copy.segments.count - 1] += "[\(index)]"
        }
        return copy
    }

    var description: String {
        segments.map { segment in
            segment.contains(".") && !segment.hasSuffix("]") ? "\"\(segment)\"" : segment
        }.joined(separator: ".")
    }
}
