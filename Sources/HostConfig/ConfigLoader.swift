import Foundation
import Yams

/// Reads `host.yaml` into a ``HostConfiguration``, reporting every problem it finds at once.
public struct ConfigLoader: Sendable {
    /// Where `${VAR}` references are looked up.
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The config in `path`.
    /// - Throws: ``ConfigError`` with every problem found, each with file, line, column and key path.
    public func load(path: String) throws(ConfigError) -> HostConfiguration {
        try load(text: Self.readText(path: path), path: path)
    }

    /// The config in `text`, read from the file at `path` (relative paths resolve against its directory).
    public func load(text: String, path: String) throws(ConfigError) -> HostConfiguration {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL
        return try load(text: text, file: path, directory: directory)
    }

    /// The text of the config file at `path`.
    /// - Throws: ``ConfigError`` saying why it cannot be read.
    public static func readText(path: String) throws(ConfigError) -> String {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let decoded = String(data: data, encoding: .utf8) else {
                throw ConfigError([.init(location: .init(file: path, line: 1, column: 1), keyPath: "", message: "not UTF-8 text")])
            }
            return decoded
        } catch let error as ConfigError {
            throw error
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? "cannot read it (\(error.localizedDescription))"
            throw ConfigError([.init(location: .init(file: path, line: 1, column: 1), keyPath: "", message: reason)])
        }
    }

    /// The config in `text`, as if read from `file`.
    public func load(text: String, file: String, directory: URL) throws(ConfigError) -> HostConfiguration {
        let root: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else {
                throw ConfigError([.init(location: .init(file: file, line: 1, column: 1), keyPath: "",
                    message: "the file is empty; see config/host.yaml in the jobhost repository for a complete example")])
            }
            root = composed
        } catch let error as ConfigError {
            throw error
        } catch let error as YamlError {
            throw ConfigError([SyntaxErrors.diagnostic(for: error, text: text, file: file)])
        } catch {
            throw ConfigError([.init(location: .init(file: file, line: 1, column: 1), keyPath: "", message: "\(error)")])
        }
        let reader = NodeReader(file: file, interpolator: Interpolator(environment: environment))
        let parsed = SectionParser(reader: reader, directory: directory).parse(root)
        var diagnostics = reader.diagnostics
        if let (config, declared) = parsed {
            diagnostics += ConfigValidator(config: config)
                .diagnostics(declaredBackends: declared.backends, declaredQueues: declared.queues)
        }
        guard diagnostics.isEmpty, var config = parsed?.0 else {
            throw ConfigError(SecretScrubber(text: text, environment: environment).scrub(diagnostics))
        }
        config.file = file
        return config
    }
}

/// Masks, in every message, any password the config (or the variables it references) carries,
/// whatever message happened to echo it.
struct SecretScrubber {
    let secrets: [String]

    init(text: String, environment: [String: String]) {
        var found: [String] = []
        for line in text.split(separator: "\n") {
            if let password = Redaction.password(in: String(line)) { found.append(password) }
        }
        for (name, value) in environment where name.uppercased().contains("PASSWORD") || name.uppercased().contains("SECRET") {
            if !value.isEmpty { found.append(value) }
        }
        secrets = found.filter { $0.count >= 3 }.sorted { $0.count > $1.count }
    }

    func scrub(_ diagnostics: [ConfigDiagnostic]) -> [ConfigDiagnostic] {
        diagnostics.map { diagnostic in
            var copy = diagnostic
            for secret in secrets { copy.message = copy.message.replacingOccurrences(of: secret, with: Redaction.mask) }
            return copy
        }
    }
}
