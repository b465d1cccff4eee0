import Foundation
import Testing

import Scheduling

// Daylight-saving changes the tables rely on (all 2025 unless noted):
// - America/New_York springs forward on 9 March at 07:00Z (02:00 EST → 03:00 EDT) and falls back on 2 November
//   at 06:00Z (02:00 EDT → 01:00 EST, so 01:00–01:59 happens twice).
// - Europe/Madrid springs forward on 30 March at 01:00Z (02:00 CET → 03:00 CEST) and falls back on 26 October
//   at 01:00Z (03:00 CEST → 02:00 CET, so 02:00–02:59 happens twice).
// - Australia/Lord_Howe moves by half an hour: back on 6 April at 2025-04-05T15:00Z (02:00 +11 → 01:30 +10:30)
//   and forward on 5 October at 2025-10-04T15:30Z (02:00 +10:30 → 02:30 +11).
// - Pacific/Apia skipped 30 December 2011 entirely at 2011-12-30T10:00Z (Dec 29 24:00 −10 → Dec 31 00:00 +14).
// - Asia/Kolkata is +05:30 all year.
// Every expected value was worked out by hand and checked against a separate minute-by-minute reference.

/// A schedule as a test writes it.
enum TestTrigger: Sendable, CustomStringConvertible {
    case cron(String, String)
    case every(Duration)

    var trigger: ScheduleTrigger {
        switch self {
        case .cron(let expression, let zone):
            .cron(try! CronExpression(parsing: expression), TimeZone(identifier: zone)!)
        case .every(let interval):
            .every(interval)
        }
    }

    var description: String {
        switch self {
        case .cron(let expression, let zone): "\"\(expression)\" in \(zone)"
        case .every(let interval): "every \(interval)"
        }
    }
}

/// A schedule, an instant and the fire time expected next after it (or at or before it, for `previousFire`).
struct FireTimeCase: Sendable, CustomTestStringConvertible {
    let from: String
    let spec: TestTrigger
    let expected: String?

    init(_ from: String, _ expression: String, _ zone: String, _ expected: String?) {
        self.from = from
        spec = .cron(expression, zone)
        self.expected = expected
    }

    init(_ from: String, every interval: Duration, _ expected: String?) {
        self.from = from
        spec = .every(interval)
        self.expected = expected
    }

    var testDescription: String { "\(spec) from \(from)" }
}

/// A schedule, a window (after, through] and how many times it fires in it.
struct FireCountCase: Sendable, CustomTestStringConvertible {
    let expression: String
    let zone: String
    let after: String
    let through: String
    let count: Int
    let note: String

    init(_ expression: String, _ zone: String, _ after: String, _ through: String, _ count: Int, _ note: String) {
        self.expression = expression
        self.zone = zone
        self.after = after
        self.through = through
        self.count = count
        self.note = note
    }

    var testDescription: String { "\"\(expression)\" in \(zone): \(note)" }
}

/// Parses `2025-03-09T06:00:00Z`, optionally with fractional seconds.
private func instant(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    if text.contains(".") { formatter.formatOptions.insert(.withFractionalSeconds) }
    guard let date = formatter.date(from: text) else { fatalError("bad instant \(text)") }
    return date
}

private let newYork = "America/New_York"
private let madrid = "Europe/Madrid"
private let lordHowe = "Australia/Lord_Howe"
private let kolkata = "Asia/Kolkata"
private let apia = "Pacific/Apia"
private let utc = "UTC"

private let nextFireTable: [FireTimeCase] = [
    // New York, spring forward: 02:30 does not exist on 9 March; a fixed-hour schedule fires at 03:00 EDT instead.
    FireTimeCase("2025-03-09T06:00:00Z", "30 2 * * *", newYork, "2025-03-09T07:00:00Z"),
    FireTimeCase("2025-03-09T06:59:59Z", "30 2 * * *", newYork, "2025-03-09T07:00:00Z"),
    FireTimeCase("2025-03-09T07:00:00Z", "30 2 * * *", newYork, "2025-03-10T06:30:00Z"),
    // 02:00, 02:30 and 03:00 all land on 03:00 EDT: one fire there, then 03:30 as usual.
    FireTimeCase("2025-03-08T12:00:00Z", "0,30 2,3 * * *", newYork, "2025-03-09T07:00:00Z"),
    FireTimeCase("2025-03-09T07:00:00Z", "0,30 2,3 * * *", newYork, "2025-03-09T07:30:00Z"),
    FireTimeCase("2025-03-09T06:00:00Z", "0 3 * * *", newYork, "2025-03-09T07:00:00Z"),
    // Every-hour schedules follow real time: skipped wall times just do not happen.
    FireTimeCase("2025-03-09T06:30:00Z", "30 * * * *", newYork, "2025-03-09T07:30:00Z"),
    FireTimeCase("2025-03-09T06:50:00Z", "*/15 * * * *", newYork, "2025-03-09T07:00:00Z"),
    FireTimeCase("2025-03-07T15:00:00Z", "0 9 * * MON-FRI", newYork, "2025-03-10T13:00:00Z"),
    // New York, fall back: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
    FireTimeCase("2025-11-02T04:00:00Z", "30 1 * * *", newYork, "2025-11-02T05:30:00Z"),
    FireTimeCase("2025-11-02T05:30:00Z", "30 1 * * *", newYork, "2025-11-03T06:30:00Z"),
    // Starting inside the repeated hour: 01:30 already fired in it, at 05:30Z.
    FireTimeCase("2025-11-02T06:10:00Z", "30 1 * * *", newYork, "2025-11-03T06:30:00Z"),
    FireTimeCase("2025-11-02T06:00:00Z", "0 1 * * *", newYork, "2025-11-03T06:00:00Z"),
    FireTimeCase("2025-11-02T05:30:00Z", "30 * * * *", newYork, "2025-11-02T06:30:00Z"),
    FireTimeCase("2025-11-02T05:00:00Z", "0 * * * *", newYork, "2025-11-02T06:00:00Z"),
    FireTimeCase("2025-11-02T05:00:00Z", "0 1 * * *", newYork, "2025-11-03T06:00:00Z"),
    FireTimeCase("2025-11-02T04:00:00Z", "0 2 * * *", newYork, "2025-11-02T07:00:00Z"),
    FireTimeCase("2025-11-02T05:59:00Z", "* 1 * * *", newYork, "2025-11-03T06:00:00Z"),
    FireTimeCase("2025-11-02T05:59:00Z", "* * * * *", newYork, "2025-11-02T06:00:00Z"),
    // Madrid, spring forward.
    FireTimeCase("2025-03-30T00:00:00Z", "30 2 * * *", madrid, "2025-03-30T01:00:00Z"),
    FireTimeCase("2025-03-29T12:00:00Z", "0 2 * * *", madrid, "2025-03-30T01:00:00Z"),
    FireTimeCase("2025-03-30T00:30:00Z", "30 * * * *", madrid, "2025-03-30T01:30:00Z"),
    // Madrid, fall back: 02:30 happens at 00:30Z (CEST) and 01:30Z (CET).
    FireTimeCase("2025-10-26T00:00:00Z", "30 2 * * *", madrid, "2025-10-26T00:30:00Z"),
    FireTimeCase("2025-10-26T00:30:00Z", "30 2 * * *", madrid, "2025-10-27T01:30:00Z"),
    FireTimeCase("2025-10-26T01:10:00Z", "30 2 * * *", madrid, "2025-10-27T01:30:00Z"),
    FireTimeCase("2025-10-26T00:40:00Z", "*/20 * * * *", madrid, "2025-10-26T01:00:00Z"),
    FireTimeCase("2025-10-26T00:30:00Z", "30 * * * *", madrid, "2025-10-26T01:30:00Z"),
    // An hour step leaves hours out, so it is fixed-hour: the repeated 02:00 (01:00Z) does not fire again.
    FireTimeCase("2025-10-26T00:00:00Z", "0 */2 * * *", madrid, "2025-10-26T03:00:00Z"),
    // Lord Howe's half-hour changes.
    FireTimeCase("2025-10-04T15:00:00Z", "15 2 * * *", lordHowe, "2025-10-04T15:30:00Z"),
    FireTimeCase("2025-10-04T15:00:00Z", "0 * * * *", lordHowe, "2025-10-04T16:00:00Z"),
    FireTimeCase("2025-04-05T14:00:00Z", "45 1 * * *", lordHowe, "2025-04-05T14:45:00Z"),
    FireTimeCase("2025-04-05T14:45:00Z", "45 1 * * *", lordHowe, "2025-04-06T15:15:00Z"),
    FireTimeCase("2025-04-05T14:45:00Z", "45 * * * *", lordHowe, "2025-04-05T15:15:00Z"),
    // Apia's missing day: its 09:00 and its midnight fire once, when the next day begins.
    FireTimeCase("2011-12-29T20:00:00Z", "0 9 * * *", apia, "2011-12-30T10:00:00Z"),
    FireTimeCase("2011-12-30T10:00:00Z", "0 9 * * *", apia, "2011-12-30T19:00:00Z"),
    FireTimeCase("2011-12-01T00:00:00Z", "0 0 30 12 *", apia, "2011-12-30T10:00:00Z"),
    // Calendar.
    FireTimeCase("2025-01-01T00:00:00Z", "0 0 29 2 *", utc, "2028-02-29T00:00:00Z"),
    FireTimeCase("2096-03-01T00:00:00Z", "0 0 29 2 *", utc, "2104-02-29T00:00:00Z"),
    FireTimeCase("2025-03-31T00:00:00Z", "0 0 31 * *", utc, "2025-05-31T00:00:00Z"),
    FireTimeCase("2025-08-31T00:00:00Z", "0 0 31 * *", utc, "2025-10-31T00:00:00Z"),
    FireTimeCase("2025-06-01T00:00:00Z", "0 0 13 * 5", utc, "2025-06-06T00:00:00Z"),
    FireTimeCase("2025-07-12T00:00:00Z", "0 0 13 * 5", utc, "2025-07-13T00:00:00Z"),
    FireTimeCase("2025-06-01T00:00:00Z", "0 0 */2 * 5", utc, "2025-06-13T00:00:00Z"),
    FireTimeCase("2025-01-01T10:56:00Z", "*/7 * * * *", utc, "2025-01-01T11:00:00Z"),
    FireTimeCase("2025-01-01T10:50:30Z", "*/7 * * * *", utc, "2025-01-01T10:56:00Z"),
    FireTimeCase("2025-06-06T09:00:00Z", "0 9 * * MON-FRI", utc, "2025-06-09T09:00:00Z"),
    FireTimeCase("2025-06-07T12:00:00Z", "0 9 * * mon-fri", newYork, "2025-06-09T13:00:00Z"),
    FireTimeCase("2025-06-15T12:00:00Z", "0 12 1 JAN,jul *", utc, "2025-07-01T12:00:00Z"),
    FireTimeCase("2025-06-15T12:00:00Z", "@yearly", utc, "2026-01-01T00:00:00Z"),
    FireTimeCase("2025-01-31T23:30:00Z", "@monthly", madrid, "2025-02-28T23:00:00Z"),
    FireTimeCase("2025-06-04T00:00:00Z", "@weekly", utc, "2025-06-08T00:00:00Z"),
    FireTimeCase("2025-06-04T18:29:59Z", "@daily", kolkata, "2025-06-04T18:30:00Z"),
    FireTimeCase("2025-06-04T18:30:00Z", "@daily", kolkata, "2025-06-05T18:30:00Z"),
    FireTimeCase("2025-06-04T10:00:00Z", "@hourly", kolkata, "2025-06-04T10:30:00Z"),
    FireTimeCase("2025-06-04T12:00:00Z", "0 12 * * *", utc, "2025-06-05T12:00:00Z"),
    FireTimeCase("2025-06-04T11:59:59.999Z", "0 12 * * *", utc, "2025-06-04T12:00:00Z"),
    FireTimeCase("2025-06-04T12:00:00.500Z", "0 12 * * *", utc, "2025-06-05T12:00:00Z"),
    FireTimeCase("2025-12-31T23:59:00Z", "59 23 31 12 *", utc, "2026-12-31T23:59:00Z"),
    FireTimeCase("2025-12-31T23:58:00Z", "*/5 * * * *", utc, "2026-01-01T00:00:00Z"),
    FireTimeCase("2025-12-31T12:00:00Z", "0 0 1 1 *", newYork, "2026-01-01T05:00:00Z"),
    FireTimeCase("2025-01-01T00:00:00Z", "0 0 30 2 *", utc, nil),
    FireTimeCase("2025-01-01T00:00:00Z", "0 0 31 4,6,9,11 *", newYork, nil),
    // Intervals, aligned to the Unix epoch.
    FireTimeCase("2025-06-04T10:07:13Z", every: .seconds(30 * 60), "2025-06-04T10:30:00Z"),
    FireTimeCase("2025-06-04T10:30:00Z", every: .seconds(30 * 60), "2025-06-04T11:00:00Z"),
    FireTimeCase("2025-06-04T10:07:13Z", every: .seconds(1), "2025-06-04T10:07:14Z"),
    FireTimeCase("2025-06-04T10:07:13.250Z", every: .seconds(1), "2025-06-04T10:07:14Z"),
    // 11:00Z is 240 s past a multiple of 7 minutes since the epoch; hour alignment would say 11:07.
    FireTimeCase("2025-06-04T11:00:00Z", every: .seconds(7 * 60), "2025-06-04T11:03:00Z"),
    FireTimeCase("2025-06-04T10:56:00Z", every: .seconds(7 * 60), "2025-06-04T11:03:00Z"),
    FireTimeCase("2025-06-04T10:00:00Z", every: .seconds(90 * 60), "2025-06-04T10:30:00Z"),
    FireTimeCase("2025-06-04T10:00:00Z", every: .seconds(86_400), "2025-06-05T00:00:00Z"),
    FireTimeCase("2025-06-04T10:07:13Z", every: .milliseconds(1500), "2025-06-04T10:07:13.500Z"),
    FireTimeCase("2025-06-04T10:07:13.100Z", every: .milliseconds(250), "2025-06-04T10:07:13.250Z"),
    FireTimeCase("1969-12-31T23:59:00Z", every: .seconds(7 * 60), "1970-01-01T00:00:00Z"),
    FireTimeCase("1969-12-31T23:00:00Z", every: .seconds(7 * 60), "1969-12-31T23:04:00Z"),
    FireTimeCase("2025-06-04T10:00:00Z", every: .zero, nil),
    FireTimeCase("2025-06-04T10:00:00Z", every: .seconds(-60), nil),
    FireTimeCase("2025-06-04T10:00:00Z", every: .microseconds(500), nil),
]

private let previousFireTable: [FireTimeCase] = [
    // The repeated 01:30 fired at its first occurrence; an every-hour schedule fired at both.
    FireTimeCase("2025-11-02T07:00:00Z", "30 1 * * *", newYork, "2025-11-02T05:30:00Z"),
    FireTimeCase("2025-11-02T07:00:00Z", "30 * * * *", newYork, "2025-11-02T06:30:00Z"),
    FireTimeCase("2025-03-09T12:00:00Z", "30 2 * * *", newYork, "2025-03-09T07:00:00Z"),
    FireTimeCase("2025-03-09T06:59:59Z", "30 2 * * *", newYork, "2025-03-08T07:30:00Z"),
    FireTimeCase("2025-06-04T12:00:00Z", "0 12 * * *", utc, "2025-06-04T12:00:00Z"),
    FireTimeCase("2025-06-04T11:59:59Z", "0 12 * * *", utc, "2025-06-03T12:00:00Z"),
    FireTimeCase("2025-10-26T02:30:00Z", "0 */2 * * *", madrid, "2025-10-26T00:00:00Z"),
    FireTimeCase("2025-10-26T01:10:00Z", "*/20 * * * *", madrid, "2025-10-26T01:00:00Z"),
    FireTimeCase("2025-10-05T00:00:00Z", "15 2 * * *", lordHowe, "2025-10-04T15:30:00Z"),
    FireTimeCase("2025-04-05T15:20:00Z", "45 1 * * *", lordHowe, "2025-04-05T14:45:00Z"),
    FireTimeCase("2025-04-05T15:20:00Z", "45 * * * *", lordHowe, "2025-04-05T15:15:00Z"),
    FireTimeCase("2025-06-07T23:59:59Z", "@weekly", utc, "2025-06-01T00:00:00Z"),
    FireTimeCase("2026-01-01T00:00:00Z", "59 23 31 12 *", utc, "2025-12-31T23:59:00Z"),
    FireTimeCase("2025-07-12T12:00:00Z", "0 0 13 * 5", utc, "2025-07-11T00:00:00Z"),
    FireTimeCase("2025-06-07T12:00:00Z", "30 23 * * FRI", utc, "2025-06-06T23:30:00Z"),
    FireTimeCase("2011-12-30T18:00:00Z", "0 9 * * *", apia, "2011-12-30T10:00:00Z"),
    FireTimeCase("2027-06-01T00:00:00Z", "0 0 29 2 *", utc, "2024-02-29T00:00:00Z"),
    FireTimeCase("2025-06-01T00:00:00Z", "0 0 30 2 *", utc, nil),
    FireTimeCase("2025-06-04T10:07:13Z", every: .seconds(30 * 60), "2025-06-04T10:00:00Z"),
    FireTimeCase("2025-06-04T10:30:00Z", every: .seconds(30 * 60), "2025-06-04T10:30:00Z"),
    FireTimeCase("2025-06-04T11:00:00Z", every: .seconds(7 * 60), "2025-06-04T10:56:00Z"),
    FireTimeCase("2025-06-04T10:07:13Z", every: .milliseconds(1500), "2025-06-04T10:07:12Z"),
    FireTimeCase("1969-12-31T23:59:00Z", every: .seconds(7 * 60), "1969-12-31T23:53:00Z"),
]

// Local days around the changes: (local midnight − 1 s, next local midnight − 1 s] in UTC.
private let newYorkSpringDay = ("2025-03-09T04:59:59Z", "2025-03-10T03:59:59Z")
private let newYorkFallDay = ("2025-11-02T03:59:59Z", "2025-11-03T04:59:59Z")
private let madridSpringDay = ("2025-03-29T22:59:59Z", "2025-03-30T21:59:59Z")
private let madridFallDay = ("2025-10-25T21:59:59Z", "2025-10-26T22:59:59Z")
private let lordHoweSpringDay = ("2025-10-04T13:29:59Z", "2025-10-05T12:59:59Z")
private let lordHoweFallDay = ("2025-04-05T12:59:59Z", "2025-04-06T13:29:59Z")

private let countTable: [FireCountCase] = [
    FireCountCase("0 * * * *", newYork, newYorkSpringDay.0, newYorkSpringDay.1, 23, "spring-forward day"),
    FireCountCase("0 * * * *", newYork, newYorkFallDay.0, newYorkFallDay.1, 25, "fall-back day: 01:00 twice"),
    FireCountCase("0 0-23 * * *", newYork, newYorkFallDay.0, newYorkFallDay.1, 25, "same expression as 0 * * * *"),
    FireCountCase("*/15 * * * *", newYork, newYorkSpringDay.0, newYorkSpringDay.1, 92, "spring-forward day"),
    FireCountCase("*/15 * * * *", newYork, newYorkFallDay.0, newYorkFallDay.1, 100, "fall-back day"),
    FireCountCase("* * * * *", newYork, newYorkSpringDay.0, newYorkSpringDay.1, 1380, "spring-forward day"),
    FireCountCase("* * * * *", newYork, newYorkFallDay.0, newYorkFallDay.1, 1500, "fall-back day"),
    FireCountCase(
        "0 1-23 * * *", newYork, newYorkSpringDay.0, newYorkSpringDay.1, 22, "fixed hours: 02:00 joins 03:00"),
    FireCountCase("0 1-23 * * *", newYork, newYorkFallDay.0, newYorkFallDay.1, 23, "fixed hours: 01:00 once"),
    FireCountCase("30 2 * * *", newYork, newYorkSpringDay.0, newYorkSpringDay.1, 1, "skipped time fires once"),
    FireCountCase("30 1 * * *", newYork, newYorkFallDay.0, newYorkFallDay.1, 1, "repeated time fires once"),
    FireCountCase("* 1 * * *", newYork, newYorkFallDay.0, newYorkFallDay.1, 60, "repeated hour fires once"),
    FireCountCase("* 2 * * *", newYork, newYorkSpringDay.0, newYorkSpringDay.1, 1, "skipped hour fires once"),
    FireCountCase("0 * * * *", madrid, madridSpringDay.0, madridSpringDay.1, 23, "spring-forward day"),
    FireCountCase("0 * * * *", madrid, madridFallDay.0, madridFallDay.1, 25, "fall-back day"),
    FireCountCase("0 */2 * * *", madrid, madridSpringDay.0, madridSpringDay.1, 12, "hour step is fixed-hour"),
    FireCountCase("0 */2 * * *", madrid, madridFallDay.0, madridFallDay.1, 12, "hour step is fixed-hour"),
    FireCountCase("0 * * * *", lordHowe, lordHoweSpringDay.0, lordHoweSpringDay.1, 23, "02:00 skipped"),
    FireCountCase("0 * * * *", lordHowe, lordHoweFallDay.0, lordHoweFallDay.1, 24, "only 01:30-01:59 repeats"),
    FireCountCase("30 * * * *", lordHowe, lordHoweSpringDay.0, lordHoweSpringDay.1, 24, "02:30 exists"),
    FireCountCase("30 * * * *", lordHowe, lordHoweFallDay.0, lordHoweFallDay.1, 25, "01:30 twice"),
    FireCountCase("* * * * *", utc, "2025-06-03T23:59:59Z", "2025-06-04T23:59:59Z", 1440, "a day"),
    FireCountCase("@daily", newYork, "2024-12-31T12:00:00Z", "2025-12-31T12:00:00Z", 365, "a year"),
    FireCountCase("0 0 29 2 *", utc, "2000-01-01T00:00:00Z", "2100-12-31T00:00:00Z", 25, "a century of leap days"),
    FireCountCase("0 0 30 2 *", utc, "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z", 0, "never"),
]

@Suite("Next fire")
struct NextFireTests {
    @Test(arguments: nextFireTable)
    func nextFire(_ testCase: FireTimeCase) {
        let fire = testCase.spec.trigger.nextFire(after: instant(testCase.from))
        #expect(fire == testCase.expected.map(instant))
    }

    @Test(arguments: previousFireTable)
    func previousFire(_ testCase: FireTimeCase) {
        let fire = testCase.spec.trigger.previousFire(atOrBefore: instant(testCase.from))
        #expect(fire == testCase.expected.map(instant))
    }

    /// `previousFire` and `nextFire` bracket every instant of the next-fire table with nothing in between, and
    /// agree with `fireTimes`.
    @Test(arguments: nextFireTable)
    func previousAndNextAgree(_ testCase: FireTimeCase) throws {
        let trigger = testCase.spec.trigger
        let date = instant(testCase.from)
        let next = trigger.nextFire(after: date)
        let previous = trigger.previousFire(atOrBefore: date)
        guard let next else {
            #expect(trigger.fireTimes(after: date, through: date + 86_400 * 365, limit: 1).isEmpty)
            return
        }
        #expect(trigger.previousFire(atOrBefore: next) == next)
        #expect(trigger.fireTimes(after: date, through: next, limit: 5) == [next])
        let previousBefore = try #require(trigger.previousFire(atOrBefore: next - 0.001))
        #expect(previousBefore <= date)
        #expect(previousBefore == previous)
        #expect(trigger.nextFire(after: previousBefore) == next)
    }

    @Test(arguments: countTable)
    func fireCount(_ testCase: FireCountCase) {
        let trigger = TestTrigger.cron(testCase.expression, testCase.zone).trigger
        let times = trigger.fireTimes(after: instant(testCase.after), through: instant(testCase.through), limit: 10_000)
        #expect(times.count == testCase.count)
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test func everyHourFollowsRealTimeAcrossFallBack() {
        let trigger = TestTrigger.cron("0 * * * *", newYork).trigger
        let times = trigger.fireTimes(after: instant(newYorkFallDay.0), through: instant(newYorkFallDay.1), limit: 100)
        let hourly = (0..<25).map { instant("2025-11-02T04:00:00Z") + Double($0) * 3600 }
        #expect(times == hourly)
    }

    @Test func fixedHoursOnSpringForwardDay() {
        // 01:00 EST, then 02:00 and 03:00 both at 03:00 EDT (07:00Z), then each hour to 23:00 EDT (03:00Z).
        let trigger = TestTrigger.cron("0 1-23 * * *", newYork).trigger
        let times = trigger.fireTimes(
            after: instant(newYorkSpringDay.0), through: instant(newYorkSpringDay.1), limit: 100)
        let hourly = (0..<22).map { instant("2025-03-09T06:00:00Z") + Double($0) * 3600 }
        #expect(times == hourly)
    }

    @Test func fixedTimeAcrossSpringForwardWeekInMadrid() {
        let trigger = TestTrigger.cron("30 2 * * *", madrid).trigger
        let times = trigger.fireTimes(
            after: instant("2025-03-27T00:00:00Z"), through: instant("2025-04-02T00:00:00Z"), limit: 10)
        #expect(
            times
                == [
                    "2025-03-27T01:30:00Z", "2025-03-28T01:30:00Z", "2025-03-29T01:30:00Z",
                    "2025-03-30T01:00:00Z",  // 02:30 skipped: 03:00 CEST
                    "2025-03-31T00:30:00Z", "2025-04-01T00:30:00Z",
                ].map(instant))
    }

    @Test func fireTimesStopsAtLimitAndBounds() {
        let everyMinute = TestTrigger.cron("* * * * *", utc).trigger
        let from = instant("2025-06-04T10:00:30Z")
        #expect(
            everyMinute.fireTimes(after: from, through: from + 86_400, limit: 3)
                == ["2025-06-04T10:01:00Z", "2025-06-04T10:02:00Z", "2025-06-04T10:03:00Z"].map(instant))
        #expect(everyMinute.fireTimes(after: from, through: from + 86_400, limit: 0).isEmpty)
        #expect(everyMinute.fireTimes(after: from, through: from, limit: 10).isEmpty)
        #expect(everyMinute.fireTimes(after: from, through: from - 3600, limit: 10).isEmpty)
        // `through` is inclusive, `after` exclusive.
        #expect(
            everyMinute.fireTimes(
                after: instant("2025-06-04T10:01:00Z"), through: instant("2025-06-04T10:03:00Z"), limit: 10)
                == ["2025-06-04T10:02:00Z", "2025-06-04T10:03:00Z"].map(instant))
    }

    @Test func intervalFireTimes() {
        let halfHourly = ScheduleTrigger.every(.seconds(1800))
        let day = halfHourly.fireTimes(
            after: instant("2025-06-04T00:00:00Z"), through: instant("2025-06-05T00:00:00Z"), limit: 100)
        #expect(day.count == 48)
        #expect(day.first == instant("2025-06-04T00:30:00Z"))
        #expect(day.last == instant("2025-06-05T00:00:00Z"))

        let sevenMinutes = ScheduleTrigger.every(.seconds(420))
        #expect(
            sevenMinutes.fireTimes(
                after: instant("2025-06-04T10:50:00Z"), through: instant("2025-06-04T11:10:00Z"), limit: 10)
                == ["2025-06-04T10:56:00Z", "2025-06-04T11:03:00Z", "2025-06-04T11:10:00Z"].map(instant))
        #expect(
            sevenMinutes.fireTimes(
                after: instant("2025-06-04T10:50:00Z"), through: instant("2025-06-04T11:10:00Z"), limit: 2)
                == ["2025-06-04T10:56:00Z", "2025-06-04T11:03:00Z"].map(instant))
        #expect(ScheduleTrigger.every(.zero).fireTimes(after: .distantPast, through: .distantFuture, limit: 10).isEmpty)
    }

    @Test func equalExpressionsFireAlike() throws {
        let star = ScheduleTrigger.cron(try CronExpression(parsing: "@hourly"), TimeZone(identifier: newYork)!)
        let range = ScheduleTrigger.cron(try CronExpression(parsing: "0 0-23 * * *"), TimeZone(identifier: newYork)!)
        #expect(star == range)
        let after = instant(newYorkFallDay.0)
        let through = instant(newYorkFallDay.1)
        #expect(
            star.fireTimes(after: after, through: through, limit: 100)
                == range.fireTimes(after: after, through: through, limit: 100))
    }

    /// Minute by minute, one 8-year search alone would take millions of steps, and these forty
    /// would run for many minutes: the time limit fails such a search, no measurement needed.
    @Test(.timeLimit(.minutes(1)))
    func impossibleExpressionGivesUp() {
        let never = TestTrigger.cron("0 0 30 2 *", newYork).trigger
        for year in 2000..<2020 {
            #expect(never.nextFire(after: instant("\(year)-01-01T00:00:00Z")) == nil)
            #expect(never.previousFire(atOrBefore: instant("\(year)-01-01T00:00:00Z")) == nil)
        }
    }

    @Test func unrepresentableDatesHaveNoFires() {
        let hourly = TestTrigger.cron("@hourly", utc).trigger
        #expect(hourly.nextFire(after: Date(timeIntervalSince1970: .infinity)) == nil)
        #expect(hourly.previousFire(atOrBefore: Date(timeIntervalSince1970: -.infinity)) == nil)
        #expect(ScheduleTrigger.every(.seconds(60)).nextFire(after: Date(timeIntervalSince1970: .nan)) == nil)
    }
}

/// Fire times by brute force, straight from the documented rules: every UTC minute is examined with Foundation's
/// calendar in the zone. `followsElapsedTime` says which rule the expression is under.
private func referenceFires(
    _ expression: CronExpression, in zone: TimeZone, followsElapsedTime: Bool, after: Date, through: Date
) -> [Date] {
    var local = Calendar(identifier: .gregorian)
    local.timeZone = zone
    var plain = Calendar(identifier: .gregorian)
    plain.timeZone = TimeZone(identifier: "UTC")!

    func selects(_ components: DateComponents) -> Bool {
        expression.matches(
            minute: components.minute!, hour: components.hour!, dayOfMonth: components.day!,
            month: components.month!, dayOfWeek: components.weekday! - 1)
    }
    let fields: Set<Calendar.Component> = [.minute, .hour, .day, .month, .weekday, .year]
    func wall(_ date: Date) -> DateComponents { local.dateComponents(fields, from: date) }
    func offset(_ date: Date) -> Double { Double(zone.secondsFromGMT(for: date)) }

    var fires: [Date] = []
    var date = Date(timeIntervalSince1970: (after.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
    while date <= through {
        let components = wall(date)
        var isFire = false
        if selects(components) {
            if followsElapsedTime {
                isFire = true
            } else {
                // Did this wall time already happen under a larger offset seen in the last two days?
                let earlierOffsets = Set((1...48).map { offset(date - Double($0) * 3600) }).filter { $0 > offset(date) }
                let seen = earlierOffsets.contains { other in
                    let earlier = date - (other - offset(date))
                    return offset(earlier) == other && wall(earlier) == components
                }
                isFire = !seen
            }
        }
        if !isFire, !followsElapsedTime, offset(date - 60) < offset(date) {
            // Clocks jumped forward here: fire if the expression selects any skipped wall time.
            var skipped = date + offset(date - 60)
            while skipped < date + offset(date) {
                if selects(plain.dateComponents(fields, from: skipped)) { isFire = true }
                skipped += 60
            }
        }
        if isFire { fires.append(date) }
        date += 60
    }
    return fires
}

struct ReferenceFireCase: Sendable, CustomTestStringConvertible {
    let expression: String
    let followsElapsedTime: Bool
    var testDescription: String { "\"\(expression)\"" }
}

/// Windows of two local days around each change.
private let referenceWindows: [(zone: String, after: String, through: String)] = [
    (newYork, "2025-03-08T12:00:00Z", "2025-03-10T12:00:00Z"),
    (newYork, "2025-11-01T12:00:00Z", "2025-11-03T12:00:00Z"),
    (madrid, "2025-03-29T12:00:00Z", "2025-03-31T12:00:00Z"),
    (madrid, "2025-10-25T12:00:00Z", "2025-10-27T12:00:00Z"),
    (lordHowe, "2025-04-04T12:00:00Z", "2025-04-06T12:00:00Z"),
    (lordHowe, "2025-10-03T12:00:00Z", "2025-10-05T12:00:00Z"),
    (apia, "2011-12-29T00:00:00Z", "2011-12-31T00:00:00Z"),
    (kolkata, "2025-06-03T12:00:00Z", "2025-06-05T12:00:00Z"),
]

private let referenceExpressions: [ReferenceFireCase] = [
    ReferenceFireCase(expression: "30 2 * * *", followsElapsedTime: false),
    ReferenceFireCase(expression: "45 1 * * *", followsElapsedTime: false),
    ReferenceFireCase(expression: "0,30 1,2,3 * * *", followsElapsedTime: false),
    ReferenceFireCase(expression: "0 1-23 * * *", followsElapsedTime: false),
    ReferenceFireCase(expression: "0 */2 * * *", followsElapsedTime: false),
    ReferenceFireCase(expression: "*/10 2 * * *", followsElapsedTime: false),
    ReferenceFireCase(expression: "0 0 * * *", followsElapsedTime: false),
    ReferenceFireCase(expression: "59 23 * * *", followsElapsedTime: false),
    ReferenceFireCase(expression: "0 9 * * MON-FRI", followsElapsedTime: false),
    ReferenceFireCase(expression: "30 23 * * SAT,SUN", followsElapsedTime: false),
    ReferenceFireCase(expression: "*/15 * * * *", followsElapsedTime: true),
    ReferenceFireCase(expression: "@hourly", followsElapsedTime: true),
    ReferenceFireCase(expression: "30 * * * *", followsElapsedTime: true),
    ReferenceFireCase(expression: "*/7 */1 * * *", followsElapsedTime: true),
]

@Suite("Next fire against a brute-force reference")
struct NextFireReferenceTests {
    @Test(arguments: referenceExpressions)
    func matchesReferenceAroundChanges(_ testCase: ReferenceFireCase) throws {
        let expression = try CronExpression(parsing: testCase.expression)
        for window in referenceWindows {
            let zone = TimeZone(identifier: window.zone)!
            let after = instant(window.after)
            let through = instant(window.through)
            let expected = referenceFires(
                expression, in: zone, followsElapsedTime: testCase.followsElapsedTime, after: after, through: through)
            let trigger = ScheduleTrigger.cron(expression, zone)
            #expect(trigger.fireTimes(after: after, through: through, limit: 10_000) == expected, "\(window.zone)")

            // nextFire and previousFire walk the same times one by one.
            var stepped: [Date] = []
            var cursor = after
            while let next = trigger.nextFire(after: cursor), next <= through {
                stepped.append(next)
                cursor = next
            }
            #expect(stepped == expected, "\(window.zone) by nextFire")
            var backwards: [Date] = []
            cursor = through
            while let previous = trigger.previousFire(atOrBefore: cursor), previous > after {
                backwards.append(previous)
                cursor = previous - 1
            }
            #expect(backwards.reversed() == expected, "\(window.zone) by previousFire")
        }
    }
}
