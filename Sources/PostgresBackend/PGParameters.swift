/// PostgreSQL array literals for text parameters: `{"a","b\"c",NULL}`. Every element is quoted, so any
/// text (commas, braces, spaces, the word NULL) comes back as it was.
enum PGArray {
    static func text(_ elements: [String?]) -> String {
        var literal = "{"
        literal.reserveCapacity(elements.reduce(2) { $0 + ($1?.utf8.count ?? 4) + 3 })
        for (index, element) in elements.enumerated() {
            if index > 0 { literal += "," }
            guard let element else {
                literal += "NULL"
                continue
            }
            literal += "\""
            for character in element.unicodeScalars {
                if character == "\"" || character == "\\" { literal.unicodeScalars.append("\\") }
                literal.unicodeScalars.append(character)
            }
            literal += "\""
        }
        return literal + "}"
    }

    static func text(_ elements: [String]) -> String {
        text(elements.map { Optional($0) })
    }
}

