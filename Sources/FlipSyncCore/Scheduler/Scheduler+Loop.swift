import Logging

extension Scheduler {
    // MARK: - The loop

    /// Schedules until `stop` is called (or the task is cancelled), then drains.
    public func run(drain: TimeSpan = .seconds(30)) async {
        await withDiscardingTaskGroup { group in
            loadState()
            while !stopping && !Task.isCancelled {
                noticeClockJumps()
                await fireDue()
                for (run, job) in startQueue { start(run, job, in: &group) }
                startQueue.removeAll()
                onAlive()
                publishStatus()
                await sleepUntilDue()
            }
            await drainRuns(within: drain)
            eventSink.finish()
        }
    }

    /// Ends scheduling; `run` drains and returns.
    public func stop() {
        stopping = true
        wake()
    }

    /// The node gained (or lost) the scheduler lease: look at the due fires now rather than
    /// after the standby wait.
    public func leadershipChanged() {
        wake()
    }

    /// Whether this scheduler fires (true without a gate) or stands by for another node.
    public var isFiring: Bool { gate == nil || !standby }

    func wake() {
        if let sleeper {
            sleeper.cancel()
        } else {
            wakePending = true
        }
    }

    private func sleepUntilDue() async {
        if wakePending {
            wakePending = false
            return
        }
        let nowMs = clock.wallMilliseconds()
        var delay: Int64 = 86_400_000  // nothing due: a day, unless the watchdog needs us sooner
        if let soonest = nextDue.values.min() { delay = max(0, soonest * 1000 - nowMs) }
        // Standing by, a due fire is another node's to make: ask again after the standby wait.
        if let gate, standby { delay = max(delay, gate.standbyRetryMilliseconds) }
        if let watchdogInterval { delay = min(delay, watchdogInterval.milliseconds) }
        eventSink.yield(.idle)
        let task = Task { [clock] in try await clock.sleep(milliseconds: delay) }
        sleeper = task
        await withTaskCancellationHandler {
            _ = try? await task.value
        } onCancel: {
            task.cancel()
        }
        sleeper = nil
    }

    /// Wall time moved differently from monotonic time: someone set the clock, or the machine was
    /// suspended. Fires that passed are then handled as missed; nothing fires twice either way.
    private func noticeClockJumps() {
        let wall = clock.wallMilliseconds(), monotonic = clock.monotonicMilliseconds()
        defer { (lastWall, lastMonotonic) = (wall, monotonic) }
        guard lastMonotonic != 0 else { return }
        let drift = (wall - lastWall) - (monotonic - lastMonotonic)
        if abs(drift) >= 2000 {
            logger.warning("wall clock moved \(drift / 1000)s against the monotonic clock (clock change or suspend); rescheduling",
                           metadata: ["event": "clock-jump"])
            eventSink.yield(.clockJumped(milliseconds: drift))
        }
    }
}
