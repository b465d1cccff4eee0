import Foundation

/// A place in a plugin's config block, written the way the host reads it back from `init`'s error:
/// `config`, then `.key` for each key and `[n]` for each list index (`config.ai.model`,
/// `config.targets[2].url`). A key made of anything but letters, digits, `_` and `-` is quoted, with
/// `"` and `\` escaped: `config."a.b"`. The host's `PluginConfigPath` reads the same form; plugins link
/// nothing of the host's, so each side has its own.
struct ConfigPath: Hashable, Sendable, CustomStringConvertible {
    enum Component: Hashable, Sendable {
        case key(String)
        case index(Int)
    }

    var components: [Component] = []

    static let root = ConfigPath()

    init(_ components: [Component] = []) {
        self.components = components
    }

    /// The path a coding path names; list positions are the decoder's own ``IndexKey``s.
    init(_ codingPath: [any CodingKey]) {
        components = codingPath.map { key in
            if let index = key as? IndexKey { .index(index.index) } else { .key(key.stringValue) }
        }
    }

    func appending(_ component: Component) -> ConfigPath {
        ConfigPath(components + [component])
    }

    var description: String {
        var text = "config"
        for component in components {
            switch component {
            case .index(let index):
                text += "[\(index)]"
            case .key(let key) where !key.isEmpty && key.unicodeScalars.allSatisfy(Self.isBare):
                text += ".\(key)"
            case .key(let key):
                text += ".\"" + key.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
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

/// The coding key of a list element: its position, kept apart from mapping keys that look like numbers.
struct IndexKey: CodingKey {
    let index: Int
    init(_ index: Int) { self.index = index }
    init?(intValue: Int) { self.index = intValue }
    init?(stringValue: String) { nil }
    var intValue: Int? { index }
    var stringValue: String { "[\(index)]" }
}
