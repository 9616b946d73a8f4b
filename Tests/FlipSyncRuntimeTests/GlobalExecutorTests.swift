import FlipSyncRuntime
import Foundation
import NIOCore
import NIOPosix
import Testing

/// flipsyncd's global executor (`GlobalExecutor`), in a process of its own (an exit test): the
/// hook is process-wide, and the other tests run on Swift's own pool.
@Suite("The global executor: SwiftNIO's event loops, jobs on the generic executor", .timeLimit(.minutes(2)))
struct GlobalExecutorTests {
    @Test("a task resumed from the event loop enters a free actor and comes back on the same job: 1,000 rounds take about 1,000 jobs, not 2,000 as when each job ran as the loop's serial executor")
    func actorCallsRunInline() async {
        // The exit status says what failed: 3 the hook not set, 4 a round not counted, 5 a
        // round resumed off the loop, 6 too few jobs (the count broken), 7 too many.
        await #expect(processExitsWith: .success) {
            EventLoops.useOneUnlessConfigured()
            guard GlobalExecutor.installed else { exit(3) }
            let (rounds, jobs, onLoop) = await Task.detached { await Probe.run(rounds: 1_000) }.value
            guard rounds == 1_000 else { exit(4) }
            guard onLoop else { exit(5) }
            guard jobs >= 1_000 else { exit(6) }
            // One job a round (the resumption) and a few to start. Were the resumed job unable to
            // give its thread to the actor, each round would take a second job (2,000).
            exit(jobs < 1_300 ? 0 : 7)
        }
    }

    @Test("with the hook set, a task started afterwards runs on an event loop of SwiftNIO's singleton group")
    func tasksRunOnTheLoops() async {
        await #expect(processExitsWith: .success) {
            guard GlobalExecutor.installed else { exit(1) }
            let onLoop = await Task.detached { MultiThreadedEventLoopGroup.currentEventLoop != nil }.value
            exit(onLoop ? 0 : 2)
        }
    }
}

private enum Probe {
    actor Tally {
        var count = 0
        func add() -> Int {
            count += 1
            return count
        }
    }

    /// `rounds` times: suspend until the event loop resumes the task, then call a free actor.
    static func run(rounds: Int) async -> (rounds: Int, jobs: Int, onLoop: Bool) {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let tally = Tally()
        var onLoop = true
        let start = GlobalExecutor.jobs.load(ordering: .relaxed)
        var last = 0
        for _ in 0..<rounds {
            await withCheckedContinuation { (resumed: CheckedContinuation<Void, Never>) in loop.execute { resumed.resume() } }
            onLoop = onLoop && loop.inEventLoop
            last = await tally.add()
        }
        return (last, GlobalExecutor.jobs.load(ordering: .relaxed) - start, onLoop)
    }
}
