import Foundation
import PluginHost

/// The plugins as `host list-plugins --json` prints them, and as a worker reports its survey.
public struct PluginSurveyReport: Codable, Sendable {
    public let plugins: [PluginEntry]
    public let searchPaths: [String]

    public init(plugins: [PluginEntry], searchPaths: [String]) {
        self.plugins = plugins
        self.searchPaths = searchPaths
    }

    init(loader: PluginLoader, results: [PluginLoadResult]) {
        self.init(plugins: results.map(PluginEntry.init), searchPaths: loader.searchPaths.map(\.path))
    }

    enum CodingKeys: String, CodingKey {
        case plugins, searchPaths = "search_paths"
    }

    /// As `list-plugins --json` prints it, on one line (the survey line a worker writes).
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

public struct PluginEntry: Codable, Sendable {
    public struct Handler: Codable, Sendable {
        public let name: String
        public let description: String
        public let defaultTimeoutMs: Int64?

        enum CodingKeys: String, CodingKey {
            case name, description, defaultTimeoutMs = "default_timeout_ms"
        }
    }

    public let name: String
    public let declaredName: String?
    public let version: String?
    public let abi: String?
    public let description: String?
    public let path: String?
    public let status: String
    public let check: String?
    public let reason: String?
    public let handlers: [Handler]

    enum CodingKeys: String, CodingKey {
        case name, declaredName = "declared_name", version, abi, description, path, status, check, reason, handlers
    }

    init(_ result: PluginLoadResult) {
        switch result {
        case .loaded(let plugin):
            self.init(
                name: plugin.name, declaredName: plugin.declaredName, version: plugin.version, abi: plugin.abiVersion,
                description: plugin.description, path: plugin.path, status: "ok", check: nil, reason: nil,
                handlers: plugin.handlers.map {
                    .init(name: $0.name, description: $0.description, defaultTimeoutMs: $0.defaultTimeout?.inMilliseconds)
                })
        case .refused(let refusal):
            self.init(refusal: refusal)
        }
    }

    public init(refusal: PluginRefusal) {
        self.init(
            name: refusal.plugin, declaredName: nil, version: nil, abi: nil, description: nil, path: refusal.path,
            status: "refused", check: refusal.check.rawValue, reason: refusal.reason, handlers: [])
    }

    init(
        name: String, declaredName: String?, version: String?, abi: String?, description: String?, path: String?, status: String,
        check: String?, reason: String?, handlers: [Handler]
    ) {
        self.name = name
        self.declaredName = declaredName
        self.version = version
        self.abi = abi
        self.description = description
        self.path = path
        self.status = status
        self.check = check
        self.reason = reason
        self.handlers = handlers
    }
}
