import FlipSyncCore
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

/// The system clock's sleep: an event loop's timer, cancellable, never early.
@Suite("System clock sleep on an event loop timer", .timeLimit(.minutes(1)))
struct EventLoopTimerTests {
    @Test("a sleep on a virtual-time loop ends when its deadline is reached, not a minute before")
    func wakesAtItsDeadline() async throws {
        let loop = NIOAsyncTestingEventLoop()
        defer { Task { await loop.shutdownGracefully() } }
        let finished = SleepDone()
        let sleeper = Task {
            try await EventLoopTimer.sleep(milliseconds: 3_600_000, on: loop)
            finished.set()
        }
        // Minute by minute of virtual time. The sleep is armed once the task reaches it, which may be
        // after the first advances (then it ends later), never before: it cannot end before 60.
        var minutes = 0
        while !finished.isSet && minutes < 10_000 {
            await loop.advanceTime(by: .minutes(1))
            minutes += 1
            for _ in 0..<20 { await Task.yield() }
        }
        try await sleeper.value
        #expect(finished.isSet)
        #expect(minutes >= 60, "woke after \(minutes) virtual minutes of a 60-minute sleep")
    }

    @Test("a real 5 ms sleep lasts at least 5 ms of monotonic time")
    func realShortSleep() async throws {
        let clock = SystemSchedulerClock()
        let started = ContinuousClock.now
        let before = clock.monotonicMilliseconds()
        try await clock.sleep(milliseconds: 5)
        #expect(ContinuousClock.now - started >= .milliseconds(5))
        #expect(clock.monotonicMilliseconds() - before >= 5)
        try await clock.sleep(milliseconds: 0)  // returns at once
        try await clock.sleep(milliseconds: -3)
    }

    @Test("cancelling an hour-long sleep at any moment ends it at once with CancellationError")
    func cancellable() async throws {
        let clock = SystemSchedulerClock()
        let started = ContinuousClock.now
        var cancelled = 0
        for round in 0..<200 {
            let sleeper = Task { try await clock.sleep(milliseconds: 3_600_000) }
            // Before the sleep starts, while it arms its timer, or once it is armed.
            for _ in 0..<(round % 10) { await Task.yield() }
            sleeper.cancel()
            do {
                try await sleeper.value
                Issue.record("round \(round): an hour-long sleep returned normally")
            } catch is CancellationError {
                cancelled += 1
            }
        }
        #expect(cancelled == 200)
        #expect(ContinuousClock.now - started < .seconds(30), "200 cancelled sleeps took \(ContinuousClock.now - started)")
        // A task cancelled before it sleeps does not sleep at all.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await clock.sleep(milliseconds: 3_600_000)
        }
        await #expect(throws: CancellationError.self) { try await early.value }
    }
}

/// A flag set from another task.
private final class SleepDone: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var isSet: Bool { state.withLock { $0 } }
}
