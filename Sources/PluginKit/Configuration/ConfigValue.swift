import Foundation

/// A plugin's config block as a tree of JSON values, integers kept apart from other numbers so a
/// type error can say which one was written.
enum ConfigValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case list([ConfigValue])
    case mapping([String: ConfigValue])

    /// What was written, in the words of a type error: "expected an integer, found a string".
    var found: String {
        switch self {
        case .null: "nothing"
        case .bool(let value): "\(value)"
        case .integer: "an integer"
        case .number: "a number"
        case .string: "a string"
        case .list: "a list"
        case .mapping: "a mapping"
        }
    }

    /// The block's JSON text as a tree.
    static func parse(_ json: Data) throws -> ConfigValue {
        try JSONDecoder().decode(ConfigValue.self, from: json)
    }
}

extension ConfigValue: Decodable {
    init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let value = try? single.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? single.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? single.decode(Double.self) {
            self = .number(value)
        } else if let value = try? single.decode(String.self) {
            self = .string(value)
        } else if let value = try? single.decode([ConfigValue].self) {
            self = .list(value)
        } else {
            self = .mapping(try single.decode([String: ConfigValue].self))
        }
    }
}
