/// Parses the memory sizes a config file uses: `512MiB`, `2GiB`, `300MB`, `64KiB` (binary and decimal
/// units; a bare number is refused, as a byte count is never what anyone means by a memory limit).
enum ByteSizeParser {
    struct Failure: Error {
        let message: String
    }

    private static let units: [(String, Double)] = [
        ("KiB", 1024), ("MiB", 1024 * 1024), ("GiB", 1024 * 1024 * 1024),
        ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000),
    ]

    static func parse(_ text: String) throws(Failure) -> Int {
        let trimmed = text.trimmingWhitespace
        let digits = trimmed.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unit = trimmed.dropFirst(digits.count).trimmingWhitespace
        guard let amount = Double(digits), !digits.isEmpty else {
            throw Failure(message: "'\(trimmed)' is not a size; write it like 512MiB or 2GiB")
        }
        guard !unit.isEmpty else {
            throw Failure(message: "'\(trimmed)' has no unit; write it like \(trimmed)MiB")
        }
        guard let factor = units.first(where: { $0.0.lowercased() == unit.lowercased() })?.1 else {
            throw Failure(message: "unknown unit '\(unit)' in '\(trimmed)'; units are KiB, MiB, GiB, KB, MB, GB")
        }
        let bytes = amount * factor
        guard bytes < 1e15 else { throw Failure(message: "'\(trimmed)' is larger than any machine") }
        return Int(bytes.rounded())
    }
}
