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
/// Immutable and cheap to share; `named(_:)` caches loaded zones.
public final class ZoneRules: Sendable, CustomStringConvertible {
    public let identifier: String
    /// Transition instants, ascending, and the type that starts at each.
    private let times: [Int64]
    private let typeIndices: [UInt8]
    private let types: [LocalTimeType]
    /// The type in effect before the first transition (RFC 8536: type 0).
    private let initialType: LocalTimeType
    private let rule: PosixZoneRule?

    public static let utc = ZoneRules(identifier: "UTC", fixed: LocalTimeType(utcOffset: 0, isDST: false, abbreviation: "UTC"))

    /// The default place to look for compiled zones.
    public static let defaultDirectory = "/usr/share/zoneinfo"

    public var description: String { identifier }

    init(identifier: String, fixed: LocalTimeType) {
        self.identifier = identifier
        times = []
        typeIndices = []
        types = [fixed]
        initialType = fixed
        rule = nil
    }

    init(identifier: String, times: [Int64], typeIndices: [UInt8], types: [LocalTimeType], rule: PosixZoneRule?) {
        self.identifier = identifier
        self.times = times
        self.typeIndices = typeIndices
        self.types = types
        self.initialType = types[0]
        self.rule = rule
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

    public func utcOffset(at instant: Int64) -> Int { type(at: instant).utcOffset }

    /// The wall-clock fields shown at `instant`.
    public func localDateTime(at instant: Int64) -> CivilDateTime {
        CivilDateTime(utcSeconds: instant + Int64(utcOffset(at: instant)))
    }

    /// The first transition strictly after `instant`, if any.
    public func transition(after instant: Int64) -> ZoneTransition? {
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

    // MARK: - Local → instant

    /// The widest gap between two offsets we expect, plus a margin: transitions farther than this
    /// from a wall time cannot affect which instants show it.
    private static let window: Int64 = 30 * 3600

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
        for y in (year - 1)...(year + 1) {
            guard let (s, e) = transitions(in: y) else { return nil }
            for (at, before, after) in [(s, standard, daylight), (e, daylight, standard)] where at > instant {
                if best == nil || at < best!.at { best = ZoneTransition(at: at, before: before, after: after) }
            }
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
