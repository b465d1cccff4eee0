import Foundation
internal import Spelling
import Yams

/// Walks a composed YAML tree, converting values and collecting every problem with its line, column
/// and key path (Yams' decoder reports neither line nor column for type errors or unknown keys).
final class NodeReader {
    let file: String
    let interpolator: Interpolator
    private(set) var diagnostics: [ConfigDiagnostic] = []

    init(file: String, interpolator: Interpolator) {
        self.file = file
        self.interpolator = interpolator
    }

    struct Entry {
        let key: String
        let keyNode: Node
        let value: Node
        let path: KeyPath
    }

    func location(_ node: Node?) -> SourceLocation {
        let mark = node?.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    func report(_ node: Node?, _ path: KeyPath, _ message: String) {
        diagnostics.append(ConfigDiagnostic(location: location(node), keyPath: path.description, message: message))
    }

    func report(at location: SourceLocation, _ path: KeyPath, _ message: String) {
        diagnostics.append(ConfigDiagnostic(location: location, keyPath: path.description, message: message))
    }

    /// The entries of a mapping in file order, `<<` merge keys expanded (their entries come first, as
    /// YAML says explicit keys win).
    func entries(of node: Node, at path: KeyPath) -> [Entry]? {
        if node.null != nil { return [] }
        guard case .mapping(let mapping) = node else {
            report(node, path, "expected a mapping of keys to values, found \(describe(node))")
            return nil
        }
        var merged: [Entry] = []
        var explicit: [Entry] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                report(keyNode, path, "keys must be plain text, found \(describe(keyNode))")
                continue
            }
            if keyScalar.string == "<<" {
                let sources: [Node]
                if case .sequence(let sequence) = value { sources = Array(sequence) } else { sources = [value] }
                // The first source that defines a key wins, as the YAML merge-key spec says.
                for source in sources {
                    for entry in entries(of: source, at: path) ?? [] where !merged.contains(where: { $0.key == entry.key }) {
                        merged.append(entry)
                    }
                }
                continue
            }
            explicit.append(Entry(key: keyScalar.string, keyNode: keyNode, value: value, path: path.appending(keyScalar.string)))
        }
        let explicitKeys = Set(explicit.map(\.key))
        return merged.filter { !explicitKeys.contains($0.key) } + explicit
    }

    /// A mapping whose keys must come from `allowed`; unknown keys are reported with a suggestion.
    /// - Parameter anchor: where a missing required key is reported: the key that owns the mapping.
    func fields(of node: Node, at path: KeyPath, anchor: Node? = nil, allowed: [String], section: String? = nil) -> Fields? {
        guard let entries = entries(of: node, at: path) else { return nil }
        var known: [String: Entry] = [:]
        for entry in entries {
            if allowed.contains(entry.key) {
                known[entry.key] = entry
                continue
            }
            var message = "unknown key '\(entry.key)' in \(section ?? (path.segments.isEmpty ? "the top level" : path.description))"
            if let guess = suggestion(for: entry.key, among: allowed) {
                message += "; did you mean '\(guess)'?"
            } else {
                message += "; known keys: \(allowed.joined(separator: ", "))"
            }
            report(entry.keyNode, entry.path, message)
        }
        return Fields(reader: self, node: node, anchor: anchor ?? node, path: path, entries: known)
    }

    /// The text of a scalar with `${VAR}` expanded; reports anything else.
    func text(_ node: Node, at path: KeyPath, expecting what: String) -> String? {
        guard case .scalar(let scalar) = node else {
            report(node, path, "expected \(what), found \(describe(node))")
            return nil
        }
        do {
            return try interpolator.expand(scalar.string)
        } catch {
            report(node, path, error.message)
            return nil
        }
    }

    /// The value as JSON-compatible Foundation objects: plain scalars are typed after `${VAR}`
    /// expansion (so `${PORT:-8080}` is a number), quoted scalars stay strings.
    func json(_ node: Node, at path: KeyPath) -> Any? {
        switch node {
        case .scalar(let scalar):
            guard let text = text(node, at: path, expecting: "a value") else { return nil }
            guard scalar.style == .plain || scalar.style == .any else { return text }
            switch text {
            case "", "~", "null", "Null", "NULL": return NSNull()
            case "true", "True", "TRUE": return true
            case "false", "False", "FALSE": return false
            default: break
            }
            if let integer = Int(text) { return integer }
            if let number = Double(text), number.isFinite { return number }
            return text
        case .sequence(let sequence):
            var items: [Any] = []
            for (index, item) in sequence.enumerated() {
                items.append(json(item, at: path.appending(index: index)) ?? NSNull())
            }
            return items
        case .mapping:
            var object: [String: Any] = [:]
            for entry in entries(of: node, at: path) ?? [] {
                object[entry.key] = json(entry.value, at: entry.path) ?? NSNull()
            }
            return object
        case .alias:
            return nil
        }
    }

    /// Where each key and list item under `node` was written, by its path below `node`: a key at its
    /// key, an item at its value. Merge keys count as `json` counts them (the first source defines a key,
    /// an explicit key wins). Quiet: `json` reports what is wrong with the same nodes.
    func keyLocations(in node: Node, at path: PluginConfigPath = .root) -> [PluginConfigPath: SourceLocation] {
        var locations: [PluginConfigPath: SourceLocation] = [:]
        switch node {
        case .mapping:
            for (key, keyNode, value) in effectiveEntries(of: node) {
                let inner = path.appending(.key(key))
                locations[inner] = location(keyNode)
                locations.merge(keyLocations(in: value, at: inner)) { $1 }
            }
        case .sequence(let sequence):
            for (index, item) in sequence.enumerated() {
                let inner = path.appending(.index(index))
                locations[inner] = location(item)
                locations.merge(keyLocations(in: item, at: inner)) { $1 }
            }
        case .scalar, .alias:
            break
        }
        return locations
    }

    /// A mapping's entries after merge keys, as `entries(of:at:)` finds them, without reporting.
    private func effectiveEntries(of node: Node) -> [(key: String, keyNode: Node, value: Node)] {
        guard case .mapping(let mapping) = node else { return [] }
        var merged: [(key: String, keyNode: Node, value: Node)] = []
        var explicit: [(key: String, keyNode: Node, value: Node)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else { continue }
            if scalar.string == "<<" {
                let sources: [Node]
                if case .sequence(let sequence) = value { sources = Array(sequence) } else { sources = [value] }
                for source in sources {
                    for entry in effectiveEntries(of: source) where !merged.contains(where: { $0.key == entry.key }) {
                        merged.append(entry)
                    }
                }
            } else {
                explicit.append((scalar.string, keyNode, value))
            }
        }
        let explicitKeys = Set(explicit.map(\.key))
        return merged.filter { !explicitKeys.contains($0.key) } + explicit
    }

    /// `json` serialised, keys sorted so the same config always gives the same text.
    func jsonText(_ node: Node?, at path: KeyPath, default fallback: String) -> String {
        guard let node, node.null == nil else { return fallback }
        guard let value = json(node, at: path) else { return fallback }
        guard let data = try? JSONSerialization.data(
            withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
        else { return fallback }
        return String(decoding: data, as: UTF8.self)
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        case .scalar(let scalar):
            node.null != nil && scalar.string.isEmpty ? "nothing" : "'\(scalar.string)'"
        }
    }
}

/// The known keys of one mapping, read with type checks; each failed read is reported and gives nil.
struct Fields {
    let reader: NodeReader
    let node: Node
    let anchor: Node
    let path: KeyPath
    let entries: [String: NodeReader.Entry]

    func has(_ key: String) -> Bool { entries[key] != nil }

    /// Where each value was written, by key.
    var valueLocations: [String: SourceLocation] { entries.mapValues { reader.location($0.value) } }
    func entry(_ key: String) -> NodeReader.Entry? { entries[key] }
    func location(_ key: String) -> SourceLocation { reader.location(entries[key]?.value ?? node) }
    func keyLocation(_ key: String) -> SourceLocation { reader.location(entries[key]?.keyNode ?? node) }

    /// Reports a missing required key at the mapping that lacks it.
    func require(_ key: String, hint: String = "") {
        if entries[key] == nil {
            reader.report(anchor, path.appending(key), "required key '\(key)' is missing\(hint.isEmpty ? "" : "; \(hint)")")
        }
    }

    func string(_ key: String) -> String? {
        guard let entry = entries[key] else { return nil }
        guard let text = reader.text(entry.value, at: entry.path, expecting: "text") else { return nil }
        if text.isEmpty {
            reader.report(entry.value, entry.path, "must not be empty")
            return nil
        }
        return text
    }

    func int(_ key: String, minimum: Int? = nil, maximum: Int? = nil) -> Int? {
        guard let entry = entries[key],
            let text = reader.text(entry.value, at: entry.path, expecting: "a whole number")
        else { return nil }
        guard let value = Int(text.trimmingWhitespace) else {
            reader.report(entry.value, entry.path, "expected a whole number, found '\(text)'")
            return nil
        }
        if let minimum, value < minimum {
            reader.report(entry.value, entry.path, "must be at least \(minimum), found \(value)")
            return nil
        }
        if let maximum, value > maximum {
            reader.report(entry.value, entry.path, "must be at most \(maximum), found \(value)")
            return nil
        }
        return value
    }

    func double(_ key: String, range: ClosedRange<Double>) -> Double? {
        guard let entry = entries[key],
            let text = reader.text(entry.value, at: entry.path, expecting: "a number")
        else { return nil }
        guard let value = Double(text.trimmingWhitespace), range.contains(value) else {
            reader.report(entry.value, entry.path, "expected a number from \(range.lowerBound) to \(range.upperBound), found '\(text)'")
            return nil
        }
        return value
    }

    func bool(_ key: String) -> Bool? {
        guard let entry = entries[key],
            let text = reader.text(entry.value, at: entry.path, expecting: "true or false")
        else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            reader.report(entry.value, entry.path, "expected true or false, found '\(text)'")
            return nil
        }
    }

    func duration(_ key: String, minimum: Duration = .milliseconds(1)) -> Duration? {
        guard let entry = entries[key],
            let text = reader.text(entry.value, at: entry.path, expecting: "a duration like 30s")
        else { return nil }
        do {
            let value = try DurationParser.parse(text)
            if value < minimum {
                reader.report(entry.value, entry.path, "must be at least \(minimum.configText), found \(text)")
                return nil
            }
            return value
        } catch {
            reader.report(entry.value, entry.path, error.message)
            return nil
        }
    }

    func byteSize(_ key: String, minimum: Int = 1 << 20) -> Int? {
        guard let entry = entries[key],
            let text = reader.text(entry.value, at: entry.path, expecting: "a size like 512MiB")
        else { return nil }
        do {
            let value = try ByteSizeParser.parse(text)
            if value < minimum {
                reader.report(entry.value, entry.path, "must be at least \(minimum >> 20)MiB, found \(text)")
                return nil
            }
            return value
        } catch {
            reader.report(entry.value, entry.path, error.message)
            return nil
        }
    }

    func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, _ type: Choice.Type) -> Choice?
    where Choice.RawValue == String {
        guard let entry = entries[key],
            let text = reader.text(entry.value, at: entry.path, expecting: "one of the allowed words")
        else { return nil }
        if let value = Choice(rawValue: text) { return value }
        let options = Choice.allCases.map(\.rawValue)
        var message = "'\(text)' is not one of \(options.joined(separator: ", "))"
        if let guess = suggestion(for: text, among: options) { message += "; did you mean '\(guess)'?" }
        reader.report(entry.value, entry.path, message)
        return nil
    }

    func stringList(_ key: String) -> [String]? {
        guard let entry = entries[key] else { return nil }
        guard case .sequence(let sequence) = entry.value else {
            reader.report(entry.value, entry.path, "expected a list, found \(reader.describe(entry.value))")
            return nil
        }
        return sequence.enumerated().compactMap { index, item in
            reader.text(item, at: entry.path.appending(index: index), expecting: "text")
        }
    }
}
