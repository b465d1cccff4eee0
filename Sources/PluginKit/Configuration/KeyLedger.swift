internal import Spelling

/// What the types decoding one config block made of each mapping they opened: which keys they take
/// there. A key that none of them takes is unknown.
///
/// Several types may decode the same block (a plugin's own settings and a shared AI section), each
/// taking some of its keys; the verdict waits until all of them ran.
final class KeyLedger {
    /// One decode (one type) looking at the mapping at one path.
    private struct Visit {
        /// Keys written there that the coding-key type accepts.
        var taken: Set<String> = []
        /// Keys the type declares (every case of a `CaseIterable` coding-key type) or asked for: the
        /// candidates for "did you mean".
        var declared: Set<String> = []
        /// The coding-key type listed its cases: `declared` is complete even if the pass stopped early.
        var listed = false
    }

    /// Path → pass → what that pass made of the mapping there.
    private var visits: [ConfigPath: [Int: Visit]] = [:]
    /// Passes that threw; what they would have taken further on is not known.
    private var failed: Set<Int> = []
    /// The decode under way; each type of a multi-type decode is one pass.
    private(set) var pass = 0

    func beginPass() { pass += 1 }

    func passFailed() { failed.insert(pass) }

    /// A type opened the mapping at `path` with coding keys `Key`: each written key its coding-key
    /// type can be made from is taken, whatever the type does with it next.
    func opened<Key: CodingKey>(_ mapping: [String: ConfigValue], at path: ConfigPath, keyedBy: Key.Type) {
        var visit = visits[path, default: [:]][pass, default: Visit()]
        for key in mapping.keys where Key(stringValue: key) != nil { visit.taken.insert(key) }
        if let all = Key.self as? any CaseIterable.Type {
            visit.declared.formUnion(caseNames(all))
            visit.listed = true
        }
        visits[path, default: [:]][pass] = visit
    }

    /// A type asked for `key` in the mapping at `path` (whether or not it is written there).
    func asked(_ key: String, at path: ConfigPath) {
        visits[path, default: [:]][pass, default: Visit()].declared.insert(key)
    }

    /// Every written key no pass took, with a suggestion among the keys the passes declared there.
    ///
    /// A mapping counts only where every pass that failed had opened it: one that stopped before
    /// might have taken keys there.
    func unknownKeys(in root: ConfigValue) -> [PluginConfigurationError.Problem] {
        var problems: [PluginConfigurationError.Problem] = []
        for (path, passes) in visits {
            guard failed.isSubset(of: Set(passes.keys)), case .mapping(let mapping)? = root.value(at: path) else { continue }
            let taken = passes.values.reduce(into: Set<String>()) { $0.formUnion($1.taken) }
            let known = passes.values.reduce(into: Set<String>()) { $0.formUnion($1.declared) }.union(taken).sorted()
            // Keys asked for by a pass that stopped early are not all it takes: no list then.
            let complete = passes.allSatisfy { pass, visit in visit.listed || !failed.contains(pass) }
            for key in mapping.keys.sorted() where !taken.contains(key) {
                let message: String
                if let guess = suggestion(for: key, among: known) {
                    message = "unknown key; did you mean '\(guess)'?"
                } else if !complete {
                    message = "unknown key"
                } else if known.isEmpty {
                    message = "unknown key; no keys are taken here"
                } else {
                    message = "unknown key; known keys: \(known.joined(separator: ", "))"
                }
                problems.append(.init(path: path.appending(.key(key)), message: message))
            }
        }
        return problems
    }
}

/// The keys of a `CaseIterable` coding-key type: everything it declares, before any is asked for.
private func caseNames<Keys: CaseIterable>(_ type: Keys.Type) -> [String] {
    Keys.allCases.compactMap { ($0 as? any CodingKey)?.stringValue }
}

extension ConfigValue {
    /// The value at `path`, if the block has one there.
    func value(at path: ConfigPath) -> ConfigValue? {
        var current = self
        for component in path.components {
            switch (component, current) {
            case (.key(let key), .mapping(let mapping)):
                guard let next = mapping[key] else { return nil }
                current = next
            case (.index(let index), .list(let list)):
                guard list.indices.contains(index) else { return nil }
                current = list[index]
            default:
                return nil
            }
        }
        return current
    }
}
