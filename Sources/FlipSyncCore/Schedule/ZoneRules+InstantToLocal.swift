extension ZoneRules {
    // MARK: - Instant → local

    /// The local time type in effect at `instant`.
    public func type(at instant: Int64) -> LocalTimeType {
        instant < periods.end ? periods.types[periods.index(containing: instant)] : source.type(at: instant)
    }

    public func utcOffset(at instant: Int64) -> Int { type(at: instant).utcOffset }

    /// The wall-clock fields shown at `instant`.
    public func localDateTime(at instant: Int64) -> CivilDateTime {
        CivilDateTime(utcSeconds: instant + Int64(utcOffset(at: instant)))
    }

    /// The first transition strictly after `instant`, if any.
    public func transition(after instant: Int64) -> ZoneTransition? {
        instant < periods.end ? periods.transition(afterPeriod: periods.index(containing: instant))
                              : source.transition(after: instant)
    }
}
