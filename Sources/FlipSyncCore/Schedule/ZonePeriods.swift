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
