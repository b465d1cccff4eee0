/// Expands `${VAR}` and `${VAR:-default}` in a scalar; `$$` writes a literal `$`.
///
/// Done per scalar after parsing, not on the file's text, so every line and column the parser reports
/// stays true and a value cannot inject YAML structure.
struct Interpolator: Sendable {
    let environment: [String: String]

    struct Failure: Error {
        let message: String
    }

    func expand(_ text: String) throws(Failure) -> String {
        guard text.contains("$") else { return text }
        var output = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            guard character == "$", next < text.endIndex else {
                output.append(character)
                index = next
                continue
            }
            if text[next] == "$" {
                output.append("$")
                index = text.index(after: next)
                continue
            }
            guard text[next] == "{" else {
                output.append(character)
                index = next
                continue
            }
            guard let close = text[next...].firstIndex(of: "}") else {
                throw Failure(message: "unterminated '${' in '\(text)'; write $$ for a literal $")
            }
            let body = String(text[text.index(after: next)..<close])
            output += try resolve(body)
            index = text.index(after: close)
        }
        return output
    }

    private func resolve(_ body: String) throws(Failure) -> String {
        let name: String
        let fallback: String?
        if let separator = body.range(of: ":-") {
            name = String(body[..<separator.lowerBound])
            fallback = String(body[separator.upperBound...])
        } else {
            name = body
            fallback = nil
        }
        guard !name.isEmpty, name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }) else {
            throw Failure(message: "'${\(body)}' is not a variable reference; names use letters, digits and _")
        }
        if let value = environment[name], !value.isEmpty { return value }
        if let fallback { return fallback }
        throw Failure(message: "environment variable \(name) is not set or is empty; set it, or give a default: ${\(name):-value}")
    }
}
