/// The search for a calendar event's next fire time: systemd's `calendar_spec_next_usec` over
/// broken-down local time (see `BrokenDownClock`).
extension CalendarEvent {
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
