#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The time the scheduler lives by: a wall clock that can jump, a monotonic clock that cannot,
/// and a sleep on the monotonic clock. Comparing the two clocks between wake-ups shows clock
/// jumps and suspend/resume (the monotonic clock stops while the machine sleeps).
///
/// Tests drive a `ManualClock` (FlipSyncTestKit); the daemon uses `SystemSchedulerClock`.
public protocol SchedulerClock: Sendable {
    /// Wall-clock time in milliseconds since the epoch (`CLOCK_REALTIME`).
    func wallMilliseconds() -> Int64
    /// Monotonic time in milliseconds (`CLOCK_MONOTONIC`): never jumps, stops during suspend.
    func monotonicMilliseconds() -> Int64
    /// Sleeps for `milliseconds` of monotonic time. Throws `CancellationError` if cancelled.
    func sleep(milliseconds: Int64) async throws
}

extension SchedulerClock {
    public func now() -> Timestamp { Timestamp(milliseconds: wallMilliseconds()) }
}

extension Timestamp {
    /// The whole second containing `milliseconds` since the epoch (rounded down, also before 1970).
    public init(milliseconds: Int64) {
        self.init(secondsSinceEpoch: milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000)
    }
}

/// The machine's clocks.
public struct SystemSchedulerClock: SchedulerClock {
    public init() {}

    public func wallMilliseconds() -> Int64 { Self.read(CLOCK_REALTIME) }
    public func monotonicMilliseconds() -> Int64 { Self.read(CLOCK_MONOTONIC) }

    public func sleep(milliseconds: Int64) async throws {
        try await Task.sleep(for: .milliseconds(max(0, milliseconds)))
    }

    static func read(_ clock: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
