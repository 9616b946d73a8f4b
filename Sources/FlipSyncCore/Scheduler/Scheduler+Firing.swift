import Logging

extension Scheduler {
    // MARK: - Firing

    /// Every due fire of every job, recorded in one ledger transaction: a thousand jobs due in
    /// the same second cost one commit, not two thousand. If the transaction cannot begin (the
    /// ledger is locked past its busy timeout) nothing is fired and the fires wait for the next
    /// turn of the loop, which pings the watchdog first; if it cannot commit, the scheduler's
    /// own state goes back to what the ledger holds, so the same fires are tried again (each is
    /// recorded at most once, by its unique key).
    ///
    /// With a gate (several nodes), the due fires are first claimed cluster-wide: only those
    /// this node claimed are handled (run, caught up or skipped, as above); fires another node
    /// claimed are passed over; a node without the scheduler lease fires nothing and follows
    /// the cluster's latest fires instead.
    func fireDue() async {
        let now = clock.now().secondsSinceEpoch
        guard nextDue.values.contains(where: { $0 <= now }) else { return }
        var claimed: Set<FireKey>?
        if let gate {
            refreshPauses()
            do {
                if standby { try await followCluster(gate, now: now) }
                let candidates = catalog.jobs.flatMap { job in dueFires(of: job, now: now).map { FireKey(job: job.name, scheduledAt: $0) } }
                guard !candidates.isEmpty else { return }
                guard let mine = try await gate.claim(candidates) else {
                    if !standby {
                        logger.notice("standing by: this node no longer holds the scheduler lease", metadata: ["event": "scheduler-standby"])
                    }
                    standby = true
                    return
                }
                if standby {
                    logger.notice("this node fires the schedules now (it holds the scheduler lease)", metadata: ["event": "scheduler-leader"])
                }
                standby = false
                claimed = mine
            } catch {
                logger.error("cannot reach the cluster database; the fires due now wait: \(error)", metadata: ["event": "fires-deferred"])
                standby = true
                return
            }
        }
        let saved = (nextDue, states, running, queued, startQueue)
        var ran = false
        do {
            try ledger.batch {
                ran = true
                fireDueJobs(now: now, claimed: claimed)
            }
        } catch {
            if ran { (nextDue, states, running, queued, startQueue) = saved }
            logger.error("cannot record the fires due now; they wait for the next turn: \(error)", metadata: ["event": "fires-deferred"])
        }
    }

    /// Several nodes (with a gate) may share one ledger (PostgreSQL): a job paused or resumed
    /// through another node is in the ledger, not in this node's memory. Before it fires, this
    /// node takes the stored pause flags, so it obeys them. (Its saves never write an existing
    /// row's flag: only `setPaused` does. On a node's own SQLite ledger the flags read are its own.)
    private func refreshPauses() {
        let stored: [String: ScheduleState]
        do {
            stored = try ledger.scheduleStates()
        } catch {
            logger.error("cannot read the jobs' pause flags; firing with the ones this node knows: \(error)")
            return
        }
        for (name, state) in stored where states[name] != nil && states[name]?.paused != state.paused {
            states[name]?.paused = state.paused
            logger.notice("\(name) \(state.paused ? "paused" : "resumed") through another node", metadata: ["job": "\(name)"])
        }
    }

    /// Every fire time of `job` up to now, a bounded batch at a time.
    private func dueFires(of job: JobDefinition, now: Int64) -> [Int64] {
        guard job.enabled, var due = nextDue[job.name], due <= now else { return [] }
        var fires: [Int64] = [due]
        while fires.count < 1000, let next = job.nextFire(after: Timestamp(secondsSinceEpoch: due)), next.secondsSinceEpoch <= now {
            due = next.secondsSinceEpoch
            fires.append(due)
        }
        return fires
    }

    /// Standing by: moves each job on to the latest fire any node claimed, so that when this
    /// node takes over it goes on from there (the fires after it, missed while no node held the
    /// lease, are then claimed and handled by `catch_up`).
    private func followCluster(_ gate: any FireGate, now: Int64) async throws {
        let latest = try await gate.lastFires(jobs: catalog.jobs.map(\.name))
        for job in catalog.jobs {
            guard let last = latest[job.name], var state = states[job.name], last > (state.lastScheduledAt ?? .min) else { continue }
            state.lastScheduledAt = last
            let next = job.enabled ? job.nextFire(after: Timestamp(secondsSinceEpoch: last)) : nil
            nextDue[job.name] = next?.secondsSinceEpoch
            state.nextDueAt = next?.secondsSinceEpoch
            save(state)
        }
    }

    private func fireDueJobs(now: Int64, claimed: Set<FireKey>?) {
        for job in catalog.jobs {
            var fires = dueFires(of: job, now: now)
            guard let last = fires.last else { continue }
            if let claimed { fires = fires.filter { claimed.contains(FireKey(job: job.name, scheduledAt: $0)) } }
            if !fires.isEmpty { handle(fires, of: job, now: now) }
            var state = states[job.name] ?? ScheduleState(job: job.name)
            state.lastScheduledAt = last
            let next = job.nextFire(after: Timestamp(secondsSinceEpoch: last))
            nextDue[job.name] = next?.secondsSinceEpoch
            state.nextDueAt = next?.secondsSinceEpoch
            save(state)
        }
    }

    func handle(_ fires: [Int64], of job: JobDefinition, now: Int64) {
        let paused = states[job.name]?.paused ?? false
        // Fires less than the tolerance late are on time and run (each by the overlap policy),
        // however many there are: a scheduler a few seconds behind misses nothing.
        let onTime = fires.filter { now - $0 < Self.onTimeTolerance }
        let missed = fires.filter { now - $0 >= Self.onTimeTolerance }
        let window = job.catchUpWindow.seconds
        var catchUps: [Int64] = []
        if !paused {
            switch job.catchUp {
            case .skip: break
            case .latest:
                if onTime.isEmpty, let latest = missed.last, now - latest <= window { catchUps = [latest] }
            case .all:
                catchUps = missed.filter { now - $0 <= window }
            }
        }
        if !missed.isEmpty {
            logger.warning("\(missed.count) fires of \(job.name) were missed (\(Timestamp(secondsSinceEpoch: missed[0])) to \(Timestamp(secondsSinceEpoch: missed.last!))); catch_up = \(job.catchUp.rawValue) runs \(catchUps.count)",
                           metadata: ["job": "\(job.name)", "event": "run-missed"])
        }
        for fire in missed where !catchUps.contains(fire) {
            skip(job, at: fire, reason: paused ? .paused : .missed, note: paused ? "job paused" : "missed (daemon down, suspend or clock jump)")
        }
        for fire in catchUps { request(job, trigger: .catchUp, scheduledAt: fire, requestedBy: nil, persistState: false) }
        for fire in onTime {
            if paused {
                skip(job, at: fire, reason: .paused, note: "job paused")
            } else {
                request(job, trigger: .schedule, scheduledAt: fire, requestedBy: nil, persistState: false)
            }
        }
    }

    func skip(_ job: JobDefinition, at fire: Int64, reason: SkipReason, note: String) {
        do {
            guard try ledger.recordFire(job: job.name, kind: job.kind.rawValue, trigger: .schedule, requestedBy: nil,
                                        scheduledAt: fire, status: .skipped, skipReason: reason, summary: note,
                                        at: clock.wallMilliseconds(), resumes: nil) != nil else { return }
        } catch {
            logger.error("cannot record skipped fire of \(job.name): \(error)")
            return
        }
        if reason != .missed {
            logger.notice("skipped \(job.name) at \(Timestamp(secondsSinceEpoch: fire)): \(note)",
                          metadata: ["job": "\(job.name)", "event": "run-skipped"])
        }
        eventSink.yield(.skipped(job: job.name, scheduledAt: fire, reason: reason))
    }

    /// A run is wanted now: start it, queue it, skip it or replace the running one, as the job's
    /// `overlap` says. Returns the new run, or nil if the fire was skipped or already recorded.
    @discardableResult
    /// `persistState: false` when the caller saves the job's schedule state itself (`fireDue`
    /// does, once per job per tick), to spare the ledger a write per fire.
    func request(_ job: JobDefinition, trigger: RunTrigger, scheduledAt: Int64?, requestedBy: UInt32?,
                         resumes: Int64? = nil, persistState: Bool = true) -> RunInfo? {
        if let current = running[job.name] {
            switch job.overlap {
            case .skip:
                if let scheduledAt {
                    skip(job, at: scheduledAt, reason: .overlap, note: "run \(current.runID) still running")
                }
                return nil
            case .queue:
                // At most one waits — more for catch-up of every missed fire.
                if (queued[job.name]?.isEmpty ?? true) || trigger == .catchUp {
                    break
                }
                if let scheduledAt {
                    skip(job, at: scheduledAt, reason: .overlap, note: "a run is already queued behind run \(current.runID)")
                }
                return nil
            case .replace:
                logger.notice("cancelling run \(current.runID) of \(job.name): a new run replaces it",
                              metadata: ["job": "\(job.name)", "run": "\(current.runID)"])
                if let handle = current.handle {
                    handle.cancel()
                } else if let index = startQueue.firstIndex(where: { $0.0.id == current.runID }) {
                    // Not started yet: it never will be.
                    startQueue.remove(at: index)
                    try? ledger.finishRun(runID: current.runID, status: .cancelled, summary: nil, error: "replaced by a newer run",
                                          spendMicros: 0, at: clock.wallMilliseconds())
                }
            }
        }
        let run: RunInfo
        do {
            guard let recorded = try ledger.recordFire(job: job.name, kind: job.kind.rawValue, trigger: trigger,
                                                       requestedBy: requestedBy, scheduledAt: scheduledAt, status: .queued,
                                                       skipReason: nil, summary: nil, at: clock.wallMilliseconds(),
                                                       resumes: resumes) else { return nil }
            run = recorded
        } catch {
            logger.error("cannot record a run of \(job.name): \(error)")
            return nil
        }
        if running[job.name] != nil && job.overlap != .replace {
            queued[job.name, default: []].append(run)
        } else {
            startQueue.append((run, job))
            running[job.name] = (run.id, nil)
        }
        var state = states[job.name] ?? ScheduleState(job: job.name)
        state.lastRunID = run.id
        if persistState { save(state) } else { states[job.name] = state }
        return run
    }

    func start(_ run: RunInfo, _ job: JobDefinition, in group: inout DiscardingTaskGroup) {
        let handle = Task { [executor] in await executor.execute(run: run, job: job) }
        running[job.name] = (run.id, handle)
        eventSink.yield(.started(runID: run.id, job: job.name, trigger: run.trigger, scheduledAt: run.scheduledAt))
        group.addTask {
            let status = await withTaskCancellationHandler {
                await handle.value
            } onCancel: {
                handle.cancel()
            }
            await self.finished(run, job: job, status: status)
        }
    }

    func finished(_ run: RunInfo, job: JobDefinition, status: RunStatus) {
        if running[job.name]?.runID == run.id { running[job.name] = nil }
        eventSink.yield(.finished(runID: run.id, job: job.name, status: status))
        for waiter in waiters.removeValue(forKey: run.id) ?? [] { waiter.continuation.resume(returning: status) }
        if !stopping, var waiting = queued[job.name], !waiting.isEmpty {
            let next = waiting.removeFirst()
            queued[job.name] = waiting
            startQueue.append((next, catalog[job.name] ?? job))
            running[job.name] = (next.id, nil)
        }
        // The loop publishes the status line once it wakes (one line for all the runs that
        // finished meanwhile, not a scan of every job and a notify per run).
        wake()
    }

    func drainRuns(within drain: TimeSpan) async {
        // Recorded but not started, or queued behind another run: they will not start now.
        for (run, job) in startQueue {
            try? ledger.finishRun(runID: run.id, status: .cancelled, summary: nil, error: "daemon stopping",
                                  spendMicros: 0, at: clock.wallMilliseconds())
            if running[job.name]?.runID == run.id { running[job.name] = nil }
        }
        startQueue.removeAll()
        for (_, runs) in queued {
            for run in runs {
                try? ledger.finishRun(runID: run.id, status: .cancelled, summary: nil, error: "daemon stopping",
                                      spendMicros: 0, at: clock.wallMilliseconds())
            }
        }
        queued.removeAll()
        let deadline = clock.monotonicMilliseconds() + drain.milliseconds
        while !running.isEmpty && !Task.isCancelled {
            let left = deadline - clock.monotonicMilliseconds()
            if left <= 0 { break }
            logger.info("waiting up to \(left / 1000)s for \(running.count) running runs", metadata: ["event": "draining"])
            let task = Task { [clock] in try await clock.sleep(milliseconds: left) }
            sleeper = task
            _ = try? await task.value
            sleeper = nil
        }
        for (job, current) in running {
            logger.warning("cancelling run \(current.runID) of \(job): drain time is over", metadata: ["job": "\(job)"])
            current.handle?.cancel()
        }
    }
}
