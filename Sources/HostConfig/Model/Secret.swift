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

    /// `text` with its password replaced by `***`.
    public static func redact(_ text: String) -> String {
        guard let range = passwordRange(in: text) else { return text }
        return text.replacingCharacters(in: range, with: mask)
    }

    /// The password in a URL's user info or a `password=` keyword, if there is one.
    public static func password(in text: String) -> String? {
        passwordRange(in: text).map { String(text[$0]) }
    }

    private static func passwordRange(in text: String) -> Range<String.Index>? {
        if let schemeEnd = text.range(of: "://") {
            let afterScheme = text[schemeEnd.upperBound...]
            let authority = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            guard let at = authority.lastIndex(of: "@"),
                let colon = authority[..<at].firstIndex(of: ":"),
                authority.index(after: colon) < at
            else { return nil }
            return authority.index(after: colon)..<at
        }
        // libpq keyword form: password=secret or password='se cret'
        guard let key = text.range(of: "password", options: .caseInsensitive) else { return nil }
        var rest = text[key.upperBound...].drop { $0 == " " }
        guard rest.first == "=" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        let quoted = rest.first == "'"
        if quoted { rest = rest.dropFirst() }
        let secret = rest.prefix { quoted ? $0 != "'" : !$0.isWhitespace }
        return secret.isEmpty ? nil : secret.startIndex..<secret.endIndex
    }
}
