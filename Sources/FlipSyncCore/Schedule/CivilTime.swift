/// A point in time: whole seconds since 1970-01-01T00:00:00Z.
///
/// Schedules work in whole seconds (systemd and cron both fire on second boundaries),
/// so an integer is exact and cheap; no time zone is attached.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var secondsSinceEpoch: Int64

    public init(secondsSinceEpoch: Int64) {
        self.secondsSinceEpoch = secondsSinceEpoch
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.secondsSinceEpoch < rhs.secondsSinceEpoch
    }

    public func adding(seconds: Int64) -> Timestamp {
        Timestamp(secondsSinceEpoch: secondsSinceEpoch + seconds)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`
    public var description: String { iso8601UTC }

    public var iso8601UTC: String {
        CivilDateTime(utcSeconds: secondsSinceEpoch).iso8601 + "Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SSZ`, `YYYY-MM-DDTHH:MM:SS±HH:MM`, `YYYY-MM-DD HH:MM:SS` (UTC),
    /// `YYYY-MM-DD` (midnight UTC) or `@SECONDS`.
    public init?(parsing text: String) {
        if text.hasPrefix("@") {
            guard let seconds = Int64(text.dropFirst()) else { return nil }
            self.init(secondsSinceEpoch: seconds)
            return
        }
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard bytes.count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              (1...12).contains(month), day >= 1, day <= CivilDate.daysIn(month: month, year: year)
        else { return nil }
        var hour = 0, minute = 0, second = 0, offset = 0
        if bytes.count > 10 {
            guard bytes.count >= 19, [UInt8(ascii: "T"), UInt8(ascii: " ")].contains(bytes[10]),
                  bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
                  let h = number(11..<13), let m = number(14..<16), let s = number(17..<19),
                  h < 24, m < 60, s < 60
            else { return nil }
            (hour, minute, second) = (h, m, s)
            let rest = bytes[19...]
            if rest.isEmpty || rest.elementsEqual("Z".utf8) || rest.elementsEqual("z".utf8) {
                offset = 0
            } else if rest.count == 6, rest.first == UInt8(ascii: "+") || rest.first == UInt8(ascii: "-"),
                      bytes[22] == UInt8(ascii: ":"),
                      let oh = number(20..<22), let om = number(23..<25), oh < 24, om < 60 {
                offset = (oh * 3600 + om * 60) * (rest.first == UInt8(ascii: "-") ? -1 : 1)
            } else {
                return nil
            }
        }
        let civil = CivilDateTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        self.init(secondsSinceEpoch: civil.secondsAsIfUTC - Int64(offset))
    }
}

/// A proleptic Gregorian calendar date.
public struct CivilDate: Hashable, Sendable {
    public var year: Int
    public var month: Int   // 1...12
    public var day: Int     // 1...31

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    public static func isLeap(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`), exact for any year.
    public static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The inverse of `daysSinceEpoch`.
    public init(daysSinceEpoch days: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        self.init(year: Int(yoe + era * 400 + (month <= 2 ? 1 : 0)), month: Int(month), day: Int(day))
    }

    public var daysSinceEpoch: Int64 { Self.daysSinceEpoch(year: year, month: month, day: day) }

    /// 0 = Sunday … 6 = Saturday (as `struct tm`'s `tm_wday` and cron count).
    public static func weekday(daysSinceEpoch days: Int64) -> Int {
        let w = (days + 4) % 7  // 1970-01-01 was a Thursday
        return Int(w >= 0 ? w : w + 7)
    }

    public var weekday: Int { Self.weekday(daysSinceEpoch: daysSinceEpoch) }

    /// The date after this one.
    var nextDay: CivilDate {
        if day < Self.daysIn(month: month, year: year) { return CivilDate(year: year, month: month, day: day + 1) }
        return month < 12 ? CivilDate(year: year, month: month + 1, day: 1) : CivilDate(year: year + 1, month: 1, day: 1)
    }
}

/// Wall-clock fields with no time zone: a date and a time of day.
public struct CivilDateTime: Hashable, Comparable, Sendable {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
    }

    /// The wall-clock fields of `utcSeconds` read as if the zone were UTC.
    public init(utcSeconds: Int64) {
        var days = utcSeconds / 86_400
        var rem = utcSeconds % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        let date = CivilDate(daysSinceEpoch: days)
        self.init(year: date.year, month: date.month, day: date.day,
                  hour: Int(rem / 3600), minute: Int(rem % 3600 / 60), second: Int(rem % 60))
    }

    /// These fields read as a UTC time, in seconds since the epoch. Fields out of range
    /// carry over linearly (day 32 is the next month's first), as `timegm` does.
    public var secondsAsIfUTC: Int64 {
        var y = year, m = month - 1
        y += m >= 0 ? m / 12 : (m - 11) / 12
        m = ((m % 12) + 12) % 12
        let days = CivilDate.daysSinceEpoch(year: y, month: m + 1, day: 1) + Int64(day - 1)
        return days * 86_400 + Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)
    }

    public var date: CivilDate { CivilDate(year: year, month: month, day: day) }

    public static func < (lhs: CivilDateTime, rhs: CivilDateTime) -> Bool {
        (lhs.year, lhs.month, lhs.day, lhs.hour, lhs.minute, lhs.second)
            < (rhs.year, rhs.month, rhs.day, rhs.hour, rhs.minute, rhs.second)
    }

    /// `YYYY-MM-DDTHH:MM:SS`
    public var iso8601: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))"
    }
}

/// Conversions between day numbers and dates for one search, which moves mostly within a day,
/// a month, or to the next day: it remembers the last day and month it converted and steps from
/// them instead of converting from scratch. Same results as `CivilDate` and `CivilDateTime`.
struct CivilDayCache {
    private var day: Int64 = 0
    private var date = CivilDate(year: 1970, month: 1, day: 1)
    private var monthYear = 1970, month = 1
    private var monthFirstDay: Int64 = 0

    /// `CivilDate(daysSinceEpoch:)`.
    mutating func date(daysSinceEpoch days: Int64) -> CivilDate {
        if days == day { return date }
        if days == day + 1 {
            date = date.nextDay
        } else {
            date = CivilDate(daysSinceEpoch: days)
        }
        day = days
        return date
    }

    /// `CivilDate.daysSinceEpoch(year:month:day:)`, for `month` in 1...12.
    mutating func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int64 {
        if year != monthYear || month != self.month {
            monthFirstDay = CivilDate.daysSinceEpoch(year: year, month: month, day: 1)
            (monthYear, self.month) = (year, month)
        }
        return monthFirstDay + Int64(day - 1)
    }

    /// `CivilDateTime(utcSeconds:)`.
    mutating func dateTime(utcSeconds: Int64) -> CivilDateTime {
        var days = utcSeconds / 86_400
        var rem = utcSeconds % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        let date = date(daysSinceEpoch: days)
        return CivilDateTime(year: date.year, month: date.month, day: date.day,
                             hour: Int(rem / 3600), minute: Int(rem % 3600 / 60), second: Int(rem % 60))
    }

    /// `CivilDateTime(...).secondsAsIfUTC`: fields out of range carry over linearly.
    mutating func secondsAsIfUTC(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64 {
        var y = year, m = month - 1
        y += m >= 0 ? m / 12 : (m - 11) / 12
        m = ((m % 12) + 12) % 12
        let days = daysSinceEpoch(year: y, month: m + 1, day: 1) + Int64(day - 1)
        return days * 86_400 + Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)
    }
}
