// MARK: - Parser

/// A recursive-descent reading of systemd's grammar, accepting and refusing what systemd does,
/// with messages that name the offending part.
struct CalendarEventParser {
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
