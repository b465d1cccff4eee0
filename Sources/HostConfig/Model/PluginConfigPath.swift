/// A place inside a plugin's `config:` block, as a plugin names it when its `init` refuses the block:
/// `config`, then `.key` per key and `[n]` per list index (`config.batch_size`, `config.ai.model`,
/// `config.targets[2].url`); a key with other characters than letters, digits, `_` and `-` is quoted,
/// `"` and `\` escaped (`config."a.b"`). jobhost.h documents the form at `jh_init_fn`.
public struct PluginConfigPath: Sendable, Hashable, CustomStringConvertible {
    public enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public var components: [Component]

    /// The block itself.
    public static let root = PluginConfigPath([])

    public init(_ components: [Component]) {
        self.components = components
    }

    /// The paths that lead here, longest first, ending with the block itself.
    var prefixes: [PluginConfigPath] {
        (0...components.count).reversed().map { PluginConfigPath(Array(components.prefix($0))) }
    }

    func appending(_ component: Component) -> PluginConfigPath {
        PluginConfigPath(components + [component])
    }

    /// `config.ai.model`, as the plugin wrote it.
    public var description: String {
        var text = "config"
        for component in components {
            switch component {
            case .index(let index):
                text += "[\(index)]"
            case .key(let key) where !key.isEmpty && key.unicodeScalars.allSatisfy(Self.isBare):
                text += ".\(key)"
            case .key(let key):
                var quoted = ""
                for character in key {
                    if character == "\"" || character == "\\" { quoted.append("\\") }
                    quoted.append(character)
                }
                text += ".\"\(quoted)\""
            }
        }
        return text
    }

    private static func isBare(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "_", "-": true
        default: false
        }
    }
}

/// One problem a plugin's `init` reported with its config block, in the form jobhost.h documents:
/// a line `config.<key path>: <message>`.
public struct PluginConfigProblem: Sendable, Hashable {
    public var path: PluginConfigPath
    public var message: String

    public init(path: PluginConfigPath, message: String) {
        self.path = path
        self.message = message
    }

    /// The lines of an `init` error that follow the form, and the others as they were written.
    public static func parse(initError text: String) -> (problems: [PluginConfigProblem], otherLines: [String]) {
        var problems: [PluginConfigProblem] = []
        var others: [String] = []
        for line in text.split(separator: "\n") {
            let line = line.hasSuffix("\r") ? line.dropLast() : line
            if let problem = PluginConfigProblem(line: line) {
                problems.append(problem)
            } else if !line.allSatisfy(\.isWhitespace) {
                others.append(String(line))
            }
        }
        return (problems, others)
    }

    /// Reads `config<.key | ."quoted key" | [index]>*: <message>`; nil for any other line. Keys are
    /// read leniently (anything up to `.`, `[`, `:` or a space), though plugins should quote as
    /// ``PluginConfigPath`` writes.
    init?(line: Substring) {
        var rest = line[...]
        guard rest.hasPrefix("config") else { return nil }
        rest = rest.dropFirst("config".count)
        var components: [PluginConfigPath.Component] = []
        while let first = rest.first, first != ":" {
            rest = rest.dropFirst()
            switch first {
            case ".":
                if rest.first == "\"" {
                    rest = rest.dropFirst()
                    var key = ""
                    var closed = false
                    while let character = rest.popFirst() {
                        if character == "\\", let escaped = rest.popFirst() {
                            key.append(escaped)
                        } else if character == "\"" {
                            closed = true
                            break
                        } else {
                            key.append(character)
                        }
                    }
                    guard closed else { return nil }
                    components.append(.key(key))
                } else {
                    let key = rest.prefix { !".[:\"".contains($0) && !$0.isWhitespace }
                    guard !key.isEmpty else { return nil }
                    rest = rest.dropFirst(key.count)
                    components.append(.key(String(key)))
                }
            case "[":
                let digits = rest.prefix(while: \.isASCIIDigitCharacter)
                guard let index = Int(digits), rest.dropFirst(digits.count).first == "]" else { return nil }
                rest = rest.dropFirst(digits.count + 1)
                components.append(.index(index))
            default:
                return nil
            }
        }
        guard rest.first == ":" else { return nil }
        let message = rest.dropFirst().trimmingWhitespace
        guard !message.isEmpty else { return nil }
        self.init(path: PluginConfigPath(components), message: message)
    }
}

extension PluginConfig {
    /// Where a path of the plugin's block was written: the key (or list item) itself, else the
    /// nearest key above it that was written (a missing key is reported where it belongs), else the
    /// `config:` key, else the plugin's entry.
    public func location(of path: PluginConfigPath) -> SourceLocation {
        for prefix in path.prefixes {
            if let location = configKeyLocations[prefix] { return location }
        }
        return configLocation ?? location
    }

    /// The problems an `init` error reports with the block, each at its key's place, with the key
    /// path `plugins.<name>.config.<key path>`; and what else the error says, unplaced.
    public func diagnostics(forInitError text: String) -> (placed: [ConfigDiagnostic], otherLines: [String]) {
        let (problems, others) = PluginConfigProblem.parse(initError: text)
        let placed = problems.map { problem in
            ConfigDiagnostic(location: location(of: problem.path), keyPath: "plugins.\(name).\(problem.path)", message: problem.message)
        }
        return (placed, others)
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}
