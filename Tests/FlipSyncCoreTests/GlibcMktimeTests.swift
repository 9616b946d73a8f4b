import Foundation
import Testing
@testable import FlipSyncCore

/// `BrokenDownClock.mktime` against glibc's own `mktime`, call by call. systemd's OnCalendar
/// search is made of `mktime` calls, so any difference here is a fire time that differs from
/// systemd's. glibc is reached through `python3`'s `time.mktime` (a thin wrapper over it) in a
/// child process with `TZ` set, so this test process's own zone and glibc's remembered offset
/// are left alone. Both sides get the same calls in the same order, since glibc's result for a
/// repeated or skipped local time depends on the offset its previous call left behind.
@Suite("mktime against glibc", .timeLimit(.minutes(2)))
struct GlibcMktimeTests {
    /// Zones with every kind of jump: an hour (New York, Berlin), 30 minutes (Lord Howe), a jump
    /// that straddles the hour (Chatham's 02:45 → 03:45), negative DST (Dublin), two hours (Troll).
    static let zones = ["America/New_York", "Pacific/Chatham", "Australia/Lord_Howe", "Europe/Berlin",
                        "Europe/Dublin", "Antarctica/Troll"]

    /// Reads `year month day hour minute second isdst` lines (month 0-based, as in C) and prints
    /// glibc's result for each, `t isdst` with the normalised fields, or `err`.
    static let glibc = """
        import sys, time
        out = []
        for line in sys.stdin.read().split("\\n"):
            if not line:
                continue
            y, mo, d, h, mi, s, dst = map(int, line.split())
            try:
                t = int(time.mktime((y, mo + 1, d, h, mi, s, 0, 0, dst)))
                lt = time.localtime(t)
                out.append("%d %d %d %d %d %d %d %d" % (t, lt.tm_isdst, lt.tm_year, lt.tm_mon - 1, lt.tm_mday,
                                                      lt.tm_hour, lt.tm_min, lt.tm_sec))
            except (OverflowError, ValueError):
                out.append("err")
        print("\\n".join(out))
        """

    /// glibc's answers to `calls` in zone `name`, in order, from one process.
    static func glibcAnswers(_ calls: [BrokenDownTime], zone name: String) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", glibc]
        process.environment = ["TZ": name, "LC_ALL": "C", "PATH": "/usr/bin:/bin"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let lines = calls.map { "\($0.year) \($0.month) \($0.day) \($0.hour) \($0.minute) \($0.second) \($0.isDST)" }
        // Python reads all of its input before it writes anything, so writing first cannot block.
        input.fileHandleForWriting.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python3 failed")
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// A search's kind of calls: mostly near a jump, with fields out of range on either side
    /// (seconds past 59 included, as `*:*:1/17` gives 69), the DST flag unknown or carried.
    static func calls(count: Int, seed: UInt64, zone: ZoneRules) -> [BrokenDownTime] {
        var rng = SplitMix64(seed: seed)
        // Each zone's transitions of 2026, 2027 and one past its table (POSIX rule), as wall times.
        var clock = BrokenDownClock(zone: zone)
        var anchors: [BrokenDownTime] = []
        var cursor = Timestamp(parsing: "2026-01-01T00:00:00Z")!.secondsSinceEpoch
        for _ in 0..<4 {
            guard let next = zone.transition(after: cursor) else { break }
            anchors.append(clock.localtime(next.at))
            cursor = next.at
        }
        cursor = Timestamp(parsing: "2051-01-01T00:00:00Z")!.secondsSinceEpoch
        for _ in 0..<2 {
            guard let next = zone.transition(after: cursor) else { break }
            anchors.append(clock.localtime(next.at))
            cursor = next.at
        }
        if anchors.isEmpty { anchors.append(clock.localtime(cursor)) }
        var tm = anchors[0]
        var result: [BrokenDownTime] = []
        for _ in 0..<count {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0, 1:
                tm = anchors.randomElement(using: &rng)!
                tm.hour += Int.random(in: -2...2, using: &rng)
            case 2: tm.minute = Int.random(in: -1...61, using: &rng)
            case 3: tm.second = Int.random(in: -5...75, using: &rng)
            case 4: tm.hour = Int.random(in: 0...25, using: &rng)
            case 5: tm.isDST = Int.random(in: -1...1, using: &rng)
            case 6: tm.day += Int.random(in: -1...1, using: &rng)
            default: break
            }
            tm.isDST = Int.random(in: 0..<3, using: &rng) == 0 ? tm.isDST : -1
            result.append(tm)
            // Half the time carry the normalised result on, as the search does.
            if Bool.random(using: &rng) {
                var t = tm
                if clock.mktime(&t) != nil { tm = t }
            }
        }
        return result
    }

    @Test("every call gives glibc's instant, DST flag and fields, including seconds past 59 across a jump",
          arguments: zones)
    func sameAsGlibc(_ name: String) throws {
        let zone = zone(name)
        let calls = Self.calls(count: 4000, seed: 0xC0FFEE ^ UInt64(name.utf8.count), zone: zone)
        let answers = try Self.glibcAnswers(calls, zone: name)
        try #require(answers.count == calls.count)
        var ours = BrokenDownClock(zone: zone)
        var mismatches: [String] = []
        var acrossAJump = 0
        var calendar = CivilDayCache()
        func wall(_ t: BrokenDownTime) -> Int64 {
            calendar.secondsAsIfUTC(year: t.year, month: t.month + 1, day: t.day, hour: t.hour, minute: t.minute, second: t.second)
        }
        for (call, expected) in zip(calls, answers) {
            var tm = call
            let got: String
            if let t = ours.mktime(&tm) {
                got = "\(t) \(tm.isDST) \(tm.year) \(tm.month) \(tm.day) \(tm.hour) \(tm.minute) \(tm.second)"
                if call.second > 59, wall(tm) != wall(call) { acrossAJump += 1 }
            } else {
                got = "err"
            }
            if got != expected { mismatches.append("\(call) → ours \(got), glibc \(expected)") }
        }
        #expect(mismatches.isEmpty, "\(name): \(mismatches.count) of \(calls.count) differ; first: \(mismatches.prefix(3))")
        // The calls do reach the case that broke: seconds carried into a minute inside a jump.
        if name == "Pacific/Chatham" { #expect(acrossAJump > 0) }
    }
}
