import FlipSyncCore
import Synchronization

/// A clock tests move by hand. Sleepers wake when monotonic time passes their deadline; the wall
/// clock can also jump on its own (someone sets the time) or run ahead of the monotonic clock
/// (the machine was suspended).
///
/// `waitForSleepers(_:)` lets a test wait until the code under test has gone back to sleep, so
/// tests never sleep for real to wait for a scheduler.
public final class ManualClock: SchedulerClock, Sendable {
    private struct Sleeper {
        var id: Int
        var deadline: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var wall: Int64
        var monotonic: Int64 = 1_000_000
        var nextID = 0
        var sleepers: [Sleeper] = []
        var watchers: [(id: Int, count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state: Mutex<State>

    public init(_ start: Timestamp) {
        state = Mutex(State(wall: start.secondsSinceEpoch * 1000))
    }

    public func wallMilliseconds() -> Int64 { state.withLock { $0.wall } }
    public func monotonicMilliseconds() -> Int64 { state.withLock { $0.monotonic } }
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    public func sleep(milliseconds: Int64) async throws {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (outcome, watchers): (Result<Void, any Error>?, [CheckedContinuation<Void, Never>]) = state.withLock { s in
                    if Task.isCancelled { return (.failure(CancellationError()), []) }
                    let deadline = s.monotonic + max(0, milliseconds)
                    if deadline <= s.monotonic { return (.success(()), []) }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    let ready = s.watchers.filter { s.sleepers.count >= $0.count }.map(\.continuation)
                    s.watchers.removeAll { s.sleepers.count >= $0.count }
                    return (nil, ready)
                }
                if let outcome { continuation.resume(with: outcome) }
                for watcher in watchers { watcher.resume() }
            }
        } onCancel: {
            let cancelled = state.withLock { s -> Sleeper? in
                guard let index = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: index)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves both clocks forward, waking every sleeper whose deadline has come.
    public func advance(byMilliseconds ms: Int64) {
        let due = state.withLock { s -> [Sleeper] in
            s.wall += ms
            s.monotonic += ms
            let due = s.sleepers.filter { $0.deadline <= s.monotonic }
            s.sleepers.removeAll { $0.deadline <= s.monotonic }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    public func advance(bySeconds seconds: Int64) { advance(byMilliseconds: seconds * 1000) }

    /// Moves forward to a wall time (never backwards).
    public func advance(to instant: Timestamp) {
        advance(byMilliseconds: max(0, instant.secondsSinceEpoch * 1000 - wallMilliseconds()))
    }

    /// The wall clock jumps (someone set the time); the monotonic clock does not move.
    public func jumpWall(byMilliseconds ms: Int64) {
        state.withLock { $0.wall += ms }
    }

    /// The machine sleeps: wall time passes, monotonic time (and so every sleeper) does not.
    public func suspend(forMilliseconds ms: Int64) {
        jumpWall(byMilliseconds: ms)
    }

    /// Returns once at least `count` tasks are asleep on this clock.
    public func waitForSleepers(_ count: Int = 1) async {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        // Cancellable, so a test whose code never sleeps fails at its time limit instead of
        // waiting here for ever.
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if s.sleepers.count >= count || Task.isCancelled { return true }
                    s.watchers.append((id, count, continuation))
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let cancelled = state.withLock { s -> CheckedContinuation<Void, Never>? in
                guard let index = s.watchers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.watchers.remove(at: index).continuation
            }
            cancelled?.resume()
        }
    }

    /// When the earliest sleeper wakes, in wall-clock milliseconds (what the code under test waits for).
    public var nextWakeWallMilliseconds: Int64? {
        state.withLock { s in s.sleepers.map(\.deadline).min().map { s.wall + ($0 - s.monotonic) } }
    }
}
