/// Local days and calendar months of a zone, as half-open ranges of wall-clock milliseconds.
///
/// A day starts at the first instant whose local date is that day: local midnight, or the end
/// of the gap where a zone's clocks skip midnight. So a day is 23, 24 or 25 hours long across
/// DST changes, and consecutive days tile time with no gap or overlap.
public struct LocalPeriods: Sendable {
    public let zone: ZoneRules

    public init(zone: ZoneRules) { self.zone = zone }

    /// The local date at `milliseconds` since the epoch.
    public func date(atMilliseconds milliseconds: Int64) -> CivilDate {
        zone.localDateTime(at: Timestamp(milliseconds: milliseconds).secondsSinceEpoch).date
    }

    /// The first instant of local `date`, in milliseconds since the epoch.
    public func start(of date: CivilDate) -> Int64 {
        let wall = CivilDateTime(year: date.year, month: date.month, day: date.day).secondsAsIfUTC
        switch zone.resolve(wall: wall) {
        case .unique(let instant): return instant * 1000
        case .repeated(let first, _, _, _): return first * 1000
        case .skipped(let transition): return transition.at * 1000
        }
    }

    /// The local day containing `milliseconds`.
    public func day(containing milliseconds: Int64) -> Range<Int64> {
        let date = date(atMilliseconds: milliseconds)
        return start(of: date)..<start(of: CivilDate(daysSinceEpoch: date.daysSinceEpoch + 1))
    }

    /// The local calendar month containing `milliseconds`.
    public func month(containing milliseconds: Int64) -> Range<Int64> {
        let date = date(atMilliseconds: milliseconds)
        let next = date.month == 12 ? CivilDate(year: date.year + 1, month: 1, day: 1)
                                    : CivilDate(year: date.year, month: date.month + 1, day: 1)
        return start(of: CivilDate(year: date.year, month: date.month, day: 1))..<start(of: next)
    }
}
