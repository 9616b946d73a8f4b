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

    // MARK: - Next fire time

    /// The first fire time strictly after `instant`, reading the expression in its own zone if it
    /// names one, else in `defaultZone`. `nil` if it never fires again (before 2200).
    public func next(after instant: Timestamp, in defaultZone: ZoneRules) -> Timestamp? {
        let zone = self.zone ?? defaultZone
        switch search(after: instant, in: zone, carryDSTFlag: true) {
        case .found(let t): return t
        case .never: return nil
        case .gaveUp:
            // systemd 252 gives up here ("Resource deadlock avoided"): its search carries the
            // DST flag of a normalised time into the next mktime call, and for a zone whose
            // jump straddles the hour (Pacific/Chatham's 02:45 -> 03:45) glibc then moves the
            // reset hour backwards and the search oscillates. A job must not stop firing
            // because of that, so search again without carrying the flag.
            if case .found(let t) = search(after: instant, in: zone, carryDSTFlag: false) { return t }
            return nil
        }
    }

    enum SearchResult { case found(Timestamp), never, gaveUp }

    /// `calendar_spec_next_usec`: systemd adds one microsecond to the base and searches from there.
    func search(after instant: Timestamp, in zone: ZoneRules, carryDSTFlag: Bool) -> SearchResult {
        var clock = BrokenDownClock(zone: zone)
        var tm = clock.localtime(instant.secondsSinceEpoch)
        var usec = 1
        switch findNext(&tm, &usec, &clock, carryDSTFlag: carryDSTFlag) {
        case .found:
            guard usec == 0, let t = clock.mktime(&tm) else { return .never }
            return .found(Timestamp(secondsSinceEpoch: t))
        case .never: return .never
        case .gaveUp: return .gaveUp
        }
    }

    /// The earliest matching value of `chain` at or after `value` (systemd's
    /// `find_matching_component`): 0 if `value` matches, 1 if it was moved, -1 if nothing matches.
    private func match(_ chain: Chain, isDay: Bool, _ tm: BrokenDownTime, _ value: inout Int, _ clock: inout BrokenDownClock) -> Int {
        guard let chain else { return 0 }
        var best: Int?
        for element in chain {
            var start = element.start, stop = element.stop
            if isDay && endOfMonth {
                start = endOfMonthDay(tm, element.start, &clock)
                stop = endOfMonthDay(tm, element.stop, &clock)
                if stop > 0 { swap(&start, &stop) }
            }
            if start >= value {
                if best.map({ start < $0 }) ?? true { best = start }
            } else if element.repeatEvery > 0 {
                let k = start + element.repeatEvery * ((value - start + element.repeatEvery - 1) / element.repeatEvery)
                if (best.map { k < $0 } ?? true) && (stop < 0 || k <= stop) { best = k }
            }
        }
        guard let best else { return -1 }
        defer { value = best }
        return value != best ? 1 : 0
    }

    /// systemd's `find_end_of_month`: the day that is `day` days before the month's end
    /// (`~1` is the last day), or -1.
    private func endOfMonthDay(_ tm: BrokenDownTime, _ day: Int, _ clock: inout BrokenDownClock) -> Int {
        var t = tm
        t.month += 1
        t.day = 1 - day
        guard clock.mktime(&t) != nil, t.month == tm.month else { return -1 }
        return t.day
    }

    /// systemd's `tm_within_bounds` (252): 1 if `tm` is a real, normalised local time; 0 if
    /// normalising moved it forward (then `tm` holds the normalised time, DST flag included,
    /// with the fields below the first changed one reset); -1 if it is out of range or
    /// normalising would go backwards.
    private func withinBounds(_ tm: inout BrokenDownTime, _ clock: inout BrokenDownClock) -> Int {
        if tm.year > Self.maxYear { return -1 }
        var t = tm
        guard let instant = clock.mktime(&t), instant >= 0 else { return -1 }
        // Normalising "3-33" gives "4-2" and would skip "4-1": reset the units below the
        // first one that changed.
        var cmp = 0
        if t.year != tm.year { cmp = t.year < tm.year ? -1 : 1; t.month = 0 }
        else if t.month != tm.month { cmp = t.month < tm.month ? -1 : 1; t.day = 1 }
        else if t.day != tm.day { cmp = t.day < tm.day ? -1 : 1; t.hour = 0 }
        else if t.hour != tm.hour { cmp = t.hour < tm.hour ? -1 : 1; t.minute = 0 }
        else if t.minute != tm.minute { cmp = t.minute < tm.minute ? -1 : 1; t.second = 0 }
        else if t.second != tm.second { cmp = t.second < tm.second ? -1 : 1 }
        if cmp < 0 { return -1 }
        if cmp > 0 { tm = t }
        return cmp == 0 ? 1 : 0
    }

    private func matchesWeekday(_ tm: BrokenDownTime, _ clock: inout BrokenDownClock) -> Bool {
        guard let weekdays else { return true }
        var t = tm
        guard clock.mktime(&t) != nil else { return false }
        let k = t.weekday == 0 ? 6 : t.weekday - 1
        return weekdays & (1 << k) != 0
    }

    /// systemd's `find_next`, step for step: find the earliest matching year, then month, day,
    /// weekday, hour, minute and second; whenever a field has to move, reset the ones below it
    /// and start over from the normalised time.
    private enum FindResult { case found, never, gaveUp }

    /// systemd's `tm_compare`: the fields from year to second.
    private static func compareFields(_ a: BrokenDownTime, _ b: BrokenDownTime) -> Int {
        let x = (a.year, a.month, a.day, a.hour, a.minute, a.second)
        let y = (b.year, b.month, b.day, b.hour, b.minute, b.second)
        return x < y ? -1 : (x > y ? 1 : 0)
    }

    private func findNext(_ tm: inout BrokenDownTime, _ usec: inout Int, _ clock: inout BrokenDownClock,
                          carryDSTFlag: Bool) -> FindResult {
        var c = tm
        var tmUsec = usec
        // Once a candidate turns out not to be after the start (a jump moved it back), systemd
        // advances an hour and lets mktime keep the DST flag it found from then on.
        var invalidateDST = false
        var first = true
        for _ in 0..<1000 {
            if !carryDSTFlag && !first { c.isDST = -1 }
            first = false
            _ = clock.mktime(&c)
            if !invalidateDST { c.isDST = -1 }

            var r = match(years, isDay: false, c, &c.year, &clock)
            if r > 0 { c.month = 0; c.day = 1; c.hour = 0; c.minute = 0; c.second = 0; tmUsec = 0 }
            if r < 0 { return .never }
            if withinBounds(&c, &clock) <= 0 { return .never }

            var month = c.month + 1
            r = match(months, isDay: false, c, &month, &clock)
            c.month = month - 1
            if r > 0 { c.day = 1; c.hour = 0; c.minute = 0; c.second = 0; tmUsec = 0 }
            if r >= 0 { r = withinBounds(&c, &clock) }
            if r < 0 { c.year += 1; c.month = 0; c.day = 1; c.hour = 0; c.minute = 0; c.second = 0; tmUsec = 0; continue }
            if r == 0 { continue }

            var day = c.day
            r = match(days, isDay: true, c, &day, &clock)
            c.day = day
            if r > 0 { c.hour = 0; c.minute = 0; c.second = 0; tmUsec = 0 }
            if r >= 0 { r = withinBounds(&c, &clock) }
            if r < 0 { c.month += 1; c.day = 1; c.hour = 0; c.minute = 0; c.second = 0; tmUsec = 0; continue }
            if r == 0 { continue }

            if !matchesWeekday(c, &clock) {
                c.day += 1; c.hour = 0; c.minute = 0; c.second = 0; tmUsec = 0
                continue
            }

            r = match(hours, isDay: false, c, &c.hour, &clock)
            if r > 0 { c.minute = 0; c.second = 0; tmUsec = 0 }
            if r >= 0 { r = withinBounds(&c, &clock) }
            if r < 0 { c.day += 1; c.hour = 0; c.minute = 0; c.second = 0; tmUsec = 0; continue }
            if r == 0 { continue }

            r = match(minutes, isDay: false, c, &c.minute, &clock)
            if r > 0 { c.second = 0; tmUsec = 0 }
            if r >= 0 { r = withinBounds(&c, &clock) }
            if r < 0 { c.hour += 1; c.minute = 0; c.second = 0; tmUsec = 0; continue }
            if r == 0 { continue }

            var micro = c.second * Self.usecPerSec + tmUsec
            r = match(microseconds, isDay: false, c, &micro, &clock)
            tmUsec = micro % Self.usecPerSec
            c.second = micro / Self.usecPerSec
            if r >= 0 { r = withinBounds(&c, &clock) }
            if r < 0 { c.minute += 1; c.second = 0; tmUsec = 0; continue }
            if r == 0 { continue }

            var order = Self.compareFields(tm, c)
            if order == 0 { order = usec < tmUsec + 1 ? -1 : (usec > tmUsec + 1 ? 1 : 0) }
            if order >= 0 {
                invalidateDST = true
                c.hour += 1
                continue
            }

            tm = c
            usec = tmUsec
            return .found
        }
        return .gaveUp
    }
}

// MARK: - Broken-down time with glibc `mktime` semantics

/// `struct tm`: fields may be out of range until normalised. `month` is 0…11 as in C.
struct BrokenDownTime: Hashable, Sendable {
    var year = 1970, month = 0, day = 1, hour = 0, minute = 0, second = 0
    var weekday = 4
    /// -1 unknown, 0 standard time, 1 daylight time.
    var isDST = -1
}

/// `localtime` and `mktime` over one zone, with glibc's `mktime` algorithm (`__mktime_internal`,
/// glibc 2.36) emulated probe by probe — including the offset it remembers between calls, which
/// decides which occurrence of a repeated local time it returns and on which side of a jump a
/// skipped local time lands. systemd's daylight-saving behaviour is made of exactly these choices.
struct BrokenDownClock {
    private var zone: ZoneCursor
    private var calendar = CivilDayCache()
    /// glibc's `localtime_offset`: the result of the last call minus its wall time (`t - L`).
    private var offsetGuess: Int64 = 0
    /// The last `mktime` call. Its wall time, requested DST flag and remembered offset decide its
    /// result entirely, so a call with the same fields (or the fields it normalised to, when
    /// they show the same wall time), flag and remembered offset has the same result. A search
    /// normalises the same time several times over (once per field check), so most calls do.
    /// (Kept as plain fields, not an optional tuple: checking them must not copy them.)
    private var lastInput = BrokenDownTime(year: .min)  // no call has this year
    private var lastOutput = BrokenDownTime(year: .min)
    private var lastOutputIsSameWall = false
    private var lastWall: Int64 = 0
    private var lastGuess: Int64 = 0
    private var lastResult: Int64?

    init(zone: ZoneRules) {
        self.zone = ZoneCursor(zone: zone)
    }

    mutating func localtime(_ instant: Int64) -> BrokenDownTime {
        let type = zone.offsetAndDST(at: instant)
        offsetGuess = -Int64(type.utcOffset)
        return fields(instant, type)
    }

    private mutating func fields(_ instant: Int64, _ type: (utcOffset: Int, isDST: Bool)) -> BrokenDownTime {
        let wall = instant + Int64(type.utcOffset)
        let c = calendar.dateTime(utcSeconds: wall)
        let days = wall >= 0 ? wall / 86_400 : (wall - 86_399) / 86_400
        return BrokenDownTime(year: c.year, month: c.month - 1, day: c.day, hour: c.hour, minute: c.minute,
                              second: c.second, weekday: CivilDate.weekday(daysSinceEpoch: days),
                              isDST: type.isDST ? 1 : 0)
    }

    /// Normalises `tm` in place and returns its instant, or `nil` (leaving `tm` alone) where
    /// glibc's `mktime` fails.
    @discardableResult
    mutating func mktime(_ tm: inout BrokenDownTime) -> Int64? {
        if lastGuess == offsetGuess, lastInput.isDST == tm.isDST,
           Self.sameFields(tm, lastInput) || (lastOutputIsSameWall && Self.sameFields(tm, lastOutput)) {
            if let result = lastResult {
                offsetGuess = result - lastWall
                tm = lastOutput
            }
            return lastResult
        }
        // Out-of-range fields carry over linearly; L is the requested wall time as if UTC.
        let wall = calendar.secondsAsIfUTC(year: tm.year, month: tm.month + 1, day: tm.day, hour: tm.hour,
                                           minute: tm.minute, second: min(max(tm.second, 0), 59))
        lastInput = tm
        lastWall = wall
        lastGuess = offsetGuess
        lastResult = probe(wall: wall, requested: tm.isDST)
        guard let result = lastResult else {
            lastOutputIsSameWall = false
            return nil
        }
        offsetGuess = result - wall
        let type = zone.offsetAndDST(at: result)
        tm = fields(result, type)
        lastOutput = tm
        lastOutputIsSameWall = result + Int64(type.utcOffset) == wall
        return result
    }

    /// Drops the remembered call, so the next `mktime` computes afresh (tests compare the two).
    mutating func forgetLastCall() {
        lastInput.year = .min
        lastOutputIsSameWall = false
    }

    /// The fields `mktime` reads (all but the weekday and the DST flag) are equal.
    private static func sameFields(_ a: BrokenDownTime, _ b: BrokenDownTime) -> Bool {
        a.second == b.second && a.minute == b.minute && a.hour == b.hour && a.day == b.day
            && a.month == b.month && a.year == b.year
    }

    /// glibc's probing: guess with the remembered offset, then correct by the error, until the
    /// wall time matches or the guesses oscillate across a jump forward.
    private mutating func probe(wall: Int64, requested: Int) -> Int64? {
        let t0 = wall + offsetGuess
        var t = t0, t1 = t0, t2 = t0
        var dst2 = false
        var probes = 6
        var type = (utcOffset: 0, isDST: false)
        var matched = false
        while true {
            type = zone.offsetAndDST(at: t)
            let dt = wall - (t + Int64(type.utcOffset))
            if dt == 0 { matched = true; break }
            if t == t1 && t != t2 && (requested < 0 ? (!dst2 || type.isDST) : ((requested != 0) != type.isDST)) {
                break  // in a jump: keep this probe, one jump's size from the requested time
            }
            probes -= 1
            if probes == 0 { return nil }
            (t1, t2, dst2) = (t2, t, type.isDST)
            t += dt
        }
        if matched && requested >= 0 && (requested != 0) != type.isDST {
            // The wall time exists, but not with the requested DST flag: use the offset of the
            // nearest time (probing a week at a time, earlier first) that has it.
            let week: Int64 = 601_200
            var delta = week
            while delta < 536_454_000 / 2 + week {
                for direction: Int64 in [-1, 1] {
                    let other = zone.offsetAndDST(at: t + delta * direction)
                    if other.isDST == (requested != 0) {
                        return wall - Int64(other.utcOffset)
                    }
                }
                delta += week
            }
            return nil
        }
        return t
    }
}

// MARK: - Parser

/// A recursive-descent reading of systemd's grammar, accepting and refusing what systemd does,
/// with messages that name the offending part.
private struct CalendarEventParser {
    let original: String
    var bytes: [UInt8] = []
    var index = 0

    init(original: String) {
        self.original = original
    }

    func error(_ message: String) -> ScheduleError {
        ScheduleError(expression: original, message: message)
    }

    var peek: UInt8 { index < bytes.count ? bytes[index] : 0 }
    func peek(_ offset: Int) -> UInt8 { index + offset < bytes.count ? bytes[index + offset] : 0 }

    var rest: String { String(decoding: bytes[min(index, bytes.count)...], as: UTF8.self) }

    mutating func skipSpaces() {
        while peek == UInt8(ascii: " ") { index += 1 }
    }

    mutating func parse() throws(ScheduleError) -> CalendarEvent {
        var event = CalendarEvent()
        var text = original
        guard !text.isEmpty else { throw error("empty expression") }
        guard text.utf8.count <= 512 else { throw error("expression longer than 512 characters") }
        guard text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else {
            throw error("only printable ASCII characters are allowed")
        }

        // Zone suffix: " UTC" (any case), else a last word that names a zone.
        if text.count > 4, text.uppercased().hasSuffix(" UTC") {
            event.zone = .utc
            text = String(text.dropLast(4))
        } else if let space = text.lastIndex(of: " ") {
            let word = String(text[text.index(after: space)...])
            if let zone = try? ZoneRules.named(word) {
                event.zone = word == "UTC" ? .utc : zone
                text = String(text[..<space])
            } else if word.contains("/"), let first = word.unicodeScalars.first, first.properties.isAlphabetic {
                throw error("unknown time zone \"\(word)\"")
            }
        }
        bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw error("nothing before the time zone") }

        switch text.lowercased() {
        case "minutely":
            event.microseconds = [Self.constant(0)]
        case "hourly":
            event.minutes = [Self.constant(0)]; event.microseconds = [Self.constant(0)]
        case "daily":
            event.setMidnight()
        case "monthly":
            event.days = [Self.constant(1)]; event.setMidnight()
        case "annually", "yearly", "anually":
            event.months = [Self.constant(1)]; event.days = [Self.constant(1)]; event.setMidnight()
        case "weekly":
            event.weekdays = 1; event.setMidnight()
        case "quarterly":
            event.months = [1, 4, 7, 10].map(Self.constant); event.days = [Self.constant(1)]; event.setMidnight()
        case "biannually", "bi-annually", "semiannually", "semi-annually":
            event.months = [1, 7].map(Self.constant); event.days = [Self.constant(1)]; event.setMidnight()
        default:
            try parseWeekdays(&event)
            try parseDate(&event)
            try parseTime(&event)
            if index < bytes.count { throw error("unexpected \"\(rest)\"") }
        }
        try normalizeAndValidate(&event)
        return event
    }

    static func constant(_ value: Int) -> CalendarEvent.Element {
        .init(start: value, stop: -1, repeatEvery: 0)
    }

    static let dayNames: [(String, Int)] = [
        ("monday", 0), ("mon", 0), ("tuesday", 1), ("tue", 1), ("wednesday", 2), ("wed", 2),
        ("thursday", 3), ("thu", 3), ("friday", 4), ("fri", 4), ("saturday", 5), ("sat", 5),
        ("sunday", 6), ("sun", 6),
    ]

    mutating func parseWeekdays(_ event: inout CalendarEvent) throws(ScheduleError) {
        var bits: UInt8 = 0
        var rangeStart = -1
        var first = true
        while true {
            var matched: (length: Int, number: Int)?
            for (name, number) in Self.dayNames {
                let n = name.utf8.count
                guard index + n <= bytes.count else { continue }
                if zip(bytes[index..<index + n], name.utf8).allSatisfy({ $0 | 0x20 == $1 }) {
                    matched = (n, number)
                    break
                }
            }
            guard let (length, number) = matched else {
                if first { return }
                throw error("expected a weekday at \"\(rest)\"")
            }
            let after = peek(length)
            guard [0, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: ","), UInt8(ascii: " ")].contains(after) else {
                throw error("unknown weekday \"\(rest.prefix { $0 != " " && $0 != "," && $0 != "." })\"")
            }
            bits |= 1 << number
            if rangeStart >= 0 {
                guard rangeStart <= number else { throw error("weekday range runs backwards") }
                for j in (rangeStart + 1)..<max(rangeStart + 1, number) { bits |= 1 << j }
            }
            index += length
            event.weekdays = bits
            if peek == 0 { return }
            if peek == UInt8(ascii: " ") { skipSpaces(); return }
            if peek == UInt8(ascii: ".") {
                guard rangeStart < 0, peek(1) == UInt8(ascii: ".") else { throw error("bad weekday range") }
                rangeStart = number
                index += 2
            } else if peek == UInt8(ascii: "-") {
                guard rangeStart < 0 else { throw error("bad weekday range") }
                rangeStart = number
                index += 1
            } else if peek == UInt8(ascii: ",") {
                rangeStart = -1
                index += 1
            }
            if peek == 0 || peek == UInt8(ascii: " ") {
                skipSpaces()
                if rangeStart >= 0 { throw error("weekday range has no end") }
                return
            }
            first = false
        }
    }

    /// A decimal number; for seconds (`usec`) it is scaled to microseconds.
    mutating func decimal(usec: Bool, what: String) throws(ScheduleError) -> Int {
        guard peek >= UInt8(ascii: "0") && peek <= UInt8(ascii: "9") else {
            throw error("expected a number for the \(what) at \"\(rest)\"")
        }
        var value = 0
        while peek >= UInt8(ascii: "0") && peek <= UInt8(ascii: "9") {
            value = value * 10 + Int(peek - UInt8(ascii: "0"))
            guard value <= Int(Int32.max) else { throw error("\(what) value out of range") }
            index += 1
        }
        if usec {
            value *= CalendarEvent.usecPerSec
            guard value <= Int(Int32.max) else { throw error("\(what) value out of range") }
            if peek == UInt8(ascii: "."), peek(1) != UInt8(ascii: ".") {
                throw error("fractional seconds are not supported (schedules have one-second resolution)")
            }
        }
        return value
    }

    mutating func chain(usec: Bool, what: String) throws(ScheduleError) -> CalendarEvent.Chain {
        if peek == UInt8(ascii: "*") {
            index += 1
            return usec ? [.init(start: 0, stop: -1, repeatEvery: CalendarEvent.usecPerSec)] : nil
        }
        var elements: [CalendarEvent.Element] = []
        while true {
            guard elements.count <= 240 else { throw error("too many values in the \(what)") }
            let start = try decimal(usec: usec, what: what)
            var stop = -1, repeatEvery = 0
            if peek == UInt8(ascii: "."), peek(1) == UInt8(ascii: ".") {
                index += 2
                stop = try decimal(usec: usec, what: what)
                repeatEvery = usec ? CalendarEvent.usecPerSec : 1
            }
            if peek == UInt8(ascii: "/") {
                index += 1
                repeatEvery = try decimal(usec: usec, what: what)
                guard repeatEvery != 0 else { throw error("repetition of 0 in the \(what)") }
            } else if usec && stop >= 0 && start + repeatEvery > stop {
                throw error("empty seconds range")
            }
            guard [0, UInt8(ascii: " "), UInt8(ascii: ","), UInt8(ascii: "-"), UInt8(ascii: "~"), UInt8(ascii: ":")].contains(peek) else {
                throw error("unexpected \"\(rest)\" in the \(what)")
            }
            elements.append(.init(start: start, stop: stop, repeatEvery: repeatEvery))
            guard peek == UInt8(ascii: ",") else { break }
            index += 1
        }
        return elements
    }

    mutating func parseDate(_ event: inout CalendarEvent) throws(ScheduleError) {
        guard peek != 0 else { return }
        if peek == UInt8(ascii: "@") { throw error("@TIMESTAMP events fire once and are not supported as job schedules") }
        let saved = index
        let first = try chain(usec: false, what: "date")
        if peek == 0 || peek == UInt8(ascii: ":") {
            index = saved  // It was a time, not a date.
            return
        }
        if peek == UInt8(ascii: "~") { event.endOfMonth = true } else if peek != UInt8(ascii: "-") {
            throw error("unexpected \"\(rest)\" in the date")
        }
        index += 1
        let second = try chain(usec: false, what: "day")
        if peek == 0 || peek == UInt8(ascii: " ") {
            skipSpaces()
            event.months = first
            event.days = second
            return
        }
        if event.endOfMonth { throw error("\"~\" may only come before the day") }
        if peek == UInt8(ascii: "~") { event.endOfMonth = true } else if peek != UInt8(ascii: "-") {
            throw error("unexpected \"\(rest)\" in the date")
        }
        index += 1
        let third = try chain(usec: false, what: "day")
        guard peek == 0 || peek == UInt8(ascii: " ") else { throw error("unexpected \"\(rest)\" after the date") }
        skipSpaces()
        event.years = first
        event.months = second
        event.days = third
    }

    mutating func parseTime(_ event: inout CalendarEvent) throws(ScheduleError) {
        guard peek != 0 else {
            event.setMidnight()
            return
        }
        let hours = try chain(usec: false, what: "hour")
        guard peek == UInt8(ascii: ":") else { throw error("expected \":\" after the hour at \"\(rest)\"") }
        index += 1
        let minutes = try chain(usec: false, what: "minute")
        var seconds: CalendarEvent.Chain = [Self.constant(0)]
        if peek != 0 {
            guard peek == UInt8(ascii: ":") else { throw error("unexpected \"\(rest)\" after the minute") }
            index += 1
            seconds = try chain(usec: true, what: "second")
            guard peek == 0 else { throw error("unexpected \"\(rest)\" after the second") }
        }
        event.hours = hours
        event.minutes = minutes
        event.microseconds = seconds
    }

    mutating func normalizeAndValidate(_ event: inout CalendarEvent) throws(ScheduleError) {
        if let bits = event.weekdays, bits == 0 || bits >= 127 { event.weekdays = nil }
        if event.endOfMonth && event.days == nil { event.endOfMonth = false }
        if let years = event.years {
            event.years = years.map { e in
                func fix(_ v: Int) -> Int { v >= 0 && v < 70 ? v + 2000 : (v >= 70 && v < 100 ? v + 1900 : v) }
                return .init(start: fix(e.start), stop: e.stop >= 0 ? fix(e.stop) : e.stop, repeatEvery: e.repeatEvery)
            }
        }
        func normalize(_ chain: CalendarEvent.Chain) -> CalendarEvent.Chain {
            guard let chain else { return nil }
            let fixed = chain.map { e -> CalendarEvent.Element in
                var e = e
                if e.stop > e.start && e.repeatEvery > 0 { e.stop -= (e.stop - e.start) % e.repeatEvery }
                if (e.stop > e.start && e.repeatEvery > 0 && e.start + e.repeatEvery > e.stop) || e.start == e.stop {
                    e.repeatEvery = 0
                    e.stop = -1
                }
                return e
            }
            var unique: [CalendarEvent.Element] = []
            for e in fixed.sorted() where unique.last != e { unique.append(e) }
            return unique
        }
        event.years = normalize(event.years)
        event.months = normalize(event.months)
        event.days = normalize(event.days)
        event.hours = normalize(event.hours)
        event.minutes = normalize(event.minutes)
        event.microseconds = normalize(event.microseconds)

        func check(_ chain: CalendarEvent.Chain, _ from: Int, _ to: Int, endOfMonth: Bool, _ what: String, unit: Int = 1) throws(ScheduleError) {
            guard let chain else { return }
            var to = to
            for e in chain {
                // systemd forbids days more than 28 from the month's end, and (252's chain_valid
                // recurses with the bound already lowered) lowers it by 3 more for each further
                // value in a `~` list. We accept exactly what systemd accepts.
                if endOfMonth { to -= 3 }
                func bad(_ detail: String) -> ScheduleError {
                    error("\(what) \(detail) (allowed: \(from / unit)…\(to / unit))")
                }
                if e.start < from || e.start > to { throw bad("\(e.start / unit) is out of range") }
                if e.repeatEvery > to - from { throw bad("repetition /\(e.repeatEvery / unit) is too large") }
                if e.stop >= 0 {
                    if e.stop < from || e.stop > to { throw bad("\(e.stop / unit) is out of range") }
                    if e.start + e.repeatEvery > e.stop { throw bad("range \(e.start / unit)..\(e.stop / unit) is empty") }
                } else if endOfMonth && e.start - e.repeatEvery < from {
                    throw bad("repetition /\(e.repeatEvery / unit) never fires")
                } else if !endOfMonth && e.start + e.repeatEvery > to {
                    throw bad("repetition /\(e.repeatEvery / unit) never fires")
                }
            }
        }
        try check(event.years, CalendarEvent.minYear, CalendarEvent.maxYear, endOfMonth: false, "year")
        try check(event.months, 1, 12, endOfMonth: false, "month")
        try check(event.days, 1, 31, endOfMonth: event.endOfMonth, event.endOfMonth ? "days from the month's end" : "day")
        try check(event.hours, 0, 23, endOfMonth: false, "hour")
        try check(event.minutes, 0, 59, endOfMonth: false, "minute")
        try check(event.microseconds, 0, 60 * CalendarEvent.usecPerSec - 1, endOfMonth: false, "second",
                  unit: CalendarEvent.usecPerSec)
    }
}

extension CalendarEvent {
    mutating func setMidnight() {
        hours = [.init(start: 0, stop: -1, repeatEvery: 0)]
        minutes = [.init(start: 0, stop: -1, repeatEvery: 0)]
        microseconds = [.init(start: 0, stop: -1, repeatEvery: 0)]
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
