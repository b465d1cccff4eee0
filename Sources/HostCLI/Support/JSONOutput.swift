import Foundation

/// Prints `value` as the commands' `--json` output: pretty, keys sorted, ISO 8601 dates.
/// - Parameter snakeCaseKeys: convert Swift property names (for types without their own keys).
func printJSON(_ value: some Encodable, snakeCaseKeys: Bool = false) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    if snakeCaseKeys { encoder.keyEncodingStrategy = .convertToSnakeCase }
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
