/// A systemd calendar event (`OnCalendar=` syntax, systemd.time(7)):
/// `[WEEKDAYS] [[YYYY-]MM-DD] [HH:MM[:SS]] [TIMEZONE]` with lists (`,`), ranges (`..`),
/// repetitions (`/`), `*`, `~` (days counted from the end of the month), the shorthands
/// (`minutely`, `hourly`, `daily`, `weekly`, `monthly`, `quarterly`, `semiannually`, `yearly`)
/// and a `UTC` or IANA zone suffix.
///
/// Fire times are exactly those of systemd 252 (`systemd-analyze calendar`), including its
/// daylight-saving behaviour, because `next` follows systemd's own search over broken-down
/// local time and the normalisation rules of glibc's `mktime`:
/// - a local time that does not exist (the clock jumps over it) is skipped; a search that lands
///   in the jump continues from the time just after it;
/// - a local time that exists twice (the clock goes back) fires once, at its first occurrence —
///   unless the search starts inside the second occurrence, which then fires;
/// - years are limited to 1970…2199, as in systemd.
/// Sub-second expressions are refused: schedules here have one-second resolution.
public struct CalendarEvent: Hashable, Sendable, CustomStringConvertible {
    /// One element of a component chain: `start`, `start..stop`, `start/repeat`, `start..stop/repeat`.
    /// `stop` is -1 for none, `repeat` 0 for none. Seconds are kept in microseconds, as systemd does.
    struct Element: Hashable, Sendable, Comparable {
        var start: Int
        var stop: Int
        var repeatEvery: Int

        static func < (a: Element, b: Element) -> Bool {
            (a.start, a.stop, a.repeatEvery) < (b.start, b.stop, b.repeatEvery)
        }
    }

    /// `nil` means `*` (any value).
    typealias Chain = [Element]?

    /// Bit 0 Monday … bit 6 Sunday; `nil` for any day.
    var weekdays: UInt8?
    var years: Chain = nil
    var months: Chain = nil
    var days: Chain = nil
    var endOfMonth = false
    var hours: Chain = nil
    var minutes: Chain = nil
    var microseconds: Chain = nil
    /// The zone named in the expression, if any (`UTC` included).
    public internal(set) var zone: ZoneRules?

    public static func == (a: CalendarEvent, b: CalendarEvent) -> Bool {
        a.weekdays == b.weekdays && a.years == b.years && a.months == b.months && a.days == b.days
            && a.endOfMonth == b.endOfMonth && a.hours == b.hours && a.minutes == b.minutes
            && a.microseconds == b.microseconds && a.zone?.identifier == b.zone?.identifier
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(description)
    }

    static let minYear = 1970
    static let maxYear = 2199
    static let usecPerSec = 1_000_000

    // MARK: - Parsing

    public init(parsing text: String) throws(ScheduleError) {
        var parser = CalendarEventParser(original: text)
        self = try parser.parse()
    }

    init() {}

    // MARK: - Normalised form

    /// The normalised form, exactly as `systemd-analyze calendar` prints it.
    public var description: String {
        var out = ""
        if let weekdays { out += Self.format(weekdays: weekdays) + " " }
        out += Self.format(chain: years, width: 4, usec: false) + "-"
        out += Self.format(chain: months, width: 2, usec: false) + (endOfMonth ? "~" : "-")
        out += Self.format(chain: days, width: 2, usec: false) + " "
        out += Self.format(chain: hours, width: 2, usec: false) + ":"
        out += Self.format(chain: minutes, width: 2, usec: false) + ":"
        out += Self.format(chain: microseconds, width: 2, usec: true)
        if let zone { out += " " + zone.identifier }
        return out
    }

    private static let weekdayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    private static func format(weekdays bits: UInt8) -> String {
        var out = ""
        var runStart = -1
        var needComma = false
        func closeRun(at x: Int) {
            if x > runStart + 1 {
                out += x > runStart + 2 ? ".." : ","
                out += weekdayNames[x - 1]
            }
        }
        for x in 0..<7 {
            if bits & (1 << x) != 0 {
                if runStart < 0 {
                    if needComma { out += "," } else { needComma = true }
                    out += weekdayNames[x]
                    runStart = x
                }
            } else if runStart >= 0 {
                closeRun(at: x)
                runStart = -1
            }
        }
        if runStart >= 0 { closeRun(at: 7) }
        return out
    }

    private static func format(chain: Chain, width: Int, usec: Bool) -> String {
        guard let chain, !(usec && chain.contains { $0.start == 0 && $0.stop < 0 && $0.repeatEvery == usecPerSec }) else {
            return "*"
        }
        let unit = usec ? usecPerSec : 1
        func pad(_ v: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return chain.map { e in
            var s = pad(e.start / unit)
            if e.stop > 0 { s += ".." + pad(e.stop / unit) }
            if e.repeatEvery > 0 && !(e.stop > 0 && e.repeatEvery == unit) { s += "/\(e.repeatEvery / unit)" }
            return s
        }.joined(separator: ",")
    }
}

extension CalendarEvent {
    /// Whether the local time shown at `instant` satisfies every field of the expression.
    /// (Independent of `next`, which searches; tests use one to check the other.)
    public func matches(_ instant: Timestamp, in defaultZone: ZoneRules) -> Bool {
        let zone = self.zone ?? defaultZone
        let local = zone.localDateTime(at: instant.secondsSinceEpoch)
        func inChain(_ chain: Chain, _ value: Int) -> Bool {
            guard let chain else { return true }
            return chain.contains { e in
                if value == e.start { return true }
                guard e.repeatEvery > 0, value > e.start, e.stop < 0 || value <= e.stop else { return false }
                return (value - e.start) % e.repeatEvery == 0
            }
        }
        if let weekdays {
            let wday = local.date.weekday
            if weekdays & (1 << (wday == 0 ? 6 : wday - 1)) == 0 { return false }
        }
        guard inChain(years, local.year), inChain(months, local.month), inChain(hours, local.hour),
              inChain(minutes, local.minute), inChain(microseconds, local.second * Self.usecPerSec) else { return false }
        guard let days else { return true }
        if !endOfMonth { return inChain(days, local.day) }
        // `~N` counts from the month's end (`~1` is the last day); a repetition runs forwards.
        let length = CivilDate.daysIn(month: local.month, year: local.year)
        return days.contains { e in
            var start = length - e.start + 1
            var stop = e.stop >= 0 ? length - e.stop + 1 : -1
            if stop > 0 { swap(&start, &stop) }
            if local.day == start { return true }
            guard e.repeatEvery > 0, local.day > start, stop < 0 || local.day <= stop else { return false }
            return (local.day - start) % e.repeatEvery == 0
        }
    }
}
