import Foundation
import Testing
@testable import FlipSyncCore

/// The schedule search remembers work between steps (a zone's periods precomputed at load, the
/// period a search looked at last, `mktime`'s last call, the last day converted). Each is
/// checked here against the computation it replaces, over random and adversarial inputs:
/// daylight-saving gaps and overlaps in New York, Lord Howe's 30-minute shift, Chatham's
/// 02:45 jump, and instants far past the end of each zone's table.
@Suite("Schedule caches give the answers they replace", .timeLimit(.minutes(5)))
struct ScheduleCacheTests {
    static let zones = ["America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "Europe/Berlin",
                        "Asia/Kolkata", "America/Nuuk", "Africa/Casablanca", "Antarctica/Troll", "UTC"]

    /// Every zone the system has (skipping the `posix/` and `right/` copies).
    static func allZoneNames() -> [String] {
        let root = ZoneRules.defaultDirectory
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var names: [String] = []
        for case let path as String in walker where !path.hasPrefix("posix") && !path.hasPrefix("right") {
            if (try? ZoneRules.named(path)) != nil { names.append(path) }
        }
        return names.sorted()
    }

    /// Instants a lookup could get wrong: around every transition (table and rule) up to 2300,
    /// plus random ones from 1800 to 2400.
    static func probeInstants(_ zone: ZoneRules, _ rng: inout SplitMix64) -> [Int64] {
        var instants: [Int64] = []
        var cursor: Int64 = -5_400_000_000  // 1798
        while let t = zone.source.transition(after: cursor), t.at < 10_413_792_000 {  // 2300
            for delta: Int64 in [-ZoneRules.window - 1, -3601, -1, 0, 1, 1799, 3600, ZoneRules.window] {
                instants.append(t.at + delta)
            }
            cursor = t.at
        }
        for _ in 0..<300 { instants.append(Int64.random(in: -5_400_000_000...13_569_465_600, using: &rng)) }
        return instants
    }

    @Test("every zone's period table answers type(at:) and transition(after:) as its file and rule do")
    func periodTables() {
        var rng = SplitMix64(seed: 7)
        let names = Self.allZoneNames()
        #expect(names.count > 300, "the system zone database looks incomplete")
        for name in names {
            let zone = zone(name)
            #expect(zone.periods.end != .min, "\(name) could not be tabulated")
            for instant in Self.probeInstants(zone, &rng) {
                if zone.type(at: instant) != zone.source.type(at: instant)
                    || zone.transition(after: instant) != zone.source.transition(after: instant) {
                    Issue.record("\(name) at @\(instant): table and file disagree")
                    break
                }
            }
        }
    }

    @Test("a zone cursor walking forwards, backwards and jumping answers as the zone does")
    func zoneCursor() {
        var rng = SplitMix64(seed: 11)
        for name in Self.zones {
            let zone = zone(name)
            var cursor = ZoneCursor(zone: zone)
            var instant: Int64 = 1_767_225_600
            var mismatches = 0
            for _ in 0..<20_000 {
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: instant = Int64.random(in: 0...9_000_000_000, using: &rng)  // anywhere, up to 2255
                case 1: instant -= Int64.random(in: 0...200_000, using: &rng)
                default: instant += Int64.random(in: 0...400_000, using: &rng)
                }
                let wall = instant + Int64(Int.random(in: -50_400...50_400, using: &rng))
                let fold = Int.random(in: 0...1, using: &rng)
                let (offset, isDST) = cursor.offsetAndDST(at: instant)
                if offset != zone.source.type(at: instant).utcOffset || isDST != zone.source.type(at: instant).isDST
                    || cursor.utcOffset(forWall: wall, fold: fold) != zone.utcOffset(forWall: wall, fold: fold) {
                    mismatches += 1
                }
            }
            #expect(mismatches == 0, "\(name): \(mismatches) lookups differ")
        }
    }

    @Test("mktime remembering its last call returns what computing afresh returns")
    func mktimeMemory() {
        var rng = SplitMix64(seed: 13)
        for name in Self.zones {
            let zone = zone(name)
            var remembering = BrokenDownClock(zone: zone)
            var fresh = BrokenDownClock(zone: zone)
            var tm = remembering.localtime(1_772_931_600)  // 2026-03-08T01:00:00Z
            _ = fresh.localtime(1_772_931_600)
            var mismatches = 0
            for _ in 0..<20_000 {
                // Mostly the previous result again (as the search does), or one field moved,
                // in and out of range; years chosen around DST changes and past the tables.
                switch Int.random(in: 0..<12, using: &rng) {
                case 0: tm.year = [2026, 2037, 2038, 2090, 2199].randomElement(using: &rng)!
                case 1: tm.month = Int.random(in: -2...13, using: &rng)
                case 2: tm.day = Int.random(in: -1...33, using: &rng)
                case 3: tm.hour = Int.random(in: 0...25, using: &rng)
                case 4: tm.minute = [0, 15, 30, 45, 59, 61].randomElement(using: &rng)!
                case 5: tm.second = Int.random(in: -1...61, using: &rng)
                case 6: tm.isDST = Int.random(in: -1...1, using: &rng)
                case 7: tm.month = [2, 3, 9, 9, 10, 3].randomElement(using: &rng)!; tm.day = Int.random(in: 1...14, using: &rng)
                default: break
                }
                var a = tm, b = tm
                fresh.forgetLastCall()
                let ra = remembering.mktime(&a)
                let rb = fresh.mktime(&b)
                if ra != rb || a != b { mismatches += 1 }
                if Bool.random(using: &rng) { tm = a }
                if Int.random(in: 0..<4, using: &rng) == 0 { tm.isDST = -1 }
            }
            #expect(mismatches == 0, "\(name): \(mismatches) calls differ")
        }
    }

    @Test("the day cache converts as CivilDate and CivilDateTime do")
    func dayCache() {
        var rng = SplitMix64(seed: 17)
        var cache = CivilDayCache()
        var seconds: Int64 = 0
        var mismatches = 0
        for _ in 0..<50_000 {
            // Mostly small steps forward (as a search moves), sometimes anywhere.
            seconds = Bool.random(using: &rng) ? seconds + Int64.random(in: 0...90_000, using: &rng)
                                               : Int64.random(in: -4_000_000_000...8_000_000_000, using: &rng)
            if cache.dateTime(utcSeconds: seconds) != CivilDateTime(utcSeconds: seconds) { mismatches += 1 }
            let y = Int.random(in: 1900...2300, using: &rng)
            let m = Int.random(in: -3...15, using: &rng), d = Int.random(in: -2...33, using: &rng)
            if cache.secondsAsIfUTC(year: y, month: m, day: d, hour: 1, minute: 2, second: 3)
                != CivilDateTime(year: y, month: m, day: d, hour: 1, minute: 2, second: 3).secondsAsIfUTC {
                mismatches += 1
            }
        }
        #expect(mismatches == 0)
    }
}
