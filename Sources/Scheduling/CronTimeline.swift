import Foundation

/// The fire times of a cron expression in a time zone, by the rules `ScheduleTrigger` documents.
///
/// Instants are whole seconds since the Unix epoch. The search walks the zone's *stretches* — spans of real time
/// with a constant UTC offset, bounded by the zone's transitions — and within a stretch works in plain
/// wall-clock minutes ("minutes since 1970-01-01 00:00 local"), where the calendar has no gaps or repeats and
/// whole months, days and hours that the expression rules out can be skipped at once. A stretch's wall times
/// map back to instants by subtracting its offset. At a transition:
/// - a forward jump skips the wall times [start + previous offset, start + offset); for fixed-hour expressions
///   any of them the expression selects fire once, at the transition itself;
/// - a backward jump repeats the wall times [start + offset, start + previous offset); fixed-hour expressions
///   skip them in the later stretch, having fired them in the earlier one.
/// Every-hour expressions ignore both: each stretch simply fires the wall times it contains.
struct CronTimeline {
    /// How long a search goes without a fire before giving up: 8 years of 366 days.
    static let horizon = 8 * 366 * 86_400

    /// How far back to look for the transition that began the stretch a search starts in, so a search that
    /// starts just after clocks went back knows which wall times were already shown. Comfortably longer than
    /// any backward jump a zone has made.
    private static let lookback = 3 * 86_400

    /// How far back a backward search looks for transitions at a time; a year and a bit holds at most a few.
    private static let backwardStep = 400 * 86_400

    private let expression: CronExpression
    private let timeZone: TimeZone
    private let minutes: [Bool]
    private let hours: [Bool]
    /// Indexed by month number, 1 through 12.
    private let months: [Bool]
    /// Whether the hour field allows every hour, so the schedule follows real elapsed time across transitions
    /// rather than firing each local time once.
    let followsElapsedTime: Bool

    init(_ expression: CronExpression, in timeZone: TimeZone) {
        self.expression = expression
        self.timeZone = timeZone
        minutes = (0..<60).map { expression.allows($0, in: .minute) }
        hours = (0..<24).map { expression.allows($0, in: .hour) }
        months = (0...12).map { expression.allows($0, in: .month) }
        followsElapsedTime = hours.allSatisfy { $0 }
    }

    // MARK: Searches

    /// The first fire strictly after `after`, within `horizon`.
    func firstFire(after: Int) -> Int? {
        var first: Int?
        walkForward(after: after, through: after + Self.horizon) { time in
            first = time
            return false
        }
        return first
    }

    /// The fires in (`after`, `through`], ascending, at most `limit`; stops at a gap longer than `horizon`.
    func fires(after: Int, through: Int, limit: Int) -> [Int] {
        var times: [Int] = []
        walkForward(after: after, through: through) { time in
            times.append(time)
            return times.count < limit
        }
        return times
    }

    /// The last fire at or before `last`, within `horizon`.
    func lastFire(atOrBefore last: Int) -> Int? {
        let bottom = last - Self.horizon
        var top = last
        while top >= bottom {
            // The stretch holding `top`, or its part since `backwardStep` ago if it began before then.
            let start = max(
                lastTransition(atOrBefore: top, notBefore: top - Self.backwardStep) ?? (top - Self.backwardStep),
                bottom
            )
            let offset = offset(at: start)
            if let minute = lastMatch(
                from: Self.ceilingMinute(firstWallTime(ofStretchAt: start, offset: offset)),
                through: Self.floorMinute(top + offset)
            ) {
                return minute * 60 - offset
            }
            if firesAtGap(endingAt: start, offset: offset) { return start }
            top = start - 1
        }
        return nil
    }

    /// Calls `body` with each fire in (`after`, `through`] in ascending order until it returns `false`, stopping
    /// early at a gap of more than `horizon` between fires.
    private func walkForward(after: Int, through: Int, _ body: (Int) -> Bool) {
        var latest = after
        /// Hands on a fire; false when the walk must stop.
        func emit(_ time: Int) -> Bool {
            // A gap fire at a transition may coincide with the stretch's first regular fire; they are one fire.
            guard time > latest else { return true }
            guard time <= through, time - latest <= Self.horizon else { return false }
            latest = time
            return body(time)
        }

        let cursor = after + 1
        // The stretch holding `cursor`; if it began more than `lookback` ago, its part from `cursor` on.
        var start = lastTransition(atOrBefore: cursor, notBefore: cursor - Self.lookback) ?? cursor
        while true {
            let offset = offset(at: start)
            let end = nextTransition(after: start)
            if start >= cursor, firesAtGap(endingAt: start, offset: offset), !emit(start) { return }

            var minute = Self.ceilingMinute(max(firstWallTime(ofStretchAt: start, offset: offset), cursor + offset))
            while true {
                let lastInstant = min(end.map { $0 - 1 } ?? .max, through, latest + Self.horizon)
                guard let match = firstMatch(from: minute, through: Self.floorMinute(lastInstant + offset)) else {
                    break
                }
                if !emit(match * 60 - offset) { return }
                minute = match + 1
            }

            guard let end, end <= through, end - latest <= Self.horizon else { return }
            start = end
        }
    }

    // MARK: Transitions

    /// The earliest wall time (seconds) of the stretch beginning at `start` that can fire there. Fixed-hour
    /// expressions skip the wall times a backward jump repeats, having fired them before it. `start` may lie
    /// after the transition that began the stretch; the jump is looked for in the `lookback` before it.
    private func firstWallTime(ofStretchAt start: Int, offset: Int) -> Int {
        let first = start + offset
        guard !followsElapsedTime,
            let transition = lastTransition(atOrBefore: start, notBefore: start - Self.lookback)
        else { return first }
        let before = self.offset(at: transition - 1)
        return max(first, transition + before)
    }

    /// Whether a fixed-hour expression fires at `start` for the wall times a forward jump there skipped.
    private func firesAtGap(endingAt start: Int, offset: Int) -> Bool {
        guard !followsElapsedTime else { return false }
        let before = self.offset(at: start - 1)
        guard before < offset else { return false }
        let skipped = (start + before)..<(start + offset)
        return firstMatch(
            from: Self.ceilingMinute(skipped.lowerBound), through: Self.floorMinute(skipped.upperBound - 1))
            != nil
    }

    private func offset(at time: Int) -> Int {
        timeZone.secondsFromGMT(for: WholeSeconds.date(time))
    }

    /// The first instant after `time` at which the zone's offset (or at least its name) changes.
    private func nextTransition(after time: Int) -> Int? {
        guard let date = timeZone.nextDaylightSavingTimeTransition(after: WholeSeconds.date(time)) else {
            return nil
        }
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, abs(seconds) < Double(WholeSeconds.limit) else { return nil }
        // Transitions fall on whole seconds; guard against a transition reported at or before `time` all the same.
        return max(Int(seconds.rounded(.up)), time + 1)
    }

    /// The last transition in [`notBefore`, `time`].
    private func lastTransition(atOrBefore time: Int, notBefore: Int) -> Int? {
        var found: Int?
        var probe = notBefore - 1
        while let next = nextTransition(after: probe), next <= time {
            found = next
            probe = next
        }
        return found
    }

    // MARK: Wall-clock minutes

    /// The first wall-clock minute in `from...through` the expression selects, skipping by month, day, hour
    /// and minute in turn.
    private func firstMatch(from: Int, through: Int) -> Int? {
        var minute = from
        while minute <= through {
            let day = Civil.floorDivide(minute, 1440)
            let (year, month, dayOfMonth) = Civil.date(fromDay: day)
            guard months[month] else {
                let next = month == 12 ? (year + 1, 1) : (year, month + 1)
                minute = Civil.day(year: next.0, month: next.1, day: 1) * 1440
                continue
            }
            guard expression.matchesDay(dayOfMonth: dayOfMonth, dayOfWeek: Civil.weekday(ofDay: day)) else {
                minute = (day + 1) * 1440
                continue
            }
            let hour = (minute - day * 1440) / 60
            guard hours[hour] else {
                minute = day * 1440 + (((hour + 1)..<24).first { hours[$0] }.map { $0 * 60 } ?? 1440)
                continue
            }
            let minuteOfHour = minute % 60 < 0 ? minute % 60 + 60 : minute % 60
            guard minutes[minuteOfHour] else {
                let hourStart = day * 1440 + hour * 60
                minute = hourStart + (((minuteOfHour + 1)..<60).first { minutes[$0] } ?? 60)
                continue
            }
            return minute
        }
        return nil
    }

    /// The last wall-clock minute in `from...through` the expression selects, skipping backwards by month, day,
    /// hour and minute in turn.
    private func lastMatch(from: Int, through: Int) -> Int? {
        var minute = through
        while minute >= from {
            let day = Civil.floorDivide(minute, 1440)
            let (year, month, dayOfMonth) = Civil.date(fromDay: day)
            guard months[month] else {
                minute = Civil.day(year: year, month: month, day: 1) * 1440 - 1
                continue
            }
            guard expression.matchesDay(dayOfMonth: dayOfMonth, dayOfWeek: Civil.weekday(ofDay: day)) else {
                minute = day * 1440 - 1
                continue
            }
            let hour = (minute - day * 1440) / 60
            guard hours[hour] else {
                minute = day * 1440 + ((0..<hour).last { hours[$0] }.map { $0 * 60 + 59 } ?? -1)
                continue
            }
            let minuteOfHour = minute % 60 < 0 ? minute % 60 + 60 : minute % 60
            guard minutes[minuteOfHour] else {
                let hourStart = day * 1440 + hour * 60
                minute = hourStart + ((0..<minuteOfHour).last { minutes[$0] } ?? -1)
                continue
            }
            return minute
        }
        return nil
    }

    /// The first whole minute at or after `seconds`.
    private static func ceilingMinute(_ seconds: Int) -> Int { -Civil.floorDivide(-seconds, 60) }

    /// The last whole minute at or before `seconds`.
    private static func floorMinute(_ seconds: Int) -> Int { Civil.floorDivide(seconds, 60) }
}

/// Proleptic Gregorian calendar arithmetic on day numbers (days since 1970-01-01), after Howard Hinnant's
/// `days_from_civil` and `civil_from_days`.
enum Civil {
    static func floorDivide(_ value: Int, _ divisor: Int) -> Int {
        let quotient = value / divisor
        return value % divisor < 0 ? quotient - 1 : quotient
    }

    /// The day number of a date; `month` 1 through 12.
    static func day(year: Int, month: Int, day: Int) -> Int {
        let year = month <= 2 ? year - 1 : year
        let era = floorDivide(year, 400)
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date of a day number.
    static func date(fromDay number: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = number + 719_468
        let era = floorDivide(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// 0 = Sunday through 6 = Saturday; day 0, 1970-01-01, was a Thursday.
    static func weekday(ofDay number: Int) -> Int {
        let remainder = (number + 4) % 7
        return remainder < 0 ? remainder + 7 : remainder
    }
}
