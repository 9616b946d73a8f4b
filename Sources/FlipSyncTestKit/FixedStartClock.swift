import FlipSyncCore

/// Real time from a fixed instant: the wall clock reads `start` when the clock is made and runs
/// on with the machine's monotonic clock; monotonic time and sleeps are the machine's. For end
/// to end tests whose outcome depends on the calendar (business days, weekends, a carrier's
/// promise), so they give the same answer whatever day they run, with everything else real.
public struct FixedStartClock: SchedulerClock {
    private let machine = SystemSchedulerClock()
    private let offset: Int64

    public init(_ start: Timestamp) {
        offset = start.secondsSinceEpoch * 1000 - machine.monotonicMilliseconds()
    }

    public func wallMilliseconds() -> Int64 { machine.monotonicMilliseconds() + offset }
    public func monotonicMilliseconds() -> Int64 { machine.monotonicMilliseconds() }
    public func sleep(milliseconds: Int64) async throws { try await machine.sleep(milliseconds: milliseconds) }
}
