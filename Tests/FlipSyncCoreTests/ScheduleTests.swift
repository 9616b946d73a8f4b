import Testing
@testable import FlipSyncCore

func at(_ text: String) -> Timestamp {
    guard let t = Timestamp(parsing: text) else { fatalError("bad test time \(text)") }
    return t
}

func zone(_ name: String) -> ZoneRules {
    // Test zones exist in every tzdata; a failure here is a broken machine, not a test result.
    try! ZoneRules.named(name)
}

func upcoming(_ expression: String, _ zoneName: String, from: String, count: Int) throws -> [String] {
    let schedule = try ScheduleExpression(parsing: expression)
    return ScheduleSet([schedule]).upcoming(after: at(from), in: zone(zoneName), count: count).map(\.iso8601UTC)
}

@Suite("Schedules: the daylight-saving rules, written down as examples", .timeLimit(.minutes(2)))
struct DaylightSavingExamples {
    struct Example: CustomTestStringConvertible, Sendable {
        var rule: String
        var expression: String
        var zone: String
        var from: String
        var expected: [String]
        var testDescription: String { rule }
    }

    // New York: 2026-03-08 02:00 EST jumps to 03:00 EDT; 2026-11-01 02:00 EDT falls back to 01:00 EST.
    static let examples: [Example] = [
        Example(rule: "OnCalendar skips a local time that does not exist",
                expression: "*-*-* 02:30", zone: "America/New_York", from: "2026-03-07T12:00:00Z",
                expected: ["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"]),
        Example(rule: "OnCalendar continues after the jump within the same day",
                expression: "*-*-* 02,03:30", zone: "America/New_York", from: "2026-03-08T05:00:00Z",
                expected: ["2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z"]),
        Example(rule: "OnCalendar fires a repeated local time once, at its first occurrence",
                expression: "*-*-* 01:30", zone: "America/New_York", from: "2026-11-01T04:00:00Z",
                expected: ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]),
        Example(rule: "OnCalendar hourly skips the repeated hour",
                expression: "*-*-* *:30", zone: "America/New_York", from: "2026-11-01T04:00:00Z",
                expected: ["2026-11-01T04:30:00Z", "2026-11-01T05:30:00Z", "2026-11-01T07:30:00Z"]),
        Example(rule: "OnCalendar started inside the repeated hour fires its second occurrence",
                expression: "*-*-* *:30", zone: "America/New_York", from: "2026-11-01T06:10:00Z",
                expected: ["2026-11-01T06:30:00Z", "2026-11-01T07:30:00Z"]),
        Example(rule: "cron runs a skipped fixed time right after the jump",
                expression: "30 2 * * *", zone: "America/New_York", from: "2026-03-07T12:00:00Z",
                expected: ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]),
        Example(rule: "cron runs a repeated fixed time once",
                expression: "30 1 * * *", zone: "America/New_York", from: "2026-10-31T12:00:00Z",
                expected: ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]),
        Example(rule: "cron with a wildcard hour follows absolute time through the repeated hour",
                expression: "30 * * * *", zone: "America/New_York", from: "2026-11-01T04:00:00Z",
                expected: ["2026-11-01T04:30:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", "2026-11-01T07:30:00Z"]),
        // Lord Howe: 2026-10-04 02:00 (+10:30) jumps to 02:30 (+11).
        Example(rule: "Lord Howe's half-hour jump skips 02:15 and keeps 02:45",
                expression: "*-*-* 02:15,45", zone: "Australia/Lord_Howe", from: "2026-10-03T12:00:00Z",
                expected: ["2026-10-03T15:45:00Z", "2026-10-04T15:15:00Z", "2026-10-04T15:45:00Z"]),
        // Chatham: 2025-09-28 02:45 (+12:45) jumps to 03:45 (+13:45). From 02:44:52 the next
        // second of 1/17 is 69, which glibc normalises to 03:45:09 daylight time; systemd then
        // restarts that hour from 03:00, which is 02:00 standard time, and lands on 04:05:01.
        Example(rule: "seconds carried into Chatham's jump land where systemd's do (04:05:01, not 03:45:01)",
                expression: "*-*-* *:05..45:1/17 Pacific/Chatham", zone: "UTC", from: "2025-09-27T13:59:52Z",
                expected: ["2025-09-27T14:20:01Z", "2025-09-27T14:20:18Z"]),
        Example(rule: "a leap day fires only in leap years",
                expression: "*-02-29 12:00", zone: "UTC", from: "2026-01-01T00:00:00Z",
                expected: ["2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z"]),
        Example(rule: "~1 is the last day of every month",
                expression: "*-*~01 18:00 UTC", zone: "America/New_York", from: "2026-01-15T00:00:00Z",
                expected: ["2026-01-31T18:00:00Z", "2026-02-28T18:00:00Z", "2026-03-31T18:00:00Z"]),
        Example(rule: "cron's day fields are OR'd unless one starts with *",
                expression: "0 9 13 * FRI", zone: "UTC", from: "2026-11-01T00:00:00Z",
                expected: ["2026-11-06T09:00:00Z", "2026-11-13T09:00:00Z", "2026-11-20T09:00:00Z"]),
        Example(rule: "cron weekday names work in ranges, 7 is Sunday",
                expression: "0 6 * * MON-FRI,7", zone: "UTC", from: "2026-11-27T07:00:00Z",
                expected: ["2026-11-29T06:00:00Z", "2026-11-30T06:00:00Z"]),
        Example(rule: "the zone suffix wins over the job's zone",
                expression: "*-*-* 09:00 Asia/Kolkata", zone: "America/New_York", from: "2026-11-25T00:00:00Z",
                expected: ["2026-11-25T03:30:00Z"]),
    ]

    @Test(arguments: examples)
    func example(_ e: Example) throws {
        #expect(try upcoming(e.expression, e.zone, from: e.from, count: e.expected.count) == e.expected)
    }
}

@Suite("Schedules: parsing", .timeLimit(.minutes(2)))
struct ScheduleParsing {
    @Test(arguments: [
        ("Mon..Fri *-*-* 02:00", "calendar"), ("daily", "calendar"), ("*:0/10", "calendar"),
        ("0 2 * * *", "cron"), ("@daily", "cron"), ("cron:0 2 * * *", "cron"), ("calendar:hourly", "calendar"),
    ])
    func syntaxIsToldApartByShape(_ expression: String, _ syntax: String) throws {
        let parsed = try ScheduleExpression(parsing: expression)
        #expect(parsed.syntaxName == (syntax == "cron" ? "cron" : "OnCalendar"))
    }

    @Test(arguments: [
        ("Mon..Fri 02:00", "Mon..Fri *-*-* 02:00:00"),
        ("weekly", "Mon *-*-* 00:00:00"),
        ("quarterly", "*-01,04,07,10-01 00:00:00"),
        ("*:0/15", "*-*-* *:00/15:00"),
        ("2026-1..3-1", "2026-01..03-01 00:00:00"),
        ("Sat,Sun 10:00 UTC", "Sat,Sun *-*-* 10:00:00 UTC"),
        ("Mon,Tue,Wed 1:2:3", "Mon..Wed *-*-* 01:02:03"),
    ])
    func normalisedFormMatchesSystemd(_ expression: String, _ normalised: String) throws {
        #expect(try CalendarEvent(parsing: expression).description == normalised)
    }

    @Test(arguments: [
        ("Mon..Fry 02:00", "Fry"),
        ("*-13-01", "month 13 is out of range"),
        ("*-*-* 25:00", "hour 25 is out of range"),
        ("*-*-* 02:00:00.5", "fractional seconds"),
        ("02:00 Mars/Olympus_Mons", "unknown time zone \"Mars/Olympus_Mons\""),
        ("0 2 30 2 *", "never fires"),
        ("0 2 * * 8", "8 is out of range 0-7"),
        ("0 2 * * 1L", "not Debian cron syntax"),
        ("*/0 * * * *", "a step of 0"),
        ("@reboot", "@reboot is not a schedule"),
        ("0 2 * *", "5 fields"),
        ("", "empty"),
    ])
    func badExpressionsNameTheBadPart(_ expression: String, _ fragment: String) {
        #expect {
            _ = try ScheduleExpression(parsing: expression)
        } throws: { error in
            "\(error)".contains(fragment)
        }
    }

    @Test("an expression that parses but can never fire has no next time")
    func neverFires() throws {
        let feb30 = try CalendarEvent(parsing: "*-02-30")
        #expect(feb30.next(after: at("2026-01-01T00:00:00Z"), in: .utc) == nil)
        let past = try CalendarEvent(parsing: "2020-01-01")
        #expect(past.next(after: at("2026-01-01T00:00:00Z"), in: .utc) == nil)
    }
}

@Suite("Schedules: properties over random expressions", .timeLimit(.minutes(5)))
struct ScheduleProperties {
    static func randomCalendar(_ rng: inout SplitMix64) -> String {
        func component(_ lo: Int, _ hi: Int) -> String {
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: return "*"
            case 1: return String(Int.random(in: lo...hi, using: &rng))
            case 2:
                let a = Int.random(in: lo...hi, using: &rng)
                return "\(a)..\(Int.random(in: a...hi, using: &rng))"
            case 3: return "\(Int.random(in: lo...min(hi, lo + 3), using: &rng))/\(Int.random(in: 1...max(1, (hi - lo) / 2), using: &rng))"
            case 4: return Set((0..<3).map { _ in Int.random(in: lo...hi, using: &rng) }).sorted().map(String.init).joined(separator: ",")
            default: return String(Int.random(in: lo...hi, using: &rng))
            }
        }
        let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        var text = ""
        if Bool.random(using: &rng) && Bool.random(using: &rng) {
            let a = Int.random(in: 0..<7, using: &rng)
            text += "\(days[a])..\(days[Int.random(in: a..<7, using: &rng)]) "
        }
        text += "*-\(component(1, 12))-\(component(1, 31)) \(component(0, 23)):\(component(0, 59))"
        if Bool.random(using: &rng) { text += ":\(component(0, 59))" }
        return text
    }

    static func randomCron(_ rng: inout SplitMix64) -> String {
        func field(_ lo: Int, _ hi: Int) -> String {
            switch Int.random(in: 0..<5, using: &rng) {
            case 0, 1: return "*"
            case 2: return "*/\(Int.random(in: 1...max(1, (hi - lo) / 2), using: &rng))"
            case 3:
                let a = Int.random(in: lo...hi, using: &rng)
                return "\(a)-\(Int.random(in: a...hi, using: &rng))"
            default: return String(Int.random(in: lo...hi, using: &rng))
            }
        }
        return [field(0, 59), field(0, 23), field(1, 28), field(1, 12), field(0, 6)].joined(separator: " ")
    }

    static let zones = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kolkata"]

    @Test("next() is strictly increasing and every fire time matches the expression")
    func increasingAndMatching() throws {
        var rng = SplitMix64(seed: 42)
        var checked = 0
        for i in 0..<600 {
            let zoneName = Self.zones[i % Self.zones.count]
            let z = zone(zoneName)
            let base = Timestamp(secondsSinceEpoch: Int64.random(in: 1_767_225_600...2_082_758_400, using: &rng))
            if i % 2 == 0 {
                guard let event = try? CalendarEvent(parsing: Self.randomCalendar(&rng)) else { continue }
                var cursor = base
                for _ in 0..<8 {
                    guard let n = event.next(after: cursor, in: z) else { break }
                    #expect(n > cursor, "\(event) in \(zoneName): \(n) is not after \(cursor)")
                    #expect(event.matches(n, in: z), "\(event) in \(zoneName): \(n) does not match")
                    cursor = n
                    checked += 1
                }
            } else {
                guard let cron = try? CronExpression(parsing: Self.randomCron(&rng)) else { continue }
                var cursor = base
                for _ in 0..<8 {
                    guard let n = cron.next(after: cursor, in: z) else { break }
                    #expect(n > cursor, "\(cron) in \(zoneName): \(n) is not after \(cursor)")
                    // A fixed-time job moved past a skipped hour is the one permitted mismatch.
                    let movedPastJump = cron.followsWallClock && z.utcOffset(at: n.secondsSinceEpoch - 3600) != z.utcOffset(at: n.secondsSinceEpoch)
                    #expect(cron.matches(n, in: z) || movedPastJump, "\(cron) in \(zoneName): \(n) does not match")
                    cursor = n
                    checked += 1
                }
            }
        }
        #expect(checked > 2000)
    }

    @Test("in UTC, next() equals a minute-by-minute brute-force search")
    func equalsBruteForceInUTC() throws {
        var rng = SplitMix64(seed: 7)
        var compared = 0
        for i in 0..<600 {
            let base = Timestamp(secondsSinceEpoch: Int64.random(in: 1_767_225_600...2_082_758_400, using: &rng) / 60 * 60)
            let schedule: any Schedule
            let matches: (Timestamp) -> Bool
            if i % 2 == 0 {
                // Seconds fixed at 00 so that a minute-by-minute scan is exhaustive.
                guard let e = try? CalendarEvent(parsing: Self.randomCalendar(&rng).split(separator: ":").prefix(2).joined(separator: ":"))
                else { continue }
                schedule = e
                matches = { e.matches($0, in: .utc) }
            } else {
                guard let c = try? CronExpression(parsing: Self.randomCron(&rng)) else { continue }
                schedule = c
                matches = { c.matches($0, in: .utc) }
            }
            var expected: Timestamp?
            var t = base.adding(seconds: 60)
            for _ in 0..<(3 * 1440) {  // three days of minutes
                if matches(t) { expected = t; break }
                t = t.adding(seconds: 60)
            }
            let got = schedule.next(after: base, in: .utc)
            if let expected {
                #expect(got == expected, "\(schedule) after \(base)")
                compared += 1
            } else if let got {
                #expect(got.secondsSinceEpoch - base.secondsSinceEpoch > 3 * 86_400, "\(schedule): brute force missed \(got)")
            }
        }
        #expect(compared > 100)
    }

    @Test("the normalised form parses back to the same schedule")
    func normalisedFormRoundTrips() throws {
        var rng = SplitMix64(seed: 99)
        for _ in 0..<500 {
            guard let event = try? CalendarEvent(parsing: Self.randomCalendar(&rng)) else { continue }
            let again = try CalendarEvent(parsing: event.description)
            #expect(again == event, "\(event.description)")
        }
    }
}

@Suite("Time zones", .timeLimit(.minutes(2)))
struct ZoneTests {
    @Test("offsets follow the TZif table and the POSIX rule beyond it")
    func offsets() {
        let ny = zone("America/New_York")
        #expect(ny.utcOffset(at: at("2026-07-01T00:00:00Z").secondsSinceEpoch) == -4 * 3600)
        #expect(ny.utcOffset(at: at("2026-12-01T00:00:00Z").secondsSinceEpoch) == -5 * 3600)
        // 2050 is past the 2037 end of the table: the footer rule decides.
        #expect(ny.utcOffset(at: at("2050-07-01T00:00:00Z").secondsSinceEpoch) == -4 * 3600)
        #expect(ny.utcOffset(at: at("2050-03-13T06:59:59Z").secondsSinceEpoch) == -5 * 3600)
        #expect(ny.utcOffset(at: at("2050-03-13T07:00:00Z").secondsSinceEpoch) == -4 * 3600)
        #expect(zone("Asia/Kolkata").utcOffset(at: 0) == 19800)
    }

    @Test("wall times resolve to one, two or no instants")
    func resolution() {
        let ny = zone("America/New_York")
        let skipped = CivilDateTime(year: 2026, month: 3, day: 8, hour: 2, minute: 30).secondsAsIfUTC
        guard case .skipped = ny.resolve(wall: skipped) else { Issue.record("02:30 on 2026-03-08 exists"); return }
        let repeated = CivilDateTime(year: 2026, month: 11, day: 1, hour: 1, minute: 30).secondsAsIfUTC
        guard case .repeated(let first, let second, _, _) = ny.resolve(wall: repeated) else {
            Issue.record("01:30 on 2026-11-01 is not repeated"); return
        }
        #expect(second - first == 3600)
    }

    @Test("names are checked before any file is opened")
    func names() {
        for bad in ["../etc/passwd", "/etc/passwd", "America/../../etc", "", "Not/A_Zone"] {
            #expect(throws: ZoneRulesError.self) { try ZoneRules.named(bad) }
        }
    }
}
