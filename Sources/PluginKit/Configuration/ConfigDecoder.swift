import Foundation
internal import Spelling

/// Decodes a plugin's config block into the plugin's own types, strictly, and tells its ``KeyLedger``
/// which keys each mapping takes.
///
/// Why not `JSONDecoder`: it ignores keys no type asks for, so a misspelt key passes silently, and
/// its type errors name Swift types ("expected Int") rather than what the operator wrote. Here a type
/// error says "expected an integer, found a string", and the ledger finds the keys nobody takes.
struct ConfigDecoder: Decoder {
    let value: ConfigValue
    let codingPath: [any CodingKey]
    let ledger: KeyLedger
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    var path: ConfigPath { ConfigPath(codingPath) }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let mapping) = value else { throw mismatch([String: Any].self, "a mapping", value, codingPath) }
        ledger.opened(mapping, at: path, keyedBy: Key.self)
        return KeyedDecodingContainer(KeyedContainer(mapping: mapping, codingPath: codingPath, ledger: ledger))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .list(let list) = value else { throw mismatch([Any].self, "a list", value, codingPath) }
        return UnkeyedContainer(list: list, codingPath: codingPath, ledger: ledger)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueContainer(value: value, codingPath: codingPath, ledger: ledger)
    }

    /// `T` from this value. A URL is written as text, as in JSON (its own `Decodable` wants a mapping).
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == URL.self {
            let text = try SingleValueContainer(value: value, codingPath: codingPath, ledger: ledger).decode(String.self)
            // The text is not repeated: a URL may carry a password.
            guard let url = URL(string: text), url.scheme != nil else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "expected a URL (scheme://…), found a string that is not one"))
            }
            return url as! T
        }
        do {
            return try T(from: self)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.count == codingPath.count {
            // An enum with text values refuses a word it lacks in Swift's words; name the words it takes.
            guard case .string(let written) = value, let choices = choices(T.self) else { throw DecodingError.dataCorrupted(context) }
            var message = "expected one of \(choices.joined(separator: ", ")), found '\(written)'"
            if let guess = suggestion(for: written, among: choices) { message += "; did you mean '\(guess)'?" }
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: message))
        }
    }
}

/// The raw values of an enum that lists its cases, when they are text.
private func choices<T>(_ type: T.Type) -> [String]? {
    guard let enumeration = type as? any (CaseIterable & RawRepresentable).Type else { return nil }
    return rawValues(enumeration)
}

private func rawValues<E: CaseIterable & RawRepresentable>(_ type: E.Type) -> [String]? {
    let values = E.allCases.map(\.rawValue)
    return values.allSatisfy { $0 is String } ? values.map { "\($0)" } : nil
}

/// "expected <what>, found <what was written>", as a type mismatch (or a missing value for null).
func mismatch(_ type: Any.Type, _ expected: String, _ value: ConfigValue, _ codingPath: [any CodingKey]) -> DecodingError {
    let context = DecodingError.Context(codingPath: codingPath, debugDescription: "expected \(expected), found \(value.found)")
    return value == .null ? .valueNotFound(type, context) : .typeMismatch(type, context)
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let mapping: [String: ConfigValue]
    let codingPath: [any CodingKey]
    let ledger: KeyLedger

    var path: ConfigPath { ConfigPath(codingPath) }

    var allKeys: [Key] { mapping.keys.sorted().compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool {
        ledger.asked(key.stringValue, at: path)
        return mapping[key.stringValue] != nil
    }

    private func value(_ key: Key) throws -> ConfigValue {
        ledger.asked(key.stringValue, at: path)
        guard let value = mapping[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "required key is missing"))
        }
        return value
    }

    private func decoder(_ key: Key) throws -> ConfigDecoder {
        ConfigDecoder(value: try value(key), codingPath: codingPath + [key], ledger: ledger)
    }

    private func any<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T { try decoder(key).decode(T.self) }

    func decodeNil(forKey key: Key) throws -> Bool { try value(key) == .null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try any(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try any(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try any(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try any(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try any(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try any(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try any(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try any(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try any(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try any(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try any(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try any(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try any(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try any(type, key) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try any(type, key) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        ConfigDecoder(value: .mapping(mapping), codingPath: codingPath, ledger: ledger)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder { try decoder(key) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let list: [ConfigValue]
    let codingPath: [any CodingKey]
    let ledger: KeyLedger
    private(set) var currentIndex = 0

    init(list: [ConfigValue], codingPath: [any CodingKey], ledger: KeyLedger) {
        self.list = list
        self.codingPath = codingPath
        self.ledger = ledger
    }

    var count: Int? { list.count }
    var isAtEnd: Bool { currentIndex >= list.count }

    private mutating func next() throws -> ConfigDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                Any.self, .init(codingPath: codingPath, debugDescription: "expected more than \(list.count) items"))
        }
        defer { currentIndex += 1 }
        return ConfigDecoder(value: list[currentIndex], codingPath: codingPath + [IndexKey(currentIndex)], ledger: ledger)
    }

    private mutating func any<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(T.self) }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, list[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try any(type) }
    mutating func decode(_ type: String.Type) throws -> String { try any(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try any(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try any(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try any(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try any(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try any(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try any(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try any(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try any(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try any(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try any(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try any(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try any(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try any(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }

    mutating func superDecoder() throws -> any Decoder { try next() }
}

private struct SingleValueContainer: SingleValueDecodingContainer {
    let value: ConfigValue
    let codingPath: [any CodingKey]
    let ledger: KeyLedger

    func decodeNil() -> Bool { value == .null }

    func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let bool) = value else { throw mismatch(type, "true or false", value, codingPath) }
        return bool
    }

    func decode(_ type: String.Type) throws -> String {
        guard case .string(let string) = value else { throw mismatch(type, "a string", value, codingPath) }
        return string
    }

    func decode(_ type: Double.Type) throws -> Double {
        switch value {
        case .number(let number): return number
        case .integer(let integer): return Double(integer)
        default: throw mismatch(type, "a number", value, codingPath)
        }
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    /// A whole number that fits `T`; `5.0` counts as 5.
    private func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let range = T.self == Int.self || T.self == Int64.self ? "" : " from \(T.min) to \(T.max)"
        switch value {
        case .integer(let integer):
            if let fitting = T(exactly: integer) { return fitting }
        case .number(let number):
            if let fitting = T(exactly: number) { return fitting }
            if number.rounded() != number { throw mismatch(type, "an integer\(range)", value, codingPath) }
        default:
            throw mismatch(type, "an integer\(range)", value, codingPath)
        }
        let written: String = switch value {
        case .integer(let integer): "\(integer)"
        case .number(let number): "\(number)"
        default: value.found
        }
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "expected an integer\(range), found \(written)"))
    }

    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        // A type that wraps one value (an enum with raw values, a wrapper struct) decodes from the same place.
        try ConfigDecoder(value: value, codingPath: codingPath, ledger: ledger).decode(T.self)
    }
}
