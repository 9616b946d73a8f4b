import Logging

extension Scheduler {
    // MARK: - Control

    /// Starts a run now (recorded as manual, with the caller's uid).
    public func trigger(job name: String, requestedBy uid: UInt32?) throws(RequestError) -> RunInfo {
        guard !stopping else { throw .stopping }
        guard let job = catalog[name] else { throw .unknownJob(name) }
        if let current = running[name], job.overlap == .skip { throw .alreadyRunning(job: name, runID: current.runID) }
        guard let run = request(job, trigger: .manual, scheduledAt: nil, requestedBy: uid) else {
            throw .ledger("could not record the run (see the journal)")
        }
        wake()
        return run
    }

    /// Resumes an interrupted run: a new run that skips the tasks that already succeeded.
    public func resume(interrupted run: RunInfo) {
        guard let job = catalog[run.job], job.resumeInterrupted else { return }
        logger.info("resuming interrupted run \(run.id) of \(job.name)", metadata: ["job": "\(job.name)"])
        request(job, trigger: run.trigger, scheduledAt: nil, requestedBy: run.requestedBy, resumes: run.id)
        wake()
    }

    /// Waits for a run to end and returns its status.
    /// Returns `nil` if the waiting task is cancelled first (the run goes on).
    public func waitForRun(_ runID: Int64) async -> RunStatus? {
        if let info = try? ledger.run(id: runID), info.status.isFinal { return info.status }
        nextWaiterID += 1
        let id = nextWaiterID
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<RunStatus?, Never>) in
                if Task.isCancelled { continuation.resume(returning: nil) } else {
                    waiters[runID, default: []].append((id, continuation))
                }
            }
        } onCancel: {
            Task { await self.dropWaiter(runID: runID, id: id) }
        }
    }

    private func dropWaiter(runID: Int64, id: Int) {
        guard let index = waiters[runID]?.firstIndex(where: { $0.id == id }) else { return }
        waiters[runID]?.remove(at: index).continuation.resume(returning: nil)
    }

    public func setPaused(_ paused: Bool, job name: String) throws(RequestError) {
        guard catalog[name] != nil else { throw .unknownJob(name) }
        states[name, default: ScheduleState(job: name)].paused = paused
        do {
            try ledger.setPaused(paused, job: name)
        } catch {
            logger.error("cannot save \(name)'s pause flag (this node obeys it until it restarts): \(error)", metadata: ["job": "\(name)"])
        }
        logger.notice("\(paused ? "paused" : "resumed") \(name)", metadata: ["job": "\(name)"])
    }

    /// The job of this name in the catalog the scheduler holds now (nil: none).
    public func definition(named name: String) -> JobDefinition? { catalog[name] }

    public func jobs() -> [JobStatus] {
        catalog.jobs.map { job in
            let state = states[job.name]
            return JobStatus(name: job.name, kind: job.kind.rawValue, enabled: job.enabled, paused: state?.paused ?? false,
                             next: nextDue[job.name], last: state?.lastScheduledAt, lastRunID: state?.lastRunID,
                             running: running[job.name]?.runID, queued: !(queued[job.name]?.isEmpty ?? true))
        }
    }

    /// "6 jobs, 2 running, next: nightly-repricing in 3h12m"
    public func statusLine() -> String {
        let now = clock.now().secondsSinceEpoch
        var line = "\(catalog.jobs.count) job\(catalog.jobs.count == 1 ? "" : "s"), \(running.count) running"
        if let (name, due) = nextDue.min(by: { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) }) {
            line += ", next: \(name) in \(TimeSpan.seconds(max(0, due - now)).roundedForHumans)"
        }
        return line
    }

    func publishStatus() {
        onStatus(statusLine())
    }
}
