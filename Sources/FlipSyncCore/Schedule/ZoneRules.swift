import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One of a zone's local time types: an offset from UTC and whether it is daylight time.
public struct LocalTimeType: Hashable, Sendable {
    /// Seconds east of UTC.
    public var utcOffset: Int
    public var isDST: Bool
    public var abbreviation: String
}

/// A change from one local time type to another at an instant.
public struct ZoneTransition: Hashable, Sendable {
    public var at: Int64
    public var before: LocalTimeType
    public var after: LocalTimeType
}

/// How a wall-clock time maps to instants in a zone.
public enum LocalTimeResolution: Hashable, Sendable {
    /// Exactly one instant shows this wall time.
    case unique(Int64)
    /// The clock went back and shows this wall time twice (`first` < `second`).
    case repeated(first: Int64, second: Int64, firstType: LocalTimeType, secondType: LocalTimeType)
    /// The clock jumped forward over this wall time; no instant shows it.
    case skipped(ZoneTransition)
}

public enum ZoneRulesError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownZone(String)
    case malformed(String, reason: String)

    public var description: String {
        switch self {
        case .unknownZone(let name): return "unknown time zone \"\(name)\""
        case .malformed(let name, let reason): return "time zone \"\(name)\" is unreadable: \(reason)"
        }
    }
}

/// The rules of one IANA time zone, read from the system's compiled zoneinfo (TZif, RFC 8536),
/// the same files glibc — and therefore systemd and cron — read. Instants after the last
/// transition in the file follow the file's POSIX TZ footer rule, as glibc does.
///
/// Immutable and cheap to share; `named(_:)` caches loaded zones. Lookups go through a table of
/// offset periods built when the zone is loaded, with the footer rule's transitions written out
/// up to the year 2211 (systemd stops at 2199); the table is checked against the direct
/// evaluation of the file and the rule (`TZifZone`) before it is used, and answers exactly as
/// that evaluation would.
public final class ZoneRules: Sendable, CustomStringConvertible {
    public let identifier: String
    /// The zone as read: transition table and footer rule, evaluated directly.
    let source: TZifZone
    /// The same answers, precomputed, for instants before `periods.end`.
    let periods: ZonePeriods

    public static let utc = ZoneRules(identifier: "UTC", fixed: LocalTimeType(utcOffset: 0, isDST: false, abbreviation: "UTC"))

    /// The default place to look for compiled zones.
    public static let defaultDirectory = "/usr/share/zoneinfo"

    public var description: String { identifier }

    init(identifier: String, fixed: LocalTimeType) {
        self.identifier = identifier
        source = TZifZone(times: [], typeIndices: [], types: [fixed], rule: nil)
        periods = ZonePeriods(fixed: fixed)
    }

    init(identifier: String, times: [Int64], typeIndices: [UInt8], types: [LocalTimeType], rule: PosixZoneRule?) {
        self.identifier = identifier
        source = TZifZone(times: times, typeIndices: typeIndices, types: types, rule: rule)
        periods = ZonePeriods(source)
    }

    private static let cache = Mutex<[String: ZoneRules]>([:])

    /// Loads a zone by its IANA name ("America/New_York", "UTC"). Names are checked before any
    /// file is opened: no absolute paths, no `..`.
    public static func named(_ name: String, directory: String = defaultDirectory) throws(ZoneRulesError) -> ZoneRules {
        let key = directory + "\u{0}" + name
        if let cached = cache.withLock({ $0[key] }) { return cached }
        guard isPlausibleName(name) else { throw .unknownZone(name) }
        guard let bytes = readFile(directory + "/" + name) else { throw .unknownZone(name) }
        let zone = try TZifParser(name: name, bytes: bytes).parse()
        cache.withLock { $0[key] = zone }
        return zone
    }

    /// Whether `name` names a zone in the system database.
    public static func isKnown(_ name: String) -> Bool {
        (try? named(name)) != nil
    }

    static func isPlausibleName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count < 128, !name.hasPrefix("/"), !name.hasSuffix("/") else { return false }
        for part in name.split(separator: "/", omittingEmptySubsequences: false) {
            if part.isEmpty || part == "." || part == ".." { return false }
        }
        return name.utf8.allSatisfy { byte in
            (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57)
                || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "+")
        }
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size < 1 << 20 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n <= 0 { return nil }
            filled += n
        }
        return bytes
    }

    // MARK: - Instant → local

    /// The local time type in effect at `instant`.
    public func type(at instant: Int64) -> LocalTimeType {
        instant < periods.end ? periods.types[periods.index(containing: instant)] : source.type(at: instant)
    }

    public func utcOffset(at instant: Int64) -> Int { type(at: instant).utcOffset }

    /// The wall-clock fields shown at `instant`.
    public func localDateTime(at instant: Int64) -> CivilDateTime {
        CivilDateTime(utcSeconds: instant + Int64(utcOffset(at: instant)))
    }

    /// The first transition strictly after `instant`, if any.
    public func transition(after instant: Int64) -> ZoneTransition? {
        instant < periods.end ? periods.transition(afterPeriod: periods.index(containing: instant))
                              : source.transition(after: instant)
    }

    // MARK: - Local → instant

    /// The widest gap between two offsets we expect, plus a margin: transitions farther than this
    /// from a wall time cannot affect which instants show it.
    static let window: Int64 = 30 * 3600

    /// Which instants show the wall-clock time `wall` (fields read as if UTC, in seconds).
    public func resolve(wall: Int64) -> LocalTimeResolution {
        var periodStart = Int64.min
        var current = type(at: wall - Self.window)
        var cursor = wall - Self.window
        var found: (Int64, LocalTimeType)?
        var lastTransition: ZoneTransition?
        while true {
            let next = transition(after: cursor)
            let periodEnd = next.map { $0.at } ?? Int64.max
            let candidate = wall - Int64(current.utcOffset)
            if candidate >= periodStart && candidate < periodEnd {
                if let (first, firstType) = found {
                    return .repeated(first: first, second: candidate, firstType: firstType, secondType: current)
                }
                found = (candidate, current)
            }
            guard let next, next.at <= wall + Self.window else { break }
            if wall >= next.at + Int64(next.before.utcOffset) && wall < next.at + Int64(next.after.utcOffset) {
                lastTransition = next
            }
            periodStart = next.at
            current = next.after
            cursor = next.at
        }
        if let (instant, _) = found { return .unique(instant) }
        if let lastTransition { return .skipped(lastTransition) }
        // Unreachable for consistent data; treat as the plain offset of the moment before.
        return .unique(wall - Int64(current.utcOffset))
    }

    /// PEP 495 semantics (Python's `zoneinfo`): the UTC offset for a wall time, where `fold`
    /// picks the side of a transition. `fold == 0` takes the offset before a transition for both
    /// repeated and skipped times; `fold == 1` the offset after.
    public func utcOffset(forWall wall: Int64, fold: Int) -> Int {
        var current = type(at: wall - Self.window)
        var cursor = wall - Self.window
        while let next = transition(after: cursor), next.at <= wall + Self.window {
            let pick = fold == 0 ? max(next.before.utcOffset, next.after.utcOffset)
                                 : min(next.before.utcOffset, next.after.utcOffset)
            if wall >= next.at + Int64(pick) { current = next.after } else { break }
            cursor = next.at
        }
        return current.utcOffset
    }
}

// MARK: - Direct evaluation of the file

/// A zone as its TZif file states it: the transition table, and the POSIX TZ footer rule for
/// instants from the table's last transition on (as glibc reads it). Every lookup evaluates
/// the table or the rule afresh; `ZonePeriods` precomputes the same answers.
struct TZifZone: Sendable {
    /// Transition instants, ascending, and the type that starts at each.
    let times: [Int64]
    let typeIndices: [UInt8]
    let types: [LocalTimeType]
    /// The type in effect before the first transition (RFC 8536: type 0).
    let initialType: LocalTimeType
    let rule: PosixZoneRule?

    init(times: [Int64], typeIndices: [UInt8], types: [LocalTimeType], rule: PosixZoneRule?) {
        self.times = times
        self.typeIndices = typeIndices
        self.types = types
        self.initialType = types[0]
        self.rule = rule
    }

    func type(at instant: Int64) -> LocalTimeType {
        if let last = times.last, instant >= last, let rule {
            return rule.type(at: instant)
        }
        // Index of the last transition at or before `instant`.
        var low = 0, high = times.count
        while low < high {
            let mid = (low + high) / 2
            if times[mid] <= instant { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? initialType : types[Int(typeIndices[low - 1])]
    }

    func transition(after instant: Int64) -> ZoneTransition? {
        if let last = times.last, instant >= last {
            return rule?.transition(after: instant)
        }
        var low = 0, high = times.count
        while low < high {
            let mid = (low + high) / 2
            if times[mid] <= instant { low = mid + 1 } else { high = mid }
        }
        guard low < times.count else { return rule?.transition(after: instant) }
        let before = low == 0 ? initialType : types[Int(typeIndices[low - 1])]
        let after = types[Int(typeIndices[low])]
        if before == after { return transition(after: times[low]) }
        return ZoneTransition(at: times[low], before: before, after: after)
    }
}

// MARK: - Precomputed periods

/// A zone's history as consecutive periods of one local time type each: period `i` runs from
/// `starts[i]` (`Int64.min` for the first) to `starts[i + 1]`. It answers `type(at:)` and
/// `transition(after:)` exactly as `TZifZone` does, for instants before `end`; `end` is
/// `Int64.max` when the last period never ends, and `Int64.min` when the zone could not be
/// tabulated (then every lookup goes to `TZifZone`).
struct ZonePeriods: Sendable {
    let starts: [Int64]
    let types: [LocalTimeType]
    /// `types[i].utcOffset` and `types[i].isDST`, for lookups that need no abbreviation.
    let offsets: [Int]
    let isDST: [Bool]
    let end: Int64

    /// The last year whose footer-rule transitions are written out.
    static let lastTabulatedYear = 2211

    init(fixed: LocalTimeType) {
        self.init(starts: [.min], types: [fixed], end: .max)
    }

    private init(starts: [Int64], types: [LocalTimeType], end: Int64) {
        self.starts = starts
        self.types = types
        offsets = types.map(\.utcOffset)
        isDST = types.map(\.isDST)
        self.end = end
    }

    /// Tabulates `zone`, then checks the table against it; an unverifiable zone gets an empty
    /// table (`end == Int64.min`).
    init(_ zone: TZifZone) {
        // Where `zone.type(at:)` or `zone.transition(after:)` can change: the table's
        // transitions and, past the table, the rule's transitions and the year boundaries at
        // which the rule picks another year's transitions.
        var points = zone.times
        if let last = zone.times.last, let rule = zone.rule {
            let firstYear = CivilDateTime(utcSeconds: last).year - 2
            for year in firstYear...(Self.lastTabulatedYear + 1) {
                if let (s, e) = rule.transitions(in: year) { points += [s, e] }
                points.append(CivilDate.daysSinceEpoch(year: year, month: 1, day: 1) * 86_400 - Int64(rule.standard.utcOffset))
            }
        }
        points = Array(Set(points)).sorted()
        guard let first = points.first else {
            self.init(starts: [.min], types: [zone.initialType], end: zone.rule?.daylight == nil ? .max : .min)
            if !verifies(zone, at: [0]) { self = ZonePeriods(starts: [.min], types: [zone.initialType], end: .min) }
            return
        }
        var starts: [Int64] = [.min]
        var types = [zone.type(at: first - 1)]
        for point in points {
            let type = zone.type(at: point)
            if type != types[types.count - 1] {
                starts.append(point)
                types.append(type)
            }
        }
        // Past the table the type is constant if the rule has no daylight time (or there is no
        // rule); otherwise the last period's end is not tabulated.
        let constantAfter = zone.rule?.daylight == nil
        self.init(starts: starts, types: types, end: constantAfter ? .max : starts[starts.count - 1])
        if !verifies(zone, at: points) {
            self = ZonePeriods(starts: [.min], types: [zone.initialType], end: .min)
        }
    }

    /// Whether the table gives `zone`'s answers on both sides of every point where they can
    /// change (so everywhere before `end`: between those points both are constant).
    private func verifies(_ zone: TZifZone, at points: [Int64]) -> Bool {
        for point in points where point > .min {
            for instant in [point - 1, point] where instant < end {
                let i = index(containing: instant)
                if types[i] != zone.type(at: instant) || transition(afterPeriod: i) != zone.transition(after: instant) {
                    return false
                }
            }
        }
        return true
    }

    /// The period containing `instant` (which must be before `end`).
    func index(containing instant: Int64) -> Int {
        var low = 0, high = starts.count
        while low < high {
            let mid = (low + high) / 2
            if starts[mid] <= instant { low = mid + 1 } else { high = mid }
        }
        return low - 1
    }

    func transition(afterPeriod i: Int) -> ZoneTransition? {
        guard i + 1 < starts.count else { return nil }
        return ZoneTransition(at: starts[i + 1], before: types[i], after: types[i + 1])
    }
}

/// A zone as one search sees it: the same answers as `ZoneRules`, remembering the period the
/// last lookup fell in, since a search's next lookup almost always falls in the same one or
/// the next. Local to one search (a value, never shared), so it needs no locking.
struct ZoneCursor {
    let zone: ZoneRules
    // `zone.periods`, held here so a lookup does not go through the class each time.
    private let starts: [Int64]
    private let offsets: [Int]
    private let isDST: [Bool]
    private let end: Int64
    private var period = 0

    init(zone: ZoneRules) {
        self.zone = zone
        starts = zone.periods.starts
        offsets = zone.periods.offsets
        isDST = zone.periods.isDST
        end = zone.periods.end
    }

    /// The period containing `instant`, or `nil` past the table (then ask `zone.source`).
    private mutating func periodIndex(_ instant: Int64) -> Int? {
        guard instant < end else { return nil }
        let i = period
        if starts[i] <= instant {
            if i + 1 == starts.count || instant < starts[i + 1] { return i }
            if i + 2 == starts.count || instant < starts[i + 2] { period = i + 1; return i + 1 }
        } else if i > 0 && starts[i - 1] <= instant {
            period = i - 1
            return i - 1
        }
        period = zone.periods.index(containing: instant)
        return period
    }

    /// The UTC offset and daylight flag in effect at `instant` (`ZoneRules.type(at:)`).
    mutating func offsetAndDST(at instant: Int64) -> (utcOffset: Int, isDST: Bool) {
        guard let i = periodIndex(instant) else {
            let type = zone.source.type(at: instant)
            return (type.utcOffset, type.isDST)
        }
        return (offsets[i], isDST[i])
    }

    mutating func utcOffset(at instant: Int64) -> Int {
        offsetAndDST(at: instant).utcOffset
    }

    /// Whether the zone has no transition from `start` through `end` (known from the table).
    mutating func isSteady(from first: Int64, through last: Int64) -> Bool {
        guard let i = periodIndex(first) else { return false }
        return i + 1 == starts.count || starts[i + 1] > last
    }

    /// `ZoneRules.utcOffset(forWall:fold:)`.
    mutating func utcOffset(forWall wall: Int64, fold: Int) -> Int {
        // Nearly always no transition is near `wall`: the offset is that of the period around it
        // (`utcOffset(forWall:fold:)` finds no transition to step over).
        if isSteady(from: wall - ZoneRules.window, through: wall + ZoneRules.window) {
            return offsets[period]
        }
        return zone.utcOffset(forWall: wall, fold: fold)
    }
}

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

// MARK: - TZif

private struct TZifParser {
    let name: String
    let bytes: [UInt8]

    func fail(_ reason: String) -> ZoneRulesError { .malformed(name, reason: reason) }

    func u32(_ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }

    func i64(_ at: Int) -> Int64 {
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(bytes[at + i]) }
        return Int64(bitPattern: value)
    }

    struct Header {
        var version: UInt8
        var isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt: Int
    }

    func header(at offset: Int) throws(ZoneRulesError) -> Header {
        guard bytes.count >= offset + 44, bytes[offset..<offset + 4].elementsEqual("TZif".utf8) else {
            throw fail("not a TZif file")
        }
        let counts = (0..<6).map { Int(u32(offset + 20 + $0 * 4)) }
        return Header(version: bytes[offset + 4], isutcnt: counts[0], isstdcnt: counts[1], leapcnt: counts[2],
                      timecnt: counts[3], typecnt: counts[4], charcnt: counts[5])
    }

    func blockSize(_ h: Header, timeSize: Int) -> Int {
        h.timecnt * timeSize + h.timecnt + h.typecnt * 6 + h.charcnt + h.leapcnt * (timeSize + 4) + h.isstdcnt + h.isutcnt
    }

    func parse() throws(ZoneRulesError) -> ZoneRules {
        let v1 = try header(at: 0)
        var h = v1
        var offset = 44
        var timeSize = 4
        if v1.version >= UInt8(ascii: "2") {
            let second = 44 + blockSize(v1, timeSize: 4)
            h = try header(at: second)
            offset = second + 44
            timeSize = 8
        }
        guard h.typecnt > 0, h.typecnt <= 256, bytes.count >= offset + blockSize(h, timeSize: timeSize) else {
            throw fail("truncated")
        }
        var times: [Int64] = []
        times.reserveCapacity(h.timecnt)
        for i in 0..<h.timecnt {
            let at = offset + i * timeSize
            times.append(timeSize == 8 ? i64(at) : Int64(Int32(bitPattern: u32(at))))
        }
        var cursor = offset + h.timecnt * timeSize
        let indices = Array(bytes[cursor..<cursor + h.timecnt])
        guard indices.allSatisfy({ Int($0) < h.typecnt }) else { throw fail("bad type index") }
        cursor += h.timecnt
        let charsStart = cursor + h.typecnt * 6
        var types: [LocalTimeType] = []
        for i in 0..<h.typecnt {
            let at = cursor + i * 6
            let utoff = Int(Int32(bitPattern: u32(at)))
            let isdst = bytes[at + 4] != 0
            let desig = Int(bytes[at + 5])
            var end = charsStart + desig
            while end < charsStart + h.charcnt && bytes[end] != 0 { end += 1 }
            let abbreviation = desig < h.charcnt ? String(decoding: bytes[(charsStart + desig)..<end], as: UTF8.self) : ""
            types.append(LocalTimeType(utcOffset: utoff, isDST: isdst, abbreviation: abbreviation))
        }
        var rule: PosixZoneRule?
        if timeSize == 8 {
            let footerStart = offset + blockSize(h, timeSize: 8)
            if footerStart < bytes.count, bytes[footerStart] == UInt8(ascii: "\n") {
                var end = footerStart + 1
                while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                let text = String(decoding: bytes[(footerStart + 1)..<end], as: UTF8.self)
                if !text.isEmpty {
                    guard let parsed = PosixZoneRule(text) else { throw fail("bad TZ rule \"\(text)\"") }
                    rule = parsed
                }
            }
        }
        if times.isEmpty, rule == nil {
            return ZoneRules(identifier: name, fixed: types[0])
        }
        return ZoneRules(identifier: name, times: times, typeIndices: indices, types: types, rule: rule)
    }
}
