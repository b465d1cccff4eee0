import Testing

@testable import Scheduling

/// An expression that restricts one field (the others are `*`) and exactly which values of that field it allows.
struct FieldCase: Sendable, CustomTestStringConvertible {
    let expression: String
    let field: CronField
    let allowed: Set<Int>

    init(_ expression: String, _ field: CronField, _ allowed: some Sequence<Int>) {
        self.expression = expression
        self.field = field
        self.allowed = Set(allowed)
    }

    var testDescription: String { "\"\(expression)\"" }
}

/// A calendar minute: day of week 0 = Sunday.
struct Moment: Sendable, CustomStringConvertible {
    let minute: Int, hour: Int, dayOfMonth: Int, month: Int, dayOfWeek: Int

    init(_ minute: Int, _ hour: Int, _ dayOfMonth: Int, _ month: Int, _ dayOfWeek: Int) {
        self.minute = minute
        self.hour = hour
        self.dayOfMonth = dayOfMonth
        self.month = month
        self.dayOfWeek = dayOfWeek
    }

    var description: String { "\(minute) \(hour) \(dayOfMonth) \(month) dow\(dayOfWeek)" }

    func isMatched(by expression: CronExpression) -> Bool {
        expression.matches(minute: minute, hour: hour, dayOfMonth: dayOfMonth, month: month, dayOfWeek: dayOfWeek)
    }
}

/// An expression with moments it must select and moments it must not.
struct MomentCase: Sendable, CustomTestStringConvertible {
    let expression: String
    let matching: [Moment]
    let notMatching: [Moment]

    var testDescription: String { "\"\(expression)\"" }
}

/// An invalid expression, the field the error must name (nil for whole-expression errors) and part of its message.
struct InvalidCase: Sendable, CustomTestStringConvertible {
    let expression: String
    let field: CronField?
    let fragment: String

    init(_ expression: String, _ field: CronField?, _ fragment: String) {
        self.expression = expression
        self.field = field
        self.fragment = fragment
    }

    var testDescription: String { "\"\(expression)\"" }
}

@Suite("CronExpression")
struct CronExpressionTests {
    static let fieldCases: [FieldCase] = [
        FieldCase("* * * * *", .minute, 0...59),
        FieldCase("*/7 * * * *", .minute, stride(from: 0, through: 56, by: 7)),
        FieldCase("5/15 * * * *", .minute, [5, 20, 35, 50]),
        FieldCase("10-50/20 * * * *", .minute, [10, 30, 50]),
        FieldCase("0,30 * * * *", .minute, [0, 30]),
        FieldCase("59 * * * *", .minute, [59]),
        FieldCase("1-3,10,20-22 * * * *", .minute, [1, 2, 3, 10, 20, 21, 22]),
        FieldCase("05 * * * *", .minute, [5]),
        FieldCase("*/59 * * * *", .minute, [0, 59]),
        FieldCase("58/1 * * * *", .minute, [58, 59]),
        FieldCase("*/15,7 * * * *", .minute, [0, 7, 15, 30, 45]),
        FieldCase("  */15\t*   * *  *\t ", .minute, [0, 15, 30, 45]),
        FieldCase("* */6 * * *", .hour, [0, 6, 12, 18]),
        FieldCase("* 9-17 * * *", .hour, 9...17),
        FieldCase("* 23 * * *", .hour, [23]),
        FieldCase("* 0-23/5 * * *", .hour, [0, 5, 10, 15, 20]),
        FieldCase("* * 31 * *", .dayOfMonth, [31]),
        FieldCase("* * 1,15 * *", .dayOfMonth, [1, 15]),
        FieldCase("* * */10 * *", .dayOfMonth, [1, 11, 21, 31]),
        FieldCase("* * 1-31/2 * *", .dayOfMonth, stride(from: 1, through: 31, by: 2)),
        FieldCase("* * * JAN,jul *", .month, [1, 7]),
        FieldCase("* * * jan-Mar *", .month, [1, 2, 3]),
        FieldCase("* * * 6/2 *", .month, [6, 8, 10, 12]),
        FieldCase("* * * */3 *", .month, [1, 4, 7, 10]),
        FieldCase("* * * 12 *", .month, [12]),
        FieldCase("* * * NOV-DEC,2 *", .month, [2, 11, 12]),
        FieldCase("* * * * MON-FRI", .dayOfWeek, 1...5),
        FieldCase("* * * * mon-fri", .dayOfWeek, 1...5),
        FieldCase("* * * * 7", .dayOfWeek, [0]),
        FieldCase("* * * * 0", .dayOfWeek, [0]),
        FieldCase("* * * * sat,Sun", .dayOfWeek, [0, 6]),
        FieldCase("* * * * FRI-SUN", .dayOfWeek, [0, 5, 6]),
        FieldCase("* * * * SUN-TUE", .dayOfWeek, [0, 1, 2]),
        FieldCase("* * * * 5-7", .dayOfWeek, [0, 5, 6]),
        FieldCase("* * * * 0-7", .dayOfWeek, 0...6),
        FieldCase("* * * * */2", .dayOfWeek, [0, 2, 4, 6]),
        FieldCase("* * * * 1/2", .dayOfWeek, [1, 3, 5]),
        FieldCase("* * * * MON/2", .dayOfWeek, [1, 3, 5]),
        FieldCase("* * * * Mon-Sat/2", .dayOfWeek, [1, 3, 5]),
        FieldCase("* * * * 7/2", .dayOfWeek, [0]),
    ]

    /// Checks every value of the restricted field, holding the other (unrestricted) fields at fixed values.
    @Test(arguments: fieldCases)
    func fieldAllowsExactlyTheExpectedValues(_ testCase: FieldCase) throws {
        let expression = try CronExpression(parsing: testCase.expression)
        let calendarRange = testCase.field == .dayOfWeek ? 0...6 : testCase.field.range
        for value in calendarRange {
            var components = [CronField.minute: 30, .hour: 12, .dayOfMonth: 10, .month: 6, .dayOfWeek: 3]
            components[testCase.field] = value
            let matched = expression.matches(
                minute: components[.minute]!, hour: components[.hour]!, dayOfMonth: components[.dayOfMonth]!,
                month: components[.month]!, dayOfWeek: components[.dayOfWeek]!)
            #expect(matched == testCase.allowed.contains(value), "\(testCase.field.name) = \(value)")
        }
    }

    static let momentCases: [MomentCase] = [
        MomentCase(
            expression: "0 0 31 * *",
            matching: [Moment(0, 0, 31, 1, 3), Moment(0, 0, 31, 12, 0)],
            notMatching: [
                Moment(0, 0, 30, 1, 3), Moment(0, 0, 1, 1, 3), Moment(1, 0, 31, 1, 3), Moment(0, 1, 31, 1, 3),
            ]),
        MomentCase(
            expression: "0 9 * * MON-FRI",
            matching: [Moment(0, 9, 2, 3, 1), Moment(0, 9, 6, 3, 5)],
            notMatching: [Moment(0, 9, 7, 3, 6), Moment(0, 9, 8, 3, 0), Moment(0, 10, 2, 3, 1), Moment(1, 9, 2, 3, 1)]),
        // Both day fields restricted: the 1st, the 15th, and any Friday.
        MomentCase(
            expression: "0 0 1,15 * 5",
            matching: [Moment(0, 0, 1, 6, 1), Moment(0, 0, 15, 6, 3), Moment(0, 0, 20, 6, 5)],
            notMatching: [
                Moment(0, 0, 2, 6, 2), Moment(0, 0, 16, 6, 4), Moment(1, 0, 1, 6, 1), Moment(0, 0, 14, 6, 4),
            ]),
        MomentCase(
            expression: "30 12 13 * FRI",
            matching: [Moment(30, 12, 13, 2, 2), Moment(30, 12, 6, 2, 5)],
            notMatching: [Moment(30, 12, 14, 2, 3), Moment(0, 12, 13, 2, 5)]),
        // A day-of-month starting with `*` counts as unrestricted, so both fields must match.
        MomentCase(
            expression: "0 0 */2 * MON",
            matching: [Moment(0, 0, 3, 1, 1)],
            notMatching: [Moment(0, 0, 2, 1, 1), Moment(0, 0, 3, 1, 2)]),
        MomentCase(
            expression: "0 0 1 * *",
            matching: [Moment(0, 0, 1, 4, 0), Moment(0, 0, 1, 4, 3)],
            notMatching: [Moment(0, 0, 2, 4, 0)]),
        MomentCase(
            expression: "0 0 * * 1",
            matching: [Moment(0, 0, 1, 4, 1), Moment(0, 0, 20, 4, 1)],
            notMatching: [Moment(0, 0, 1, 4, 2)]),
        // A restricted day-of-week with `*/1` day-of-month is an AND, not an OR.
        MomentCase(
            expression: "0 0 */1 * SAT",
            matching: [Moment(0, 0, 4, 5, 6)],
            notMatching: [Moment(0, 0, 5, 5, 0)]),
        // `1-31` covers every day but is still "restricted", so the OR makes every day match.
        MomentCase(
            expression: "0 0 1-31 * MON",
            matching: [Moment(0, 0, 5, 5, 1), Moment(0, 0, 6, 5, 2)],
            notMatching: [Moment(1, 0, 6, 5, 2)]),
        MomentCase(
            expression: "0 0 * * 7",
            matching: [Moment(0, 0, 5, 5, 0)],
            notMatching: [Moment(0, 0, 6, 5, 1), Moment(0, 0, 4, 5, 6)]),
        MomentCase(
            expression: "0 0 1 1 *",
            matching: [Moment(0, 0, 1, 1, 4)],
            notMatching: [Moment(0, 0, 1, 2, 4), Moment(0, 0, 2, 1, 5)]),
        MomentCase(
            expression: "@hourly",
            matching: [Moment(0, 0, 1, 1, 0), Moment(0, 13, 17, 8, 4)],
            notMatching: [Moment(1, 13, 17, 8, 4), Moment(59, 23, 31, 12, 6)]),
        MomentCase(
            expression: "@daily",
            matching: [Moment(0, 0, 17, 8, 4)],
            notMatching: [Moment(0, 1, 17, 8, 4)]),
        MomentCase(
            expression: "@weekly",
            matching: [Moment(0, 0, 3, 8, 0)],
            notMatching: [Moment(0, 0, 4, 8, 1)]),
        MomentCase(
            expression: "@monthly",
            matching: [Moment(0, 0, 1, 8, 5)],
            notMatching: [Moment(0, 0, 2, 8, 6)]),
        MomentCase(
            expression: "@Yearly",
            matching: [Moment(0, 0, 1, 1, 3)],
            notMatching: [Moment(0, 0, 1, 2, 0)]),
        // Components a calendar cannot produce never match, even under `*`.
        MomentCase(
            expression: "* * * * *",
            matching: [Moment(0, 0, 1, 1, 0), Moment(59, 23, 31, 12, 6)],
            notMatching: [
                Moment(60, 0, 1, 1, 0), Moment(-1, 0, 1, 1, 0), Moment(0, 24, 1, 1, 0), Moment(0, 0, 0, 1, 0),
                Moment(0, 0, 32, 1, 0), Moment(0, 0, 1, 0, 0), Moment(0, 0, 1, 13, 0), Moment(0, 0, 1, 1, 7),
                Moment(0, 0, 1, 1, -1), Moment(64, 0, 1, 1, 0),
            ]),
        // Under the OR rule one day field may match alone, but not next to an impossible value in the other.
        MomentCase(
            expression: "0 0 1 * MON",
            matching: [Moment(0, 0, 1, 1, 4), Moment(0, 0, 9, 1, 1)],
            notMatching: [
                Moment(0, 0, 1, 1, 7), Moment(0, 0, 1, 1, -1), Moment(0, 0, 32, 1, 1), Moment(0, 0, 0, 1, 1),
            ]),
    ]

    @Test(arguments: momentCases)
    func selectsExactlyTheExpectedMoments(_ testCase: MomentCase) throws {
        let expression = try CronExpression(parsing: testCase.expression)
        for moment in testCase.matching {
            #expect(moment.isMatched(by: expression), "should match \(moment)")
        }
        for moment in testCase.notMatching {
            #expect(!moment.isMatched(by: expression), "should not match \(moment)")
        }
    }

    @Test(arguments: [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("  @HOURLY\t", "0 * * * *"),
    ])
    func macroEqualsItsExpansion(macro: String, expansion: String) throws {
        #expect(try CronExpression(parsing: macro) == CronExpression(parsing: expansion))
    }

    @Test(arguments: [
        ("0 0 * * 7", "0 0 * * SUN"),
        ("0 0 * * 0", "0 0 * * 7"),
        ("*/1 * * * *", "* * * * *"),
        ("0-59 * * * *", "* * * * *"),
        ("0 9 * * mon-fri", "0 9 * * 1,2,3,4,5"),
        ("0 0 1 jan *", "0 0 1 1 *"),
    ])
    func equivalentSpellingsAreEqual(_ lhs: String, _ rhs: String) throws {
        let left = try CronExpression(parsing: lhs)
        let right = try CronExpression(parsing: rhs)
        #expect(left == right)
        #expect(Set([left, right]).count == 1)
    }

    @Test(arguments: [
        ("0 * * * *", "1 * * * *"),
        ("0 0 * * *", "0 0 * * 1"),
        // Same value sets, but only the second combines its day fields with OR.
        ("0 0 1 * *", "0 0 1 * 1-7"),
    ])
    func differentSchedulesAreNotEqual(_ lhs: String, _ rhs: String) throws {
        #expect(try CronExpression(parsing: lhs) != CronExpression(parsing: rhs))
    }

    @Test func sourceIsTheTrimmedText() throws {
        let expression = try CronExpression(parsing: " \t0  9 * *\tMON-FRI \n")
        #expect(expression.source == "0  9 * *\tMON-FRI")
        #expect(expression.description == expression.source)
        #expect(try CronExpression(parsing: "@daily").description == "@daily")
    }

    static let invalidCases: [InvalidCase] = [
        InvalidCase("", nil, "expected 5 fields (minute hour day-of-month month day-of-week), found 0"),
        InvalidCase("   ", nil, "found 0"),
        InvalidCase("* * * *", nil, "found 4"),
        InvalidCase("0 0 * * * *", nil, "expected 5 fields (minute hour day-of-month month day-of-week), found 6"),
        InvalidCase("@fortnightly", nil, "unknown macro \"@fortnightly\""),
        InvalidCase("@reboot", nil, "unknown macro \"@reboot\""),
        InvalidCase("@daily 5", nil, "@daily must stand alone, but 1 more field follows"),
        InvalidCase("60 * * * *", .minute, "60 is out of range 0-59"),
        InvalidCase("0 25 * * *", .hour, "25 is out of range 0-23"),
        InvalidCase("0 0 0 * *", .dayOfMonth, "0 is out of range 1-31"),
        InvalidCase("0 0 32 * *", .dayOfMonth, "32 is out of range 1-31"),
        InvalidCase("0 0 1 13 *", .month, "13 is out of range 1-12"),
        InvalidCase("0 0 1 0 *", .month, "0 is out of range 1-12"),
        InvalidCase("0 0 * * 8", .dayOfWeek, "8 is out of range 0-7"),
        InvalidCase("99999999999999999999 * * * *", .minute, "99999999999999999999 is out of range 0-59"),
        InvalidCase("* * * * MON-FOO", .dayOfWeek, "unknown name \"FOO\""),
        InvalidCase("* * * MON *", .month, "unknown name \"MON\""),
        InvalidCase("* * * * JAN", .dayOfWeek, "unknown name \"JAN\""),
        InvalidCase("* * * * Monday", .dayOfWeek, "unknown name \"Monday\""),
        InvalidCase("JAN * * * *", .minute, "\"JAN\" is not a number"),
        InvalidCase("* * L * *", .dayOfMonth, "\"L\" is not a number"),
        InvalidCase("* * ? * *", .dayOfMonth, "\"?\" is not a number"),
        InvalidCase("* * * * MON1", .dayOfWeek, "\"MON1\" is not a number"),
        InvalidCase("-5 * * * *", .minute, "\"-5\" is missing a number"),
        InvalidCase("1- * * * *", .minute, "\"1-\" is missing a number"),
        InvalidCase("/5 * * * *", .minute, "\"/5\" is missing a number"),
        InvalidCase("*/ * * * *", .minute, "\"*/\" is missing a number"),
        InvalidCase("*-5 * * * *", .minute, "\"*\" is not a number"),
        InvalidCase("1,,2 * * * *", .minute, "empty entry in list"),
        InvalidCase("* 1, * * *", .hour, "empty entry in list"),
        InvalidCase("*/0 * * * *", .minute, "step must be at least 1"),
        InvalidCase("* * * * 1-5/0", .dayOfWeek, "step must be at least 1"),
        InvalidCase("*/60 * * * *", .minute, "step 60 is out of range 1-59"),
        InvalidCase("* */24 * * *", .hour, "step 24 is out of range 1-23"),
        InvalidCase("* * * * */7", .dayOfWeek, "step 7 is out of range 1-6"),
        InvalidCase("*/x * * * *", .minute, "step \"x\" is not a number"),
        InvalidCase("*/-1 * * * *", .minute, "step \"-1\" is not a number"),
        InvalidCase("*/2/3 * * * *", .minute, "\"*/2/3\" has more than one \"/\""),
        InvalidCase("1-2-3 * * * *", .minute, "\"1-2-3\" has more than one \"-\""),
        InvalidCase("* * * 5-2 *", .month, "range start 5 is after end 2"),
        InvalidCase("* * * * FRI-MON", .dayOfWeek, "range start 5 is after end 1"),
        InvalidCase("* 22-2 * * *", .hour, "range start 22 is after end 2"),
        InvalidCase("* * * * 5-0", .dayOfWeek, "range start 5 is after end 0"),
        InvalidCase("0 0 * * *,60", .dayOfWeek, "60 is out of range 0-7"),
    ]

    @Test(arguments: invalidCases)
    func rejectsInvalidExpression(_ testCase: InvalidCase) {
        let error = CronExpression.validate(testCase.expression)
        #expect(error != nil)
        #expect(error?.field == testCase.field)
        #expect(error?.description.contains(testCase.fragment) == true, "got: \(error?.description ?? "no error")")
    }

    @Test(arguments: [
        ("0 25 * * *", "hour field \"25\": 25 is out of range 0-23"),
        ("0 0 * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 6"),
        ("* * * * MON-FOO", "day-of-week field \"MON-FOO\": unknown name \"FOO\""),
        ("*/0 * * * *", "minute field \"*/0\": step must be at least 1"),
        ("* * * 5-2 *", "month field \"5-2\": range start 5 is after end 2"),
        (
            "@fortnightly",
            "unknown macro \"@fortnightly\" (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)"
        ),
        ("0 0 1,x * *", "day-of-month field \"1,x\": \"x\" is not a number"),
        ("@daily * *", "@daily must stand alone, but 2 more fields follow"),
    ])
    func errorDescriptionIsExact(_ expression: String, _ message: String) {
        #expect(CronExpression.validate(expression)?.description == message)
    }

    @Test func thrownErrorCarriesFieldTextAndProblem() {
        #expect(throws: CronError.invalidField(.month, text: "jan-FOO", problem: .unknownName("FOO"))) {
            try CronExpression(parsing: "0 0 1 jan-FOO *")
        }
        #expect(throws: CronError.wrongFieldCount(found: 3)) {
            try CronExpression(parsing: "0 0 1")
        }
    }

    @Test(arguments: ["* * * * *", "@midnight", "0 9 * * MON-FRI", "\t5/15 10-20/5 1,15 */2 sun-sat\n"])
    func validateAcceptsValidExpressions(_ expression: String) {
        #expect(CronExpression.validate(expression) == nil)
    }

    @Test func fieldNamesAndRanges() {
        #expect(CronField.allCases.map(\.name) == ["minute", "hour", "day-of-month", "month", "day-of-week"])
        #expect(CronField.allCases.map(\.range) == [0...59, 0...23, 1...31, 1...12, 0...7])
    }
}
