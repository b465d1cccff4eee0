import Yams

/// Turns the YAML parser's errors into diagnostics with a key path and a hint an operator can act on.
enum SyntaxErrors {
    static func diagnostic(for error: YamlError, text: String, file: String) -> ConfigDiagnostic {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var message = "YAML syntax error: \(problem)"
            if let context, !context.text.isEmpty {
                message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
            }
            if lines.indices.contains(mark.line - 1), lines[mark.line - 1].contains("\t") {
                message += "; the line holds a tab: YAML indents with spaces only"
            }
            // The construct that was left open names the key better than the place the parser gave up.
            let keyLine = context.map { $0.mark.line } ?? mark.line
            return ConfigDiagnostic(
                location: .init(file: file, line: mark.line, column: mark.column),
                keyPath: keyPath(at: keyLine, in: lines), message: message)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let first = context.mark.line
            let key = duplicates.first ?? "?"
            let second = secondOccurrence(of: key, after: first, in: lines) ?? first
            let path = keyPath(at: second, in: lines)
            return ConfigDiagnostic(
                location: .init(file: file, line: second, column: indentation(of: lines[safe: second - 1] ?? "") + 1),
                keyPath: path,
                message: "duplicate key '\(key)' (first written at line \(first)); a later value would silently replace the first, so remove one")
        case .reader(let problem, _, _, _):
            return ConfigDiagnostic(location: .init(file: file, line: 1, column: 1), keyPath: "", message: "cannot read the file: \(problem)")
        default:
            return ConfigDiagnostic(location: .init(file: file, line: 1, column: 1), keyPath: "", message: "\(error)")
        }
    }

    /// The key path of the block-style key on or above `line`, found from indentation: the YAML tree is
    /// not available when the parser stopped, but a config file is plain block mappings.
    static func keyPath(at line: Int, in lines: [String]) -> String {
        var keys: [String] = []
        var limit = Int.max
        var index = min(line, lines.count) - 1
        while index >= 0 {
            let text = lines[index]
            let indent = indentation(of: text)
            if let key = blockKey(text), indent < limit {
                keys.insert(key, at: 0)
                limit = indent
                if indent == 0 { break }
            }
            index -= 1
        }
        return keys.map { $0.contains(".") ? "\"\($0)\"" : $0 }.joined(separator: ".")
    }

    private static func secondOccurrence(of key: String, after line: Int, in lines: [String]) -> Int? {
        guard lines.indices.contains(line - 1) else { return nil }
        let indent = indentation(of: lines[line - 1])
        for index in line..<lines.count {
            let text = lines[index]
            guard blockKey(text) != nil else { continue }
            let currentIndent = indentation(of: text)
            if currentIndent < indent { return nil }
            if currentIndent == indent, blockKey(text) == key { return index + 1 }
        }
        return nil
    }

    private static func indentation(of line: String) -> Int { line.prefix { $0 == " " || $0 == "-" || $0 == "\t" }.count }

    private static func blockKey(_ line: String) -> String? {
        let body = line.drop { $0 == " " || $0 == "-" || $0 == "\t" }
        guard !body.hasPrefix("#"), let colon = body.firstIndex(of: ":") else { return nil }
        let after = body.index(after: colon)
        guard after == body.endIndex || body[after] == " " else { return nil }
        var key = String(body[..<colon]).trimmingWhitespace
        if key.count >= 2, let first = key.first, first == key.last, first == "\"" || first == "'" {
            key = String(key.dropFirst().dropLast())
        }
        return key.isEmpty ? nil : key
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
