import Foundation

/// A connection string that may hold a password. It prints with the password replaced by `***`,
/// so no message or log line built from it can leak the secret.
public struct ConnectionString: Sendable, Hashable, CustomStringConvertible {
    /// The full text, password included: hand it to the client library and nowhere else.
    public let revealed: String

    public init(_ text: String) { self.revealed = text }

    /// The text with any password masked.
    public var description: String { Redaction.redact(revealed) }

    /// The password it carries, if any.
    public var password: String? { Redaction.password(in: revealed) }
}

/// Masks passwords in URLs (`scheme://user:secret@host`) and keyword DSNs (`password=secret`).
public enum Redaction {
    public static let mask = "***"

    /// `text` with every password replaced by `***`.
    public static func redact(_ text: String) -> String {
        var result = text
        for range in passwordRanges(in: text).reversed() {
            result.replaceSubrange(range, with: mask)
        }
        return result
    }

    /// The first password in a URL's user info or a `password=` keyword, if there is one.
    public static func password(in text: String) -> String? {
        passwordRanges(in: text).first.map { String(text[$0]) }
    }

    /// Every password: the user info of `scheme://user:secret@host` (up to the last `@`, since a
    /// password may hold `/`, `?` or `#` unencoded), and each `password=` keyword or query item.
    private static func passwordRanges(in text: String) -> [Range<String.Index>] {
        var ranges: [Range<String.Index>] = []
        if let schemeEnd = text.range(of: "://"), let at = text[schemeEnd.upperBound...].lastIndex(of: "@"),
            let colon = text[schemeEnd.upperBound..<at].firstIndex(of: ":"), text.index(after: colon) < at
        {
            ranges.append(text.index(after: colon)..<at)
        }
        var searchStart = text.startIndex
        while let key = text.range(of: "password", options: .caseInsensitive, range: searchStart..<text.endIndex) {
            searchStart = key.upperBound
            let startsWord = key.lowerBound == text.startIndex || " ?&;\t".contains(text[text.index(before: key.lowerBound)])
            var rest = text[key.upperBound...].drop { $0 == " " }
            guard startsWord, rest.first == "=" else { continue }
            rest = rest.dropFirst().drop { $0 == " " }
            let quoted = rest.first == "'"
            if quoted { rest = rest.dropFirst() }
            let secret = rest.prefix { quoted ? $0 != "'" : !($0.isWhitespace || $0 == "&") }
            if !secret.isEmpty, !ranges.contains(where: { $0.overlaps(secret.startIndex..<secret.endIndex) }) {
                ranges.append(secret.startIndex..<secret.endIndex)
            }
        }
        return ranges.sorted { $0.lowerBound < $1.lowerBound }
    }
}

/// A URL that is a credential as a whole, as a Slack incoming-webhook URL is: whoever has it may post.
/// It prints as its scheme and host only, so no message or log line built from it can leak the rest.
public struct SecretURL: Sendable, Hashable, CustomStringConvertible {
    /// The full URL: hand it to the HTTP client and nowhere else.
    public let revealed: URL

    public init(_ url: URL) { self.revealed = url }

    /// `https://hooks.example.com/***`.
    public var description: String {
        let port = revealed.port.map { ":\($0)" } ?? ""
        return "\(revealed.scheme ?? "?")://\(revealed.host ?? "?")\(port)/\(Redaction.mask)"
    }
}
