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
}
