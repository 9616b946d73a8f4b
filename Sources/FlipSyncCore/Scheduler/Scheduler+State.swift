import Logging

extension Scheduler {
    // MARK: - State

    func loadState() {
        let now = clock.now().secondsSinceEpoch
        do {
            states = try ledger.scheduleStates()
        } catch {
            logger.error("cannot read schedule state, starting from now: \(error)")
        }
        for job in catalog.jobs { prepare(job, now: now, scheduleChanged: false) }
    }

    /// Sets a job's next due time: after the last handled fire (so missed fires are caught up),
    /// or after now for a new job or a changed schedule.
    private func prepare(_ job: JobDefinition, now: Int64, scheduleChanged: Bool) {
        var state = states[job.name] ?? ScheduleState(job: job.name)
        if state.lastScheduledAt == nil || scheduleChanged { state.lastScheduledAt = now }
        let next = job.enabled ? job.nextFire(after: Timestamp(secondsSinceEpoch: state.lastScheduledAt ?? now)) : nil
        nextDue[job.name] = next?.secondsSinceEpoch
        state.nextDueAt = next?.secondsSinceEpoch
        save(state)
    }

    func save(_ state: ScheduleState) {
        states[state.job] = state
        do { try ledger.saveScheduleState(state) } catch { logger.error("cannot save schedule state for \(state.job): \(error)") }
    }

    /// Swaps in a new, valid catalog. Changed schedules take effect from now; running runs go on.
    public func reload(_ newCatalog: JobCatalog) {
        let now = clock.now().secondsSinceEpoch
        let old = catalog
        catalog = newCatalog
        for job in newCatalog.jobs {
            let previous = old[job.name]
            let changed = previous.map {
                $0.scheduleText != job.scheduleText || $0.timezone.identifier != job.timezone.identifier
                    || $0.jitter != job.jitter || $0.enabled != job.enabled
            } ?? true
            if previous == nil || changed { prepare(job, now: now, scheduleChanged: previous != nil) }
        }
        for name in nextDue.keys where newCatalog[name] == nil { nextDue[name] = nil }
        logger.debug("scheduler now holds \(newCatalog.jobs.count) jobs")
        wake()
    }
}
