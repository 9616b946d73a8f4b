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
    /// The offset the last call left remembered: its probe's result minus its wall time.
    private var lastOffset: Int64 = 0
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
            if lastResult != nil {
                offsetGuess = lastOffset
                tm = lastOutput
            }
            return lastResult
        }
        // Out-of-range fields carry over linearly; L is the requested wall time as if UTC. The
        // seconds are probed clamped to 0…59 (glibc's guard for leap seconds) and the requested
        // ones are added back to the result afterwards.
        let second = min(max(tm.second, 0), 59)
        let wall = calendar.secondsAsIfUTC(year: tm.year, month: tm.month + 1, day: tm.day, hour: tm.hour,
                                           minute: tm.minute, second: second)
        let requestedSecond = tm.second
        lastInput = tm
        lastGuess = offsetGuess
        guard var result = probe(wall: wall, requested: tm.isDST) else {
            lastResult = nil
            lastOutputIsSameWall = false
            return nil
        }
        // The offset remembered is the probe's, before the seconds are added back.
        offsetGuess = result - wall
        lastOffset = offsetGuess
        var type = zone.offsetAndDST(at: result)
        tm = fields(result, type)
        if tm.second != requestedSecond {
            // `02:44:69` is probed as `02:44:59` and then moved 10 s on, which in Pacific/Chatham
            // is across the jump: 03:45:09 daylight time, not 02:45:09.
            result += Int64(requestedSecond - second)
            type = zone.offsetAndDST(at: result)
            tm = fields(result, type)
        }
        lastResult = result
        lastOutput = tm
        // A call with the fields it normalised to has the same result only when it did not have
        // to add seconds back (then both probe the same wall time).
        lastOutputIsSameWall = requestedSecond == second && result + Int64(type.utcOffset) == wall
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
