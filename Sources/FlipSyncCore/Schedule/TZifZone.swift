// MARK: - Direct evaluation of the file

/// A zone as its TZif file states it: the transition table, and the POSIX TZ footer rule for
/// instants from the table's last transition on (as glibc reads it). Every lookup evaluates
/// the table or the rule afresh; `ZonePeriods` precomputes the same answers.
struct TZifZone: Sendable {
    /// Transition instants, ascending, and the type that starts at each.
    let times: [Int64]
    let typeIndices: [UInt8]
    let types: [LocalTimeType]
    /// The type in effect before the first transition (RFC 8536: type 0).
    let initialType: LocalTimeType
    let rule: PosixZoneRule?

    init(times: [Int64], typeIndices: [UInt8], types: [LocalTimeType], rule: PosixZoneRule?) {
        self.times = times
        self.typeIndices = typeIndices
        self.types = types
        self.initialType = types[0]
        self.rule = rule
    }

    func type(at instant: Int64) -> LocalTimeType {
        if let last = times.last, instant >= last, let rule {
            return rule.type(at: instant)
        }
        // Index of the last transition at or before `instant`.
        var low = 0, high = times.count
        while low < high {
            let mid = (low + high) / 2
            if times[mid] <= instant { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? initialType : types[Int(typeIndices[low - 1])]
    }

    func transition(after instant: Int64) -> ZoneTransition? {
        if let last = times.last, instant >= last {
            return rule?.transition(after: instant)
        }
        var low = 0, high = times.count
        while low < high {
            let mid = (low + high) / 2
            if times[mid] <= instant { low = mid + 1 } else { high = mid }
        }
        guard low < times.count else { return rule?.transition(after: instant) }
        let before = low == 0 ? initialType : types[Int(typeIndices[low - 1])]
        let after = types[Int(typeIndices[low])]
        if before == after { return transition(after: times[low]) }
        return ZoneTransition(at: times[low], before: before, after: after)
    }
}
