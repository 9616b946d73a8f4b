#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix
import Synchronization

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
///
/// `sleep` waits on a SwiftNIO event loop's timer (`EventLoopTimer`), not `Task.sleep`: on Linux
/// a pending `Task.sleep` makes libdispatch wake the process about once a second however far
/// away its deadline is (it re-arms its timer 1 s ahead), while an event loop waits in
/// `epoll_wait` on a `timerfd` set to the earliest deadline, so an idle daemon wakes only when
/// something is due.
public struct SystemSchedulerClock: SchedulerClock {
    public init() {}

    public func wallMilliseconds() -> Int64 { Self.read(CLOCK_REALTIME) }
    public func monotonicMilliseconds() -> Int64 { Self.read(CLOCK_MONOTONIC) }

    public func sleep(milliseconds: Int64) async throws {
        try await EventLoopTimer.sleep(milliseconds: milliseconds)
    }

    static func read(_ clock: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// Sleeps on an event loop of SwiftNIO's process-wide group (`MultiThreadedEventLoopGroup.singleton`,
/// shared with the HTTP client): the loop's `timerfd` is armed for the earliest pending deadline
/// and nothing else, so a sleep costs one wake-up when it is due and none before. Cancelling the
/// sleeping task cancels its scheduled task and throws `CancellationError` at once.
public enum EventLoopTimer {
    /// Longer sleeps are cut to this (about 10 years), so the nanoseconds of a deadline never overflow.
    public static let longestMilliseconds: Int64 = 315_360_000_000

    /// Sleeps `milliseconds` of monotonic time (NIO's deadlines are `CLOCK_MONOTONIC`). Throws
    /// `CancellationError` if the task is cancelled before or while sleeping; a zero or negative
    /// duration returns at once (after the cancellation check).
    public static func sleep(milliseconds: Int64,
                             on loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()) async throws {
        try Task.checkCancellation()
        guard milliseconds > 0 else { return }
        let sleeper = Sleeper()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                sleeper.start(continuation, on: loop, after: .milliseconds(min(milliseconds, longestMilliseconds)))
            }
        } onCancel: {
            sleeper.cancel()
        }
    }

    /// One sleep's state. A cancel can land before the continuation exists (`cancelled`), after
    /// it but before the scheduled task's handle is stored (the handle is then cancelled as soon
    /// as it is), or while the timer is armed; a timer that fires after a cancel finds `done`.
    private final class Sleeper: Sendable {
        private enum State {
            case idle
            case waiting(CheckedContinuation<Void, any Error>, Scheduled<Void>?)
            case cancelled
            case done
        }

        private let state = Mutex(State.idle)

        func start(_ continuation: CheckedContinuation<Void, any Error>, on loop: any EventLoop, after delay: TimeAmount) {
            let proceed = state.withLock { s -> Bool in
                if case .cancelled = s { return false }
                s = .waiting(continuation, nil)
                return true
            }
            guard proceed else {
                continuation.resume(throwing: CancellationError())
                return
            }
            let scheduled = loop.scheduleTask(in: delay) { self.fire() }
            let stale = state.withLock { s -> Bool in
                guard case .waiting(let continuation, nil) = s else { return true }
                s = .waiting(continuation, scheduled)
                return false
            }
            if stale { scheduled.cancel() }
        }

        private func fire() {
            let continuation = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard case .waiting(let continuation, _) = s else { return nil }
                s = .done
                return continuation
            }
            continuation?.resume()
        }

        func cancel() {
            let found = state.withLock { s -> (CheckedContinuation<Void, any Error>, Scheduled<Void>?)? in
                switch s {
                case .idle:
                    s = .cancelled
                    return nil
                case .waiting(let continuation, let scheduled):
                    s = .done
                    return (continuation, scheduled)
                case .cancelled, .done:
                    return nil
                }
            }
            guard let (continuation, scheduled) = found else { return }
            scheduled?.cancel()
            continuation.resume(throwing: CancellationError())
        }
    }
}
