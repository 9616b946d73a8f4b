// MARK: - POSIX TZ rules (the TZif footer)

/// A POSIX TZ string such as `EST5EDT,M3.2.0,M11.1.0` or `<+1030>-10:30<+11>-11,M10.1.0,M4.1.0`.
struct PosixZoneRule: Sendable, Hashable {
    struct DateRule: Hashable, Sendable {
        enum Kind: Hashable, Sendable {
            case julianNoLeap(Int)   // Jn: 1...365, Feb 29 never counted
            case zeroBasedDay(Int)   // n: 0...365
            case monthWeekDay(month: Int, week: Int, weekday: Int)  // Mm.w.d
        }
        var kind: Kind
        var time: Int   // seconds after local midnight, may be negative or > 24h

        /// Days since epoch of this rule's date in `year`.
        func day(in year: Int) -> Int64 {
            switch kind {
            case .julianNoLeap(let n):
                var d = Int64(n - 1)
                if CivilDate.isLeap(year) && n >= 60 { d += 1 }
                return CivilDate.daysSinceEpoch(year: year, month: 1, day: 1) + d
            case .zeroBasedDay(let n):
                return CivilDate.daysSinceEpoch(year: year, month: 1, day: 1) + Int64(n)
            case .monthWeekDay(let month, let week, let weekday):
                let first = CivilDate.daysSinceEpoch(year: year, month: month, day: 1)
                let firstWeekday = CivilDate.weekday(daysSinceEpoch: first)
                var day = Int64((weekday - firstWeekday + 7) % 7) + Int64(week - 1) * 7
                let length = Int64(CivilDate.daysIn(month: month, year: year))
                while day >= length { day -= 7 }
                return first + day
            }
        }
    }

    var standard: LocalTimeType
    var daylight: LocalTimeType?
    var start: DateRule?
    var end: DateRule?

    /// The two transitions of `year`: into daylight time and back, in UTC.
    func transitions(in year: Int) -> (dstStart: Int64, dstEnd: Int64)? {
        guard let daylight, let start, let end else { return nil }
        let s = start.day(in: year) * 86_400 + Int64(start.time) - Int64(standard.utcOffset)
        let e = end.day(in: year) * 86_400 + Int64(end.time) - Int64(daylight.utcOffset)
        return (s, e)
    }

    func type(at instant: Int64) -> LocalTimeType {
        guard let daylight else { return standard }
        let year = CivilDateTime(utcSeconds: instant + Int64(standard.utcOffset)).year
        guard let (s, e) = transitions(in: year) else { return standard }
        if s < e {
            return instant >= s && instant < e ? daylight : standard
        } else {
            return instant >= e && instant < s ? standard : daylight
        }
    }

    func transition(after instant: Int64) -> ZoneTransition? {
        guard let daylight else { return nil }
        let year = CivilDateTime(utcSeconds: instant + Int64(standard.utcOffset)).year
        var best: ZoneTransition?
        func consider(_ at: Int64, _ before: LocalTimeType, _ after: LocalTimeType) {
            if at > instant && (best == nil || at < best!.at) { best = ZoneTransition(at: at, before: before, after: after) }
        }
        for y in (year - 1)...(year + 1) {
            guard let (s, e) = transitions(in: y) else { return nil }
            consider(s, standard, daylight)
            consider(e, daylight, standard)
        }
        return best
    }

    /// Parses a TZ string; `nil` for an empty or malformed one.
    init?(_ text: String) {
        var scanner = PosixScanner(bytes: Array(text.utf8))
        guard let stdName = scanner.name(), let stdOffset = scanner.offset() else { return nil }
        standard = LocalTimeType(utcOffset: -stdOffset, isDST: false, abbreviation: stdName)
        if scanner.atEnd { return }
        guard let dstName = scanner.name() else { return nil }
        var dstOffset = stdOffset - 3600
        if !scanner.atEnd && scanner.peek != UInt8(ascii: ",") {
            guard let parsed = scanner.offset() else { return nil }
            dstOffset = parsed
        }
        daylight = LocalTimeType(utcOffset: -dstOffset, isDST: true, abbreviation: dstName)
        guard scanner.consume(","), let s = scanner.dateRule(), scanner.consume(","), let e = scanner.dateRule(),
              scanner.atEnd else { return nil }
        start = s
        end = e
    }
}

private struct PosixScanner {
    let bytes: [UInt8]
    var index = 0

    var atEnd: Bool { index >= bytes.count }
    var peek: UInt8? { atEnd ? nil : bytes[index] }

    mutating func consume(_ char: Character) -> Bool {
        guard let ascii = char.asciiValue, peek == ascii else { return false }
        index += 1
        return true
    }

    mutating func name() -> String? {
        if consume("<") {
            let start = index
            while let c = peek, c != UInt8(ascii: ">") { index += 1 }
            guard consume(">") else { return nil }
            return String(decoding: bytes[start..<index - 1], as: UTF8.self)
        }
        let start = index
        while let c = peek, (c >= 65 && c <= 90) || (c >= 97 && c <= 122) { index += 1 }
        return index - start >= 3 ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
    }

    mutating func number() -> Int? {
        var value = 0, digits = 0
        while let c = peek, c >= 48, c <= 57, digits < 3 {
            value = value * 10 + Int(c - 48)
            index += 1
            digits += 1
        }
        return digits > 0 ? value : nil
    }

    /// `[+-]hh[:mm[:ss]]` in seconds, sign as written (for a zone offset POSIX's positive is
    /// west of Greenwich; the caller negates).
    mutating func offset() -> Int? {
        var sign = 1
        if consume("-") { sign = -1 } else { _ = consume("+") }
        guard let hours = number() else { return nil }
        var total = hours * 3600
        if consume(":") {
            guard let minutes = number() else { return nil }
            total += minutes * 60
            if consume(":") {
                guard let seconds = number() else { return nil }
                total += seconds
            }
        }
        return sign * total
    }

    mutating func dateRule() -> PosixZoneRule.DateRule? {
        let kind: PosixZoneRule.DateRule.Kind
        if consume("M") {
            guard let m = number(), consume("."), let w = number(), consume("."), let d = number(),
                  (1...12).contains(m), (1...5).contains(w), (0...6).contains(d) else { return nil }
            kind = .monthWeekDay(month: m, week: w, weekday: d)
        } else if consume("J") {
            guard let n = number(), (1...365).contains(n) else { return nil }
            kind = .julianNoLeap(n)
        } else {
            guard let n = number(), (0...365).contains(n) else { return nil }
            kind = .zeroBasedDay(n)
        }
        var time = 7200
        if consume("/") {
            // RFC 8536 allows -167...167 hours here, with the ordinary sign: the same grammar
            // as an offset.
            guard let t = offset() else { return nil }
            time = t
        }
        return PosixZoneRule.DateRule(kind: kind, time: time)
    }
}
