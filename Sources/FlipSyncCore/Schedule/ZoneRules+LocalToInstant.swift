extension ZoneRules {
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
