import Foundation

/// When a schedule fires.
///
/// ## Cron schedules
///
/// A cron schedule fires at whole minutes of wall-clock time in its IANA time zone: at each local minute the
/// expression selects (`CronExpression.matches`), mapped to real instants as follows. Local time only repeats
/// or jumps at an offset change (daylight saving, or a zone changing its standard offset), so the rules below
/// only ever matter around one.
///
/// - **Every-hour expressions** — those whose hour field allows all 24 hours, such as `*/15 * * * *`,
///   `0 * * * *` and `@hourly` (and `0 0-23 * * *`, which is the same expression) — follow real elapsed time:
///   they fire at every real instant whose local wall time they select, and at nothing else.
///   - When clocks go back, the repeated wall times fire again: `0 * * * *` fires at 01:00 EDT and again at
///     01:00 EST on the day New York falls back, 25 times that local day.
///   - When clocks go forward, the skipped wall times do not fire: on the day New York springs forward
///     `0 * * * *` fires 23 times and `30 * * * *` goes from 01:30 EST to 03:30 EDT.
///
///   This is what Vixie cron does for wildcard-hour jobs, and keeps such schedules evenly spaced in real time.
/// - **All other expressions** ("fixed-hour", including hour lists, ranges and steps that leave some hour out,
///   such as `30 2 * * *`, `0 9-17 * * *` or `0 */2 * * *`) fire each selected local time exactly once:
///   - A local time repeated when clocks go back fires at its first occurrence only: `30 1 * * *` fires at
///     01:30 EDT on the day New York falls back, not again at 01:30 EST.
///   - A local time skipped when clocks go forward fires once, at the first valid instant after the gap:
///     `30 2 * * *` fires at 03:00 EDT on the day New York jumps from 02:00 to 03:00. Fire times form a set,
///     so every skipped time of the gap, and any fire the expression has anyway at that instant (03:00 for
///     `0 2,3 * * *`), together make that single fire at 03:00.
///
///   So a daily job still runs once a day on both changeover days, as it does under Vixie cron.
///
/// Whether an expression is "every-hour" depends only on the hours it allows, not its spelling, so equal
/// expressions (`CronExpression ==`) always fire at the same instants.
///
/// A cron search gives up after 8 years (2,928 days) without a fire: `nextFire` and `previousFire` then return
/// `nil` — as they do for expressions that can never fire, such as `0 0 30 2 *` — and `fireTimes` stops at a
/// gap that long. That covers leap days, whose longest gap is 2,921 days (2096-02-29 to 2104-02-29, as 2100 is
/// not a leap year), but not the rare expressions that combine a date with a weekday under the AND rule:
/// `0 0 */30 2 MON` (1 February when it is a Monday, up to 11 years apart) can come back `nil` between fires.
///
/// ## Interval schedules
///
/// `every(interval)` fires at the whole multiples of `interval` counted from the Unix epoch, 1970-01-01T00:00:00Z
/// (before it too), so every host computes the same fire times whatever its clock or start time: `every 30m`
/// fires at :00 and :30 of each UTC hour, and `every 7m` fires at 10:56 and then 11:03 UTC on 2025-06-04, not
/// at 11:00 and 11:07 as counting from the hour would. Time zones and daylight saving play no part. Intervals
/// shorter than a millisecond (and zero or negative ones) never fire: a `Date` cannot keep their fire times apart.
public enum ScheduleTrigger: Sendable, Hashable {
    /// A cron expression evaluated in a time zone; see the type's documentation for daylight-saving changes.
    case cron(CronExpression, TimeZone)
    /// Aligned to the Unix epoch: fire times are the multiples of the interval since 1970-01-01T00:00:00Z, so
    /// every host computes the same ones.
    case every(Duration)

    /// The first fire time strictly after `date`, or `nil` if there is none within 8 years (cron) or the
    /// interval is too short to fire (every).
    public func nextFire(after date: Date) -> Date? {
        switch self {
        case .cron(let expression, let timeZone):
            guard let after = WholeSeconds.floor(of: date) else { return nil }
            return CronTimeline(expression, in: timeZone).firstFire(after: after).map(WholeSeconds.date)
        case .every(let interval):
            guard let grid = EpochGrid(interval), let index = grid.index(atOrBefore: date) else { return nil }
            return grid.date(at: index + 1)
        }
    }

    /// The fire times in (`from`, `through`], at most `limit` of them, ascending (for catch-up and
    /// `host schedules`). Empty when `through` is not after `from` or `limit` is not positive.
    ///
    /// The same times as calling `nextFire(after:)` repeatedly from `from`: in particular a cron schedule stops
    /// early at a gap of more than 8 years.
    public func fireTimes(after from: Date, through: Date, limit: Int) -> [Date] {
        guard limit > 0, through > from else { return [] }
        switch self {
        case .cron(let expression, let timeZone):
            guard let after = WholeSeconds.floor(of: from), let last = WholeSeconds.floor(of: through) else {
                return []
            }
            return CronTimeline(expression, in: timeZone).fires(after: after, through: last, limit: limit)
                .map(WholeSeconds.date)
        case .every(let interval):
            guard let grid = EpochGrid(interval), let before = grid.index(atOrBefore: from) else { return [] }
            var times: [Date] = []
            var index = before + 1
            while times.count < limit, let time = grid.date(at: index), time <= through {
                times.append(time)
                index += 1
            }
            return times
        }
    }

    /// The last fire time at or before `date` (for catch-up `once`: the most recent missed fire), or `nil` if
    /// there is none within 8 years (cron) or the interval is too short to fire (every).
    public func previousFire(atOrBefore date: Date) -> Date? {
        switch self {
        case .cron(let expression, let timeZone):
            guard let last = WholeSeconds.floor(of: date) else { return nil }
            return CronTimeline(expression, in: timeZone).lastFire(atOrBefore: last).map(WholeSeconds.date)
        case .every(let interval):
            guard let grid = EpochGrid(interval), let index = grid.index(atOrBefore: date) else { return nil }
            return grid.date(at: index)
        }
    }
}

/// Instants as whole seconds since the Unix epoch, the unit cron fire times are computed in.
enum WholeSeconds {
    /// How far from the epoch an instant may lie, about 31,000 years, which keeps all arithmetic far from
    /// overflow; later or earlier dates (and infinities) have no fire times.
    static let limit = 1_000_000_000_000

    /// The whole second `s` with `date(s) <= date < date(s + 1)`, or `nil` beyond `limit`.
    static func floor(of date: Date) -> Int? {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, abs(seconds) < Double(limit) else { return nil }
        var whole = Int(seconds.rounded(.down))
        // The conversion from the reference date can round across a whole second; settle it by comparing dates.
        if Self.date(whole) > date { whole -= 1 }
        if Self.date(whole + 1) <= date { whole += 1 }
        return whole
    }

    static func date(_ seconds: Int) -> Date {
        Date(timeIntervalSince1970: TimeInterval(seconds))
    }
}

/// The fire times of `every(interval)`: fire `k` is at `k × interval` after the Unix epoch.
struct EpochGrid {
    /// The interval in whole seconds, when it is one; computed exactly.
    private let wholeSeconds: Int?
    /// The interval in seconds.
    private let length: Double

    /// `nil` for intervals shorter than a millisecond, which never fire.
    init?(_ interval: Duration) {
        guard interval >= .milliseconds(1) else { return nil }
        let (seconds, attoseconds) = interval.components
        guard seconds < Int64(WholeSeconds.limit) else { return nil }
        wholeSeconds = attoseconds == 0 ? Int(seconds) : nil
        length = Double(seconds) + Double(attoseconds) * 1e-18
    }

    /// Fire `index`, or `nil` if it lies beyond the range `WholeSeconds` allows.
    func date(at index: Int) -> Date? {
        if let wholeSeconds {
            let (seconds, overflow) = index.multipliedReportingOverflow(by: wholeSeconds)
            guard !overflow, abs(seconds) < WholeSeconds.limit else { return nil }
            return WholeSeconds.date(seconds)
        }
        let seconds = Double(index) * length
        guard abs(seconds) < Double(WholeSeconds.limit) else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }

    /// The index of the last fire at or before `date`.
    func index(atOrBefore date: Date) -> Int? {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, abs(seconds) < Double(WholeSeconds.limit) else { return nil }
        var index: Int
        if let wholeSeconds, let whole = WholeSeconds.floor(of: date) {
            index = whole >= 0 ? whole / wholeSeconds : -((-whole + wholeSeconds - 1) / wholeSeconds)
        } else {
            index = Int((seconds / length).rounded(.down))
        }
        // Floating-point division can land one off at a fire time; settle it by comparing dates.
        while let fire = self.date(at: index), fire > date { index -= 1 }
        while let fire = self.date(at: index + 1), fire <= date { index += 1 }
        return index
    }
}
