import Foundation

/// The plugin's own `config:` block from the host's YAML, handed to `onInit`.
///
/// Decode it with ``decode(_:)`` into a type that declares every key the plugin takes; the block is
/// checked as the host checks its own keys:
/// ```swift
/// struct Settings: Decodable {
///     var databaseURL: String          // required
///     var batchSize: Int?              // may be left out: the plugin's default then
///
///     enum CodingKeys: String, CodingKey, CaseIterable {   // every key the plugin takes
///         case databaseURL = "database_url", batchSize = "batch_size"
///     }
/// }
/// let settings = try config.decode(Settings.self)
/// let batchSize = settings.batchSize ?? 7
/// ```
/// A key no type takes (`batch_sise: 5`), a value of the wrong type (`batch_size: "seven"`) and a
/// missing key without a default each become one line of the error, which the host prints at that
/// key's place in the YAML: `host.yaml:47:7: plugins.Voxa.config.batch_sise: unknown key; did you
/// mean 'batch_size'?`.
public struct PluginConfiguration: Sendable {
    /// The block as a JSON object (`{}` when the YAML has none).
    public let json: Data

    /// A block as the host hands it over; tests build one from JSON text.
    public init(json: Data) {
        self.json = json
    }

    /// The block decoded into your own type, every key checked.
    ///
    /// Every key written in the block must be one the type takes: a case of its coding keys. With
    /// `CaseIterable` coding keys, every mistake is found in one go and "did you mean" chooses among
    /// all of them; without, among the keys asked for until decoding stopped.
    /// - Throws: ``PluginConfigurationError``, one ``PluginConfigurationError/Problem`` per mistake.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws(PluginConfigurationError) -> T {
        let check = try BlockCheck(json)
        let value = check.decode(T.self)
        try check.finish()
        return value!
    }

    /// Several types decoded from the one block, each taking some of its keys (the plugin's own
    /// settings and a shared section such as the AI client's): a key is unknown only when none of
    /// them takes it, and the mistakes of all of them are reported together.
    /// ```swift
    /// let (settings, ai) = try config.decode(Settings.self, AIConfiguration.self)
    /// ```
    public func decode<each T: Decodable>(_ types: repeat (each T).Type) throws(PluginConfigurationError) -> (repeat each T) {
        let check = try BlockCheck(json)
        let values = (repeat check.decode(each types))
        try check.finish()
        func unwrap<Value>(_ value: Value?) -> Value { value! }
        return (repeat unwrap(each values))
    }
}

/// A config block the plugin cannot use; the host refuses the plugin with this text.
///
/// Its ``description`` is what `init` writes into `error_out`: one line per problem,
/// `config.<key path>: <message>`, which the host places at that key in the YAML.
public struct PluginConfigurationError: Error, CustomStringConvertible, Sendable {
    /// One thing wrong with one key (or the whole block).
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        let location: ConfigPath
        /// What is wrong, e.g. "unknown key; did you mean 'batch_size'?".
        public let message: String

        /// Where: `config`, then the keys, e.g. `config.batch_size` or `config.ai.model`.
        public var path: String { location.description }

        /// A problem with the value at `keys` (none: the whole block).
        public init(at keys: [String], message: String) {
            self.init(path: ConfigPath(keys.map { .key($0) }), message: message)
        }

        init(path: ConfigPath, message: String) {
            self.location = path
            self.message = message
        }

        /// `config.<key path>: <message>`, the line the host places.
        public var description: String { "\(path): \(message)" }
    }

    /// What is wrong, key by key; empty for an error made from free text.
    public let problems: [Problem]
    private let text: String?

    /// What `init` reports: one line per problem.
    public var description: String { text ?? problems.map(\.description).joined(separator: "\n") }

    /// Refuses the plugin with `description` as it is. The host places it at the plugin's entry,
    /// or at a key when each line follows the `config.<key path>: <message>` form.
    public init(description: String) {
        self.problems = []
        self.text = description
    }

    /// Refuses the plugin for the value at `keys`, e.g. `PluginConfigurationError(at: "consolidate_keep",
    /// message: "must be less than consolidate_over (1000)")`.
    public init(at keys: String..., message: String) {
        self.init(problems: [Problem(at: keys, message: message)])
    }

    /// Refuses the plugin for all of `problems`.
    public init(problems: [Problem]) {
        self.problems = problems
        self.text = nil
    }
}

/// One check of a block by one or more types: the block parsed once, each type decoded in turn, the
/// problems of all of them kept, then the keys none of them took.
private final class BlockCheck {
    let root: ConfigValue
    let ledger = KeyLedger()
    var problems: [PluginConfigurationError.Problem] = []

    init(_ json: Data) throws(PluginConfigurationError) {
        do {
            root = try ConfigValue.parse(json)
        } catch {
            throw PluginConfigurationError(problems: [.init(path: .root, message: "not valid JSON: \(describeDecodingFailure(error))")])
        }
        guard case .mapping = root else {
            throw PluginConfigurationError(problems: [.init(path: .root, message: "expected a mapping, found \(root.found)")])
        }
    }

    /// `T` from the block, or nil with its problem kept.
    func decode<T: Decodable>(_ type: T.Type) -> T? {
        ledger.beginPass()
        do {
            return try ConfigDecoder(value: root, codingPath: [], ledger: ledger).decode(T.self)
        } catch {
            ledger.passFailed()
            problems += Self.problems(error)
            return nil
        }
    }

    /// Throws every problem found, each once, in key-path order.
    func finish() throws(PluginConfigurationError) {
        var seen = Set<PluginConfigurationError.Problem>()
        let all = (problems + ledger.unknownKeys(in: root)).filter { seen.insert($0).inserted }
        guard all.isEmpty else {
            throw PluginConfigurationError(problems: all.sorted { ($0.path, $0.message) < ($1.path, $1.message) })
        }
    }

    static func problems(_ error: any Error) -> [PluginConfigurationError.Problem] {
        switch error {
        case let error as PluginConfigurationError where !error.problems.isEmpty:
            return error.problems
        case DecodingError.keyNotFound(let key, let context):
            return [.init(path: ConfigPath(context.codingPath + [key]), message: "required key is missing")]
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context), DecodingError.dataCorrupted(let context):
            return [.init(path: ConfigPath(context.codingPath), message: context.debugDescription)]
        default:
            return [.init(path: .root, message: String(describing: error))]
        }
    }
}
