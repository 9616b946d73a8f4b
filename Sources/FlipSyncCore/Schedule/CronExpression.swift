/// A five-field cron expression (`minute hour day-of-month month day-of-week`), as Debian's
/// cron reads it: numbers, `*`, ranges `a-b`, steps `/n`, lists, month and weekday names
/// (`JAN`, `MON`, case-insensitive, also in ranges), weekday 0 or 7 for Sunday, and the macros
/// `@yearly` `@annually` `@monthly` `@weekly` `@daily` `@midnight` `@hourly`.
///
/// Day matching follows cron(8): when either day field starts with `*`, both must match;
/// otherwise either may.
///
/// Daylight saving follows Debian's cron (and the `cronsim` model of it, used as our oracle):
/// - a job with a fixed minute and hour (neither field starts with `*`) follows the wall clock:
///   if its time is skipped by a jump forward it runs right after the jump, and a time repeated
///   by a jump back runs once (at its first occurrence);
/// - any other job follows absolute time, hour by hour, so it neither skips nor doubles work.
public struct CronExpression: Hashable, Sendable, CustomStringConvertible {
    /// Allowed values, as bit sets.
    let minutes: UInt64
    let hours: UInt32
    let daysOfMonth: UInt32
    let months: UInt16
    let daysOfWeek: UInt8      // bit 0 Sunday … bit 6 Saturday (7 folded into 0)
    /// Both day fields must match (one of them starts with `*`).
    let dayAnd: Bool
    /// Fixed-time job: follows the wall clock across daylight-saving changes.
    let followsWallClock: Bool
    public let description: String

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    static func looksLikeCron(_ text: String) -> Bool {
        text.hasPrefix("@") || text.split(whereSeparator: { $0 == " " || $0 == "\t" }).count == 5
    }

    /// Three to seven fields made only of cron characters: meant as cron, with a field too many
    /// or too few (OnCalendar always has a `:`, `-`, a letter or a shorthand).
    static func looksLikeMiscountedCron(_ text: String) -> Bool {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        return (3...7).contains(fields.count) && fields.allSatisfy { field in
            field.unicodeScalars.allSatisfy { "0123456789*,/".unicodeScalars.contains($0) }
        }
    }

    public init(parsing text: String) throws(ScheduleError) {
        let original = text
        func fail(_ message: String) -> ScheduleError { ScheduleError(expression: original, message: message) }
        var expanded = text
        if text.hasPrefix("@") {
            guard let body = Self.macros[text.lowercased()] else {
                throw fail(text.lowercased() == "@reboot"
                    ? "@reboot is not a schedule (jobs run on timers, not at boot)"
                    : "unknown macro \"\(text)\" (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)")
            }
            expanded = body
        }
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { String($0).uppercased() }
        guard fields.count == 5 else {
            throw fail("a cron expression has 5 fields (minute hour day-of-month month day-of-week), found \(fields.count)")
        }
        let minuteSet = try Self.parseField(fields[0], .minute, original)
        let hourSet = try Self.parseField(fields[1], .hour, original)
        let domSet = try Self.parseField(fields[2], .dayOfMonth, original)
        let monthSet = try Self.parseField(fields[3], .month, original)
        let dowSet = try Self.parseField(fields[4], .dayOfWeek, original)

        dayAnd = fields[2].hasPrefix("*") || fields[4].hasPrefix("*")
        if dayAnd, let smallestDay = domSet.min(), smallestDay > 29 {
            let longest = monthSet.map { CivilDate.daysIn(month: $0, year: 2000) }.max() ?? 31
            if smallestDay > longest {
                throw fail("day-of-month \(smallestDay) never occurs in the months given, so it never fires")
            }
        }
        minutes = minuteSet.reduce(0) { $0 | (1 << UInt64($1)) }
        hours = hourSet.reduce(0) { $0 | (1 << UInt32($1)) }
        daysOfMonth = domSet.reduce(0) { $0 | (1 << UInt32($1)) }
        months = monthSet.reduce(0) { $0 | (1 << UInt16($1)) }
        daysOfWeek = dowSet.reduce(0) { $0 | (1 << UInt8($1 % 7)) }
        followsWallClock = !fields[0].hasPrefix("*") && !fields[1].hasPrefix("*")
        description = text.hasPrefix("@") ? text.lowercased() : fields.joined(separator: " ")
    }

    enum Field: Int {
        case minute, hour, dayOfMonth, month, dayOfWeek

        var range: ClosedRange<Int> {
            switch self {
            case .minute: return 0...59
            case .hour: return 0...23
            case .dayOfMonth: return 1...31
            case .month: return 1...12
            case .dayOfWeek: return 0...7
            }
        }

        var name: String { ["minute", "hour", "day-of-month", "month", "day-of-week"][rawValue] }

        var symbols: [String] {
            switch self {
            case .month: return ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
            case .dayOfWeek: return ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
            default: return []
            }
        }
    }

    static func parseField(_ text: String, _ field: Field, _ original: String) throws(ScheduleError) -> [Int] {
        func fail(_ detail: String) -> ScheduleError {
            ScheduleError(expression: original, message: "bad \(field.name) field \"\(text)\": \(detail)")
        }
        func digits(_ s: Substring) throws(ScheduleError) -> Int {
            guard !s.isEmpty, s.count <= 4, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let v = Int(s) else {
                throw fail("\"\(s)\" is not a number")
            }
            return v
        }
        func value(_ s: Substring) throws(ScheduleError) -> Int {
            if let index = field.symbols.firstIndex(of: String(s)) {
                return field == .month ? index + 1 : index
            }
            if s.contains("L") || s.contains("#") || s.contains("W") || s.contains("?") {
                throw fail("\"\(s)\": L, W, # and ? are not Debian cron syntax")
            }
            let v = try digits(s)
            guard field.range.contains(v) else {
                throw fail("\(v) is out of range \(field.range.lowerBound)-\(field.range.upperBound)")
            }
            return v
        }
        func term(_ s: Substring) throws(ScheduleError) -> [Int] {
            if s == "*" { return Array(field.range) }
            if let slash = s.firstIndex(of: "/") {
                let step = try digits(s[s.index(after: slash)...])
                guard step > 0 else { throw fail("a step of 0") }
                let items = try term(s[..<slash])
                if items.count == 1 {
                    return Array(stride(from: items[0], through: field.range.upperBound, by: step))
                }
                return stride(from: 0, to: items.count, by: step).map { items[$0] }
            }
            if let dash = s.firstIndex(of: "-") {
                let start = try value(s[..<dash]), end = try value(s[s.index(after: dash)...])
                guard start <= end else { throw fail("range \(start)-\(end) runs backwards") }
                return Array(start...end)
            }
            return [try value(s)]
        }
        guard !text.isEmpty else { throw fail("empty") }
        var result = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw fail("empty list item") }
            result.formUnion(try term(part))
        }
        return result.sorted()
    }

    // MARK: - Matching

    func matchesMonth(_ m: Int) -> Bool { months & (1 << UInt16(m)) != 0 }
    func matchesHour(_ h: Int) -> Bool { hours & (1 << UInt32(h)) != 0 }
    func matchesMinute(_ m: Int) -> Bool { minutes & (1 << UInt64(m)) != 0 }

    func matchesDay(_ date: CivilDate) -> Bool {
        matchesDay(date, weekday: date.weekday)
    }

    /// `weekday`: `date.weekday`, when the caller has it.
    func matchesDay(_ date: CivilDate, weekday: Int) -> Bool {
        let dom = daysOfMonth & (1 << UInt32(date.day)) != 0
        let dow = daysOfWeek & (1 << UInt8(weekday)) != 0
        return dayAnd ? (dom && dow) : (dom || dow)
    }

    // MARK: - Next fire time

    /// The first fire time strictly after `instant`, in `zone`; `nil` if none within 50 years.
    public func next(after instant: Timestamp, in zone: ZoneRules) -> Timestamp? {
        var cursor = CronCursor(zone: zone, instant: instant.secondsSinceEpoch,
                                wallClock: followsWallClock && zone !== ZoneRules.utc)
        cursor.tick(1)
        let startYear = cursor.fields.year
        while true {
            // Month
            if !matchesMonth(cursor.fields.month) {
                var date = CivilDate(year: cursor.fields.year, month: cursor.fields.month, day: 1)
                while !matchesMonth(date.month) {
                    date = date.month == 12 ? CivilDate(year: date.year + 1, month: 1, day: 1)
                                            : CivilDate(year: date.year, month: date.month + 1, day: 1)
                }
                cursor.setMidnight(of: date)
            }
            if cursor.fields.year > startYear + 50 { return nil }
            // Day
            var date = cursor.fields.date
            var day = cursor.day
            if !matchesDay(date, weekday: CivilDate.weekday(daysSinceEpoch: day)) {
                repeat {
                    date = date.nextDay
                    day += 1
                } while !matchesDay(date, weekday: CivilDate.weekday(daysSinceEpoch: day)) && date.day != 1
                cursor.setMidnight(ofDay: day)
                continue
            }
            // Hour
            if !matchesHour(cursor.fields.hour) {
                cursor.replace(minute: 0, second: 0)
                var steps = 1
                while cursor.fields.hour + steps < 24 && !matchesHour(cursor.fields.hour + steps) { steps += 1 }
                if !cursor.tickSteadily(3600, times: steps) {
                    repeat { cursor.tick(3600) } while !matchesHour(cursor.fields.hour) && cursor.fields.hour != 0
                }
                continue
            }
            // Minute
            if !matchesMinute(cursor.fields.minute) {
                cursor.replace(second: 0)
                if minutes.nonzeroBitCount == 1 {
                    let target = minutes.trailingZeroBitCount
                    cursor.tick(Int64((target - cursor.fields.minute + 60) % 60) * 60)
                }
                var steps = 1
                while cursor.fields.minute + steps < 60 && !matchesMinute(cursor.fields.minute + steps) { steps += 1 }
                if matchesMinute(cursor.fields.minute) || !cursor.tickSteadily(60, times: steps) {
                    while !matchesMinute(cursor.fields.minute) {
                        cursor.tick(60)
                        if cursor.fields.minute == 0 { break }
                    }
                }
                continue
            }
            // Second (always 0 for five fields)
            if cursor.fields.second != 0 {
                cursor.tick(Int64((60 - cursor.fields.second) % 60))
                continue
            }
            break
        }
        return Timestamp(secondsSinceEpoch: cursor.resultInstant())
    }
}

/// The moving point of a cron search. In wall-clock mode it is a naive local time that ticks
/// like a calendar; otherwise it is an instant seen through the zone, with PEP 495's `fold`
/// telling the two occurrences of a repeated local time apart.
private struct CronCursor {
    var zone: ZoneCursor
    var calendar = CivilDayCache()
    let wallClock: Bool
    /// Local wall time in seconds (fields read as if UTC).
    var wall: Int64
    var fold: Int
    var fields: CivilDateTime

    init(zone: ZoneRules, instant: Int64, wallClock: Bool) {
        var cursor = ZoneCursor(zone: zone)
        let offset = cursor.utcOffset(at: instant)
        let wall = instant + Int64(offset)
        fold = wallClock ? 0 : (cursor.utcOffset(forWall: wall, fold: 0) != offset ? 1 : 0)
        self.zone = cursor
        self.wallClock = wallClock
        self.wall = wall
        var calendar = CivilDayCache()
        fields = calendar.dateTime(utcSeconds: wall)
        self.calendar = calendar
    }

    /// The day number of `fields`' date.
    var day: Int64 { wall >= 0 ? wall / 86_400 : (wall - 86_399) / 86_400 }

    mutating func instant() -> Int64 { wall - Int64(zone.utcOffset(forWall: wall, fold: fold)) }

    mutating func tick(_ seconds: Int64) {
        if wallClock {
            set(wall: wall + seconds, fold: 0)
        } else {
            let utc = instant() + seconds
            let offset = zone.utcOffset(at: utc)
            let newWall = utc + Int64(offset)
            set(wall: newWall, fold: zone.utcOffset(forWall: newWall, fold: 0) != offset ? 1 : 0)
        }
    }

    /// `times` calls of `tick(seconds)` in one step, where the result is the same: the wall
    /// clock moves by `seconds` each call (in wall-clock mode always; otherwise when no
    /// transition is near, so each call finds the offset unchanged and the fold 0). Returns
    /// `false`, without moving, where it cannot tell.
    mutating func tickSteadily(_ seconds: Int64, times: Int) -> Bool {
        let distance = seconds * Int64(times)
        if !wallClock {
            // `instant` and `utcOffset(forWall:)` look a window either side of the wall time,
            // which is within a day of the instant.
            let start = instant()
            guard zone.isSteady(from: start - 2 * ZoneRules.window, through: start + distance + 2 * ZoneRules.window) else {
                return false
            }
        }
        tick(distance)
        return true
    }

    private mutating func set(wall: Int64, fold: Int) {
        self.wall = wall
        self.fold = fold
        fields = calendar.dateTime(utcSeconds: wall)
    }

    /// `datetime.combine(date, time(), tzinfo)`: local midnight, first occurrence.
    mutating func setMidnight(of date: CivilDate) {
        setMidnight(ofDay: calendar.daysSinceEpoch(year: date.year, month: date.month, day: date.day))
    }

    mutating func setMidnight(ofDay day: Int64) {
        set(wall: day * 86_400, fold: 0)
    }

    /// `datetime.replace(...)`: new wall fields, same fold.
    mutating func replace(minute: Int? = nil, second: Int) {
        let f = fields
        set(wall: calendar.secondsAsIfUTC(year: f.year, month: f.month, day: f.day, hour: f.hour,
                                          minute: minute ?? f.minute, second: second), fold: fold)
    }

    /// The instant the search ended on. In wall-clock mode a local time skipped by a jump
    /// forward moves minute by minute to the first one that exists.
    mutating func resultInstant() -> Int64 {
        if wallClock {
            while isSkipped(wall) { set(wall: wall + 60, fold: 0) }
        }
        return instant()
    }

    private mutating func isSkipped(_ wall: Int64) -> Bool {
        let utc = wall - Int64(zone.utcOffset(forWall: wall, fold: 0))
        return utc + Int64(zone.utcOffset(at: utc)) != wall
    }
}

extension CronExpression {
    /// Whether the local time shown at `instant` satisfies every field (second 0).
    public func matches(_ instant: Timestamp, in zone: ZoneRules) -> Bool {
        let local = zone.localDateTime(at: instant.secondsSinceEpoch)
        return local.second == 0 && matchesMinute(local.minute) && matchesHour(local.hour)
            && matchesMonth(local.month) && matchesDay(local.date)
    }
}
