/// A five-field cron expression (`minute hour day-of-month month day-of-week`) or one of the `@` macros,
/// parsed into the set of values each field allows.
///
/// Supports `*`, numbers, lists (`a,b`), ranges (`a-b`), steps (`*/n`, `a-b/n`, and `a/n` meaning a through
/// the field's maximum), month names `JAN`–`DEC` and weekday names `SUN`–`SAT` in any case. Day-of-week
/// accepts both 0 and 7 for Sunday.
///
/// Day-of-month and day-of-week combine the way Vixie cron does: when both fields are restricted (neither
/// starts with `*`), a day matches if either field matches it; otherwise both must match. So
/// `0 0 1,15 * FRI` fires on the 1st, the 15th and every Friday, while `0 0 */2 * FRI` fires only on
/// Fridays that fall on odd days of the month.
///
/// Two expressions are equal when they select the same times, whatever their spelling: `@hourly` equals
/// `0 * * * *`, and `0 0 * * 7` equals `0 0 * * SUN`.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The expression as written, without surrounding whitespace.
    public let source: String

    private let fields: Fields

    /// Parses a cron expression.
    ///
    /// - Throws: `CronError` naming the field at fault and the problem, worded for a person reading a config
    ///   validation report.
    public init(parsing text: String) throws(CronError) {
        let words = text.split(whereSeparator: \.isWhitespace)
        source = words.isEmpty ? "" : String(text[words[0].startIndex..<words[words.count - 1].endIndex])

        if let first = words.first, first.hasPrefix("@") {
            guard let expansion = Self.macros.first(where: { $0.name == first.lowercased() })?.expansion else {
                throw .unknownMacro(String(first))
            }
            guard words.count == 1 else { throw .macroWithFields(macro: String(first), extra: words.count - 1) }
            fields = try Fields(expansion.split(separator: " "))
        } else {
            guard words.count == CronField.allCases.count else { throw .wrongFieldCount(found: words.count) }
            fields = try Fields(words)
        }
    }

    /// Whether the expression selects the given calendar minute.
    ///
    /// Takes plain calendar components so that next-fire computations can probe candidate times in whatever
    /// calendar and time zone they work in. `dayOfWeek` counts from 0 = Sunday to 6 = Saturday; components
    /// outside their field's range never match.
    public func matches(minute: Int, hour: Int, dayOfMonth: Int, month: Int, dayOfWeek: Int) -> Bool {
        guard fields.minutes.contains(minute), fields.hours.contains(hour), fields.months.contains(month) else {
            return false
        }
        return matchesDay(dayOfMonth: dayOfMonth, dayOfWeek: dayOfWeek)
    }

    /// Whether the day-of-month and day-of-week fields together select a day, by the OR rule described above;
    /// the minute, hour and month fields are not consulted. `dayOfWeek` counts from 0 = Sunday.
    func matchesDay(dayOfMonth: Int, dayOfWeek: Int) -> Bool {
        // Under the OR rule either day field can match alone, so an impossible value in the other would slip
        // through the set lookups. Day-of-week stops at 6 because 7 is only a spelling of Sunday in expressions.
        guard CronField.dayOfMonth.range.contains(dayOfMonth), (0...6).contains(dayOfWeek) else { return false }
        let dayOfMonthMatches = fields.daysOfMonth.contains(dayOfMonth)
        let dayOfWeekMatches = fields.daysOfWeek.contains(dayOfWeek)
        if fields.isDayOfMonthRestricted && fields.isDayOfWeekRestricted {
            return dayOfMonthMatches || dayOfWeekMatches
        }
        return dayOfMonthMatches && dayOfWeekMatches
    }

    /// Whether the minute, hour or month field allows `value`, whatever the other fields say; next-fire searches
    /// use this to skip field by field. Day fields answer for their own value set only (see `matchesDay`).
    func allows(_ value: Int, in field: CronField) -> Bool {
        switch field {
        case .minute: fields.minutes.contains(value)
        case .hour: fields.hours.contains(value)
        case .dayOfMonth: fields.daysOfMonth.contains(value)
        case .month: fields.months.contains(value)
        case .dayOfWeek: fields.daysOfWeek.contains(value)
        }
    }

    /// The error `init(parsing:)` would throw for `text`, or `nil` if it is a valid expression.
    public static func validate(_ text: String) -> CronError? {
        do {
            _ = try CronExpression(parsing: text)
            return nil
        } catch {
            return error
        }
    }

    /// The expression as written.
    public var description: String { source }

    /// Whether both expressions select the same times; `source` is not compared.
    public static func == (lhs: CronExpression, rhs: CronExpression) -> Bool {
        lhs.fields == rhs.fields
    }

    /// Hashes what `==` compares, so equivalent spellings share a hash.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(fields)
    }

    /// The supported macros and what each stands for, in the order the unknown-macro message lists them.
    static let macros: [(name: String, expansion: String)] = [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ]
}

/// One of the five fields of a cron expression, in the order they are written.
public enum CronField: Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case minute, hour, dayOfMonth, month, dayOfWeek

    /// The field's name as crontab documentation and error messages spell it, e.g. `day-of-month`.
    public var name: String {
        switch self {
        case .minute: "minute"
        case .hour: "hour"
        case .dayOfMonth: "day-of-month"
        case .month: "month"
        case .dayOfWeek: "day-of-week"
        }
    }

    /// The numbers the field accepts; day-of-week includes 7 as a second spelling of Sunday.
    public var range: ClosedRange<Int> {
        switch self {
        case .minute: 0...59
        case .hour: 0...23
        case .dayOfMonth: 1...31
        case .month: 1...12
        case .dayOfWeek: 0...7
        }
    }

    /// The field's name.
    public var description: String { name }

    /// Where `*` and `a/n` stop. Day-of-week stops at Saturday so that `MON/2` means Monday, Wednesday and
    /// Friday, rather than reaching the alias 7 and wrapping round to Sunday.
    var openEnd: Int { self == .dayOfWeek ? 6 : range.upperBound }

    /// The largest step that selects more than the first value of `*`.
    var maximumStep: Int { openEnd - range.lowerBound }

    var acceptsNames: Bool { self == .month || self == .dayOfWeek }

    /// The number a month or weekday name stands for, matched case-insensitively.
    func value(named name: Substring) -> Int? {
        let upper = name.uppercased()
        switch self {
        case .month:
            let names = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
            return names.firstIndex(of: upper).map { $0 + 1 }
        case .dayOfWeek:
            return ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"].firstIndex(of: upper)
        default:
            return nil
        }
    }
}

/// Why a cron expression was rejected.
///
/// `description` is written for a person reading a validation report, e.g.
/// `hour field "25": 25 is out of range 0-23`; `field` says which field to point at, if any.
public enum CronError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The expression does not have exactly five whitespace-separated fields.
    case wrongFieldCount(found: Int)
    /// A word starting with `@` that is not one of the supported macros.
    case unknownMacro(String)
    /// A macro followed by `extra` more words; a macro is a whole expression by itself.
    case macroWithFields(macro: String, extra: Int)
    /// One field, quoted as written, is malformed.
    case invalidField(CronField, text: String, problem: Problem)

    /// What is wrong inside a single field.
    public enum Problem: Error, Equatable, Sendable {
        /// A list with nothing between two commas, or at either end.
        case emptyListEntry
        /// A range or step with a side left empty, such as `1-`, `-5`, `/5` or `*/`; carries the list entry.
        case missingNumber(String)
        /// Text that is neither a number nor a name this field accepts.
        case notANumber(String)
        /// A word in the month or day-of-week field that is not a three-letter month or weekday name.
        case unknownName(String)
        /// A number outside the field's range, as written.
        case outOfRange(String)
        /// A range whose start comes after its end; ranges do not wrap around.
        case reversedRange(start: Int, end: Int)
        /// More than one `-` in a range; carries the range.
        case malformedRange(String)
        /// More than one `/` in a list entry; carries the entry.
        case multipleSteps(String)
        /// A step that is not a whole number.
        case stepNotANumber(String)
        /// A step of 0, which would never advance.
        case stepTooSmall
        /// A step so large that only the first value could ever be selected, as written.
        case stepTooLarge(String)
    }

    /// The field the problem is in, or `nil` when the expression as a whole is wrong.
    public var field: CronField? {
        if case .invalidField(let field, _, _) = self { field } else { nil }
    }

    /// The message for a person, naming the field and quoting its text when one field is at fault.
    public var description: String {
        switch self {
        case .wrongFieldCount(let found):
            let names = CronField.allCases.map(\.name).joined(separator: " ")
            return "expected \(CronField.allCases.count) fields (\(names)), found \(found)"
        case .unknownMacro(let macro):
            let known = CronExpression.macros.map(\.name).joined(separator: ", ")
            return "unknown macro \"\(macro)\" (known: \(known))"
        case .macroWithFields(let macro, let extra):
            let fields = extra == 1 ? "1 more field follows" : "\(extra) more fields follow"
            return "\(macro) must stand alone, but \(fields)"
        case .invalidField(let field, let text, let problem):
            return "\(field.name) field \"\(text)\": \(Self.describe(problem, in: field))"
        }
    }

    private static func describe(_ problem: Problem, in field: CronField) -> String {
        switch problem {
        case .emptyListEntry:
            "empty entry in list"
        case .missingNumber(let entry):
            "\"\(entry)\" is missing a number"
        case .notANumber(let token):
            "\"\(token)\" is not a number"
        case .unknownName(let token):
            "unknown name \"\(token)\""
        case .outOfRange(let token):
            "\(token) is out of range \(field.range.lowerBound)-\(field.range.upperBound)"
        case .reversedRange(let start, let end):
            "range start \(start) is after end \(end)"
        case .malformedRange(let range):
            "\"\(range)\" has more than one \"-\""
        case .multipleSteps(let entry):
            "\"\(entry)\" has more than one \"/\""
        case .stepNotANumber(let token):
            "step \"\(token)\" is not a number"
        case .stepTooSmall:
            "step must be at least 1"
        case .stepTooLarge(let token):
            "step \(token) is out of range 1-\(field.maximumStep)"
        }
    }
}

/// The allowed values of all five fields, compared for `CronExpression` equality.
private struct Fields: Hashable {
    let minutes: ValueSet
    let hours: ValueSet
    let daysOfMonth: ValueSet
    let months: ValueSet
    let daysOfWeek: ValueSet
    let isDayOfMonthRestricted: Bool
    let isDayOfWeekRestricted: Bool

    /// Parses exactly five field texts, in `CronField.allCases` order.
    init(_ texts: [Substring]) throws(CronError) {
        minutes = try Self.parse(texts[0], as: .minute)
        hours = try Self.parse(texts[1], as: .hour)
        daysOfMonth = try Self.parse(texts[2], as: .dayOfMonth)
        months = try Self.parse(texts[3], as: .month)
        daysOfWeek = try Self.parse(texts[4], as: .dayOfWeek)
        // Vixie cron decides by the first character, so `*/2` still counts as unrestricted.
        isDayOfMonthRestricted = !texts[2].hasPrefix("*")
        isDayOfWeekRestricted = !texts[4].hasPrefix("*")
    }

    private static func parse(_ text: Substring, as field: CronField) throws(CronError) -> ValueSet {
        do throws(CronError.Problem) {
            var values = ValueSet()
            for entry in text.split(separator: ",", omittingEmptySubsequences: false) {
                try values.formUnion(parseEntry(entry, as: field))
            }
            return values
        } catch {
            throw .invalidField(field, text: String(text), problem: error)
        }
    }

    /// Parses one list entry: `*`, a value, or a range, each optionally followed by `/step`.
    private static func parseEntry(_ entry: Substring, as field: CronField) throws(CronError.Problem) -> ValueSet {
        guard !entry.isEmpty else { throw .emptyListEntry }
        let parts = entry.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw .multipleSteps(String(entry)) }
        let hasStep = parts.count == 2
        let step = hasStep ? try parseStep(parts[1], entry: entry, field: field) : 1

        let bounds: ClosedRange<Int>
        if parts[0] == "*" {
            bounds = field.range.lowerBound...field.openEnd
        } else {
            let ends = parts[0].split(separator: "-", omittingEmptySubsequences: false)
            switch ends.count {
            case 1:
                let start = try parseValue(ends[0], entry: entry, field: field, isRangeEnd: false)
                // Day-of-week `7/2` starts past the open end; `max` makes it plain Sunday instead of a trap.
                bounds = start...(hasStep ? max(start, field.openEnd) : start)
            case 2:
                let start = try parseValue(ends[0], entry: entry, field: field, isRangeEnd: false)
                let end = try parseValue(ends[1], entry: entry, field: field, isRangeEnd: true)
                guard start <= end else { throw .reversedRange(start: start, end: end) }
                bounds = start...end
            default:
                throw .malformedRange(String(parts[0]))
            }
        }

        var values = ValueSet()
        for value in stride(from: bounds.lowerBound, through: bounds.upperBound, by: step) {
            values.insert(field == .dayOfWeek && value == 7 ? 0 : value)
        }
        return values
    }

    private static func parseValue(
        _ token: Substring, entry: Substring, field: CronField, isRangeEnd: Bool
    ) throws(CronError.Problem) -> Int {
        guard !token.isEmpty else { throw .missingNumber(String(entry)) }
        if token.allSatisfy(\.isASCIIDigit) {
            guard let value = Int(token), field.range.contains(value) else { throw .outOfRange(String(token)) }
            return value
        }
        guard field.acceptsNames, token.allSatisfy({ $0.isASCII && $0.isLetter }) else {
            throw .notANumber(String(token))
        }
        guard let value = field.value(named: token) else { throw .unknownName(String(token)) }
        // A name does not say which Sunday it means, so `FRI-SUN` takes the one that ends the week.
        return field == .dayOfWeek && isRangeEnd && value == 0 ? 7 : value
    }

    private static func parseStep(
        _ token: Substring, entry: Substring, field: CronField
    ) throws(CronError.Problem) -> Int {
        guard !token.isEmpty else { throw .missingNumber(String(entry)) }
        guard token.allSatisfy(\.isASCIIDigit) else { throw .stepNotANumber(String(token)) }
        guard let step = Int(token), step <= field.maximumStep else { throw .stepTooLarge(String(token)) }
        guard step >= 1 else { throw .stepTooSmall }
        return step
    }
}

/// A set of small non-negative integers, one bit each; every cron field fits in 64 bits.
private struct ValueSet: Hashable {
    private var bits: UInt64 = 0

    func contains(_ value: Int) -> Bool {
        (0..<64).contains(value) && bits & (1 << UInt64(value)) != 0
    }

    mutating func insert(_ value: Int) {
        bits |= 1 << UInt64(value)
    }

    mutating func formUnion(_ other: ValueSet) {
        bits |= other.bits
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
